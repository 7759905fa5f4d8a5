"""Async Azure SDK clients for one storage account, with every request counted in one place."""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from azure.core.pipeline import PipelineRequest
from azure.data.tables.aio import TableServiceClient
from azure.storage.blob.aio import BlobServiceClient
from azure.storage.queue.aio import QueueServiceClient

DEVELOPMENT_STORAGE = (
    "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
    "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;"
    "BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;"
    "QueueEndpoint=http://127.0.0.1:10001/devstoreaccount1;"
    "TableEndpoint=http://127.0.0.1:10002/devstoreaccount1;"
)


def resolve_connection_string(connection_string: str) -> str:
    """Expand ``UseDevelopmentStorage=true`` to Azurite's well-known connection string."""
    if connection_string.strip().rstrip(";").lower() == "usedevelopmentstorage=true":
        return DEVELOPMENT_STORAGE
    return connection_string


def operation_name(service: str, method: str, url: str, headers: Any) -> str:
    """A stable name for one storage request, e.g. ``queue.send`` or ``table.batch``."""
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    comp = (query.get("comp") or [""])[0]
    path = parts.path.rstrip("/")
    if service == "queue":
        if path.endswith("/messages"):
            if method == "POST":
                return "queue.send"
            if method == "GET":
                return "queue.peek" if "peekonly" in query else "queue.receive"
            if method == "DELETE":
                return "queue.clear"
        if "/messages/" in path:
            return {"DELETE": "queue.delete", "PUT": "queue.update"}.get(method, f"queue.{method.lower()}")
        if comp == "metadata":
            return "queue.properties"
        if comp == "list":
            return "queue.list"
        return {"PUT": "queue.create", "DELETE": "queue.delete_queue"}.get(method, f"queue.{method.lower()}")
    if service == "table":
        if path.endswith("$batch"):
            return "table.batch"
        if path.endswith("/Tables") or "/Tables(" in path:
            return {"POST": "table.create_table", "DELETE": "table.delete_table"}.get(
                method, "table.list_tables"
            )
        if method == "GET":
            return "table.get" if "PartitionKey=" in path else "table.query"
        return {
            "POST": "table.insert",
            "PUT": "table.upsert",
            "PATCH": "table.merge",
            "MERGE": "table.merge",
            "DELETE": "table.delete",
        }.get(method, f"table.{method.lower()}")
    if comp == "lease":
        action = (headers.get("x-ms-lease-action") or "").lower()
        return f"blob.lease_{action or 'unknown'}"
    if comp == "list":
        return "blob.list"
    if query.get("restype") == ["container"]:
        return {"PUT": "blob.create_container", "DELETE": "blob.delete_container"}.get(
            method, "blob.container_properties"
        )
    return {
        "PUT": "blob.upload",
        "GET": "blob.download",
        "DELETE": "blob.delete",
        "HEAD": "blob.properties",
    }.get(method, f"blob.{method.lower()}")


@dataclass
class RequestCounter:
    """Counts storage requests by operation. Shared by every client of a :class:`StorageClients`."""

    counts: collections.Counter[str] = field(default_factory=collections.Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, operation: str) -> None:
        with self._lock:
            self.counts[operation] += 1

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self.counts)

    @property
    def total(self) -> int:
        with self._lock:
            return sum(self.counts.values())

    def reset(self) -> None:
        with self._lock:
            self.counts.clear()

    def hook(self, service: str) -> Callable[[PipelineRequest[Any]], None]:
        """An azure-core ``raw_request_hook`` that records each request (retries included)."""

        def on_request(request: PipelineRequest[Any]) -> None:
            http = request.http_request
            self.record(operation_name(service, http.method, http.url, http.headers))

        return on_request


# Azurite 3.35 accepts this version; newer SDK defaults are rejected without --skipApiVersionCheck.
QUEUE_BLOB_API_VERSION = "2025-11-05"


class StorageClients:
    """The three async service clients of one account, sharing one :class:`RequestCounter`."""

    def __init__(self, connection_string: str, counter: RequestCounter | None = None) -> None:
        self.connection_string = resolve_connection_string(connection_string)
        self.counter = counter or RequestCounter()
        self.tables = TableServiceClient.from_connection_string(
            self.connection_string, raw_request_hook=self.counter.hook("table")
        )
        self.queues = QueueServiceClient.from_connection_string(
            self.connection_string,
            api_version=QUEUE_BLOB_API_VERSION,
            raw_request_hook=self.counter.hook("queue"),
        )
        self.blobs = BlobServiceClient.from_connection_string(
            self.connection_string,
            api_version=QUEUE_BLOB_API_VERSION,
            raw_request_hook=self.counter.hook("blob"),
        )

    async def close(self) -> None:
        await self.tables.close()
        await self.queues.close()
        await self.blobs.close()

    async def __aenter__(self) -> StorageClients:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
