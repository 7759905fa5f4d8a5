"""Async Azure SDK clients for one storage account, with every request counted in one place.

:class:`StorageClients` builds the three service clients of an account once, on **one aiohttp
session** (one connection pool, per-host limits as before) and without aiohttp's per-request
``trust_env`` look-ups (two thread-pool hand-offs per request) unless proxies are configured. The
queue and table clients it hands out have the fast paths of :mod:`durable_azure.storage.fast_paths`
for the engine's hot operations (the SDK's own classes, request formats, retry and signing
policies, on a short azure-core pipeline).
"""

from __future__ import annotations

import collections
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import parse_qs

from azure.core.pipeline import PipelineRequest
from azure.storage.blob.aio import BlobServiceClient

from durable_azure.storage.fast_paths import (
    STORAGE_CONNECTION_CONFIG,
    FastQueueServiceClient,
    FastTableServiceClient,
    ServiceTransport,
    SharedSession,
    fast_paths_unavailable,
    install,
    proxies_configured,
    warned_once,
)

log = logging.getLogger(__name__)

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


_QUEUE_BY_METHOD = {"DELETE": "queue.delete", "PUT": "queue.update"}
_QUEUE_SERVICE_BY_METHOD = {"PUT": "queue.create", "DELETE": "queue.delete_queue"}
_TABLE_BY_METHOD = {
    "POST": "table.insert",
    "PUT": "table.upsert",
    "PATCH": "table.merge",
    "MERGE": "table.merge",
    "DELETE": "table.delete",
}
_TABLES_BY_METHOD = {"POST": "table.create_table", "DELETE": "table.delete_table"}
_CONTAINER_BY_METHOD = {"PUT": "blob.create_container", "DELETE": "blob.delete_container"}
_BLOB_BY_METHOD = {
    "PUT": "blob.upload",
    "GET": "blob.download",
    "DELETE": "blob.delete",
    "HEAD": "blob.properties",
}


def operation_name(service: str, method: str, url: str, headers: Any) -> str:
    """A stable name for one storage request, e.g. ``queue.send`` or ``table.batch``."""
    path, _, query_string = url.partition("#")[0].partition("?")
    scheme_end = path.find("://")
    if scheme_end >= 0:  # drop scheme://host[:port]
        slash = path.find("/", scheme_end + 3)
        path = path[slash:] if slash >= 0 else ""
    path = path.rstrip("/")
    query = parse_qs(query_string) if query_string else {}
    comp = (query.get("comp") or [""])[0]
    if service == "queue":
        if path.endswith("/messages"):
            if method == "POST":
                return "queue.send"
            if method == "GET":
                return "queue.peek" if "peekonly" in query else "queue.receive"
            if method == "DELETE":
                return "queue.clear"
        if "/messages/" in path:
            return _QUEUE_BY_METHOD.get(method, f"queue.{method.lower()}")
        if comp == "metadata":
            return "queue.properties"
        if comp == "list":
            return "queue.list"
        return _QUEUE_SERVICE_BY_METHOD.get(method, f"queue.{method.lower()}")
    if service == "table":
        if path.endswith("$batch"):
            return "table.batch"
        if path.endswith("/Tables") or "/Tables(" in path:
            return _TABLES_BY_METHOD.get(method, "table.list_tables")
        if method == "GET":
            return "table.get" if "PartitionKey=" in path else "table.query"
        return _TABLE_BY_METHOD.get(method, f"table.{method.lower()}")
    if comp == "lease":
        action = (headers.get("x-ms-lease-action") or "").lower()
        return f"blob.lease_{action or 'unknown'}"
    if comp == "list":
        return "blob.list"
    if query.get("restype") == ["container"]:
        return _CONTAINER_BY_METHOD.get(method, "blob.container_properties")
    return _BLOB_BY_METHOD.get(method, f"blob.{method.lower()}")


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

# How the SDKs retry a failed request inside one call. Their defaults back off for a long time (the
# queue and blob SDKs: 18 s, then 24 s, then 42 s; tables: doubling up to 120 s), and an episode caught
# in such a sleep holds its partition's next batch long after storage is back (tests/integration/
# test_storage_outage.py: new work within 5 s). Here every retry waits 1-2 s (queue and blob: the
# SDK's ExponentialRetry with ``increment_base`` 1, i.e. a constant 0.5 + 1 s ± 0.5 s; tables:
# azure-core's back-off capped at 2 s), for about 15 s in all; past that the call fails and the
# engine's own handling takes over (the message comes back, or the episode is retried later).
QUEUE_BLOB_RETRY: dict[str, Any] = {
    "retry_total": 10,
    "initial_backoff": 0.5,
    "increment_base": 1,
    "random_jitter_range": 0.5,
}
TABLE_RETRY: dict[str, Any] = {"retry_total": 10, "retry_backoff_max": 2}

# ------------------------------------------------------------------------------ the clients


class StorageClients:
    """The three async service clients of one account, sharing one :class:`RequestCounter` and one
    aiohttp session; queue and table clients got from them have the fast paths (module docstring).

    ``fast_paths=False`` (or ``DURABLE_AZURE_SDK_FAST_PATHS=0``) sends every request the SDK's way.
    """

    def __init__(
        self, connection_string: str, counter: RequestCounter | None = None, *, fast_paths: bool = True
    ) -> None:
        self.connection_string = resolve_connection_string(connection_string)
        self.counter = counter or RequestCounter()
        proxies = proxies_configured()
        self._session = SharedSession(trust_env=proxies)
        common: dict[str, Any] = {"use_env_settings": proxies}
        table_transport = ServiceTransport(self._session)
        queue_transport = ServiceTransport(self._session, **STORAGE_CONNECTION_CONFIG)
        blob_transport = ServiceTransport(self._session, **STORAGE_CONNECTION_CONFIG)
        self.tables = cast(
            FastTableServiceClient,
            FastTableServiceClient.from_connection_string(
                self.connection_string,
                raw_request_hook=self.counter.hook("table"),
                transport=table_transport,
                **TABLE_RETRY,
                **common,
            ),
        )
        self.queues: FastQueueServiceClient = FastQueueServiceClient.from_connection_string(
            self.connection_string,
            api_version=QUEUE_BLOB_API_VERSION,
            raw_request_hook=self.counter.hook("queue"),
            transport=queue_transport,
            **QUEUE_BLOB_RETRY,
            **common,
        )
        self.blobs = BlobServiceClient.from_connection_string(
            self.connection_string,
            api_version=QUEUE_BLOB_API_VERSION,
            raw_request_hook=self.counter.hook("blob"),
            transport=blob_transport,
            **QUEUE_BLOB_RETRY,
            **common,
        )
        why_not = "fast_paths=False" if not fast_paths else fast_paths_unavailable()
        if why_not is None and proxies:
            why_not = "proxies are configured"
        #: Why the fast paths are off (``None``: they are on).
        self.fast_paths_off_reason = why_not
        if why_not is None:
            install(
                self.queues,
                self.tables,
                queue_transport,
                table_transport,
                self.counter.hook,
                queue_retry=QUEUE_BLOB_RETRY,
                table_retry=TABLE_RETRY,
            )
        elif fast_paths and not warned_once(why_not):
            log.warning("storage fast paths are off (%s); every request takes the SDK's path", why_not)

    @property
    def fast_paths(self) -> bool:
        return self.fast_paths_off_reason is None

    async def close(self) -> None:
        try:
            await self.tables.close()
            await self.queues.close()
            await self.blobs.close()
        finally:
            await self._session.close()

    async def __aenter__(self) -> StorageClients:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
