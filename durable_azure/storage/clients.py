"""Async Azure SDK clients for one storage account, with every request counted in one place.

:class:`StorageClients` builds the three service clients of an account once, on **one aiohttp
session** (one connection pool, per-host limits as before) and without aiohttp's per-request
``trust_env`` look-ups (two thread-pool hand-offs per request) unless proxies are configured.

The hot operations of the engine, ``QueueClient.send_message`` / ``receive_messages`` /
``delete_message`` and ``TableClient.get_entity`` / ``upsert_entity`` / ``submit_transaction``,
have **fast paths**: the queue and table clients handed out by ``get_queue_client`` /
``get_table_client`` are the SDK's own classes with these methods overridden to send the same
request (same URL, query, headers and body as the SDK; checked on the wire by
``bench/verify_fast_paths.py``) through a short azure-core pipeline — the SDK's own retry policy
and SharedKey/SAS signing policy, plus one policy that stamps the date, request id and user agent
and counts the request — instead of the SDK's ~15-policy pipeline, two ``distributed_trace``
wrappers, the generated model layer and, for transactions, azure-core's ``email``-based multipart
codec. Results and exceptions are the SDK's types, built with the SDK's own helpers
(``QueueMessage``, ``TableEntity`` via ``_convert_to_entity``, ``process_storage_error``,
``_decode_error`` …). A call takes the SDK's own path whenever the fast path would not behave
identically: tracing enabled, azure-core HTTP logging at INFO, any keyword beyond
``retry_total`` / ``connection_timeout`` / ``read_timeout`` (and each method's own keywords),
message encryption or a custom message policy, proxies, a Cosmos endpoint, transactions over 100
operations. The fast paths rely on SDK internals, so they are on only for the SDK versions they
were verified against (:data:`VERIFIED_SDK_VERSIONS`); with any other version, or with
``DURABLE_AZURE_SDK_FAST_PATHS=0`` (read once per process), every call takes the SDK's path
(correct, at 2-10× the client CPU; bench/README.md has the numbers).
"""

from __future__ import annotations

import collections
import email.utils
import functools
import inspect
import json
import logging
import math
import os
import threading
import time
import urllib.request
import uuid
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import parse_qs, quote
from wsgiref.handlers import format_date_time
from xml.sax.saxutils import escape as xml_escape

import aiohttp
from azure.core import MatchConditions
from azure.core.async_paging import AsyncItemPaged
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
    ResourceNotModifiedError,
    map_error,
)
from azure.core.pipeline import AsyncPipeline, PipelineRequest
from azure.core.pipeline.policies import AsyncHTTPPolicy, SansIOHTTPPolicy
from azure.core.pipeline.transport import HttpRequest as LegacyHttpRequest
from azure.core.pipeline.transport._aiohttp import AioHttpTransport
from azure.core.settings import settings as azure_settings
from azure.data.tables import TableEntity, UpdateMode
from azure.data.tables.aio import TableClient, TableServiceClient
from azure.storage.blob.aio import BlobServiceClient
from azure.storage.queue import QueueMessage
from azure.storage.queue.aio import QueueClient, QueueServiceClient

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

# The fast paths below use SDK internals (request formats, response models, error helpers); they are
# enabled only for the versions they were checked against with bench/verify_fast_paths.py. To move
# to a new SDK version: install it, run that script against Azurite, then update this table.
VERIFIED_SDK_VERSIONS: dict[str, str] = {
    "azure-core": "1.41.0",
    "azure-storage-queue": "12.18.1",
    "azure-data-tables": "12.7.0",
}
FAST_PATHS_ENV = "DURABLE_AZURE_SDK_FAST_PATHS"

# The storage SDKs' own transport defaults (azure.storage.*._shared.constants); azure-data-tables
# uses azure-core's defaults. Kept per service on the shared session.
_STORAGE_CONNECTION_CONFIG: dict[str, Any] = {
    "connection_timeout": 20,
    "read_timeout": 60,
    "connection_data_block_size": 256 * 1024,
}
# Each SDK client used to own an aiohttp session with aiohttp's default limit of 100 connections;
# one session for the three services keeps 100 per service endpoint.
_CONNECTIONS_PER_HOST = 100
_CONNECTIONS_TOTAL = 3 * _CONNECTIONS_PER_HOST


# ------------------------------------------------------------------------------ transport


class _SharedSession:
    """One aiohttp session (cookie-less, no auto-decompression: as azure-core's own) for every client
    of a :class:`StorageClients`, created on first use inside the running event loop."""

    def __init__(self, trust_env: bool) -> None:
        self.trust_env = trust_env
        self.closed = False
        self._session: aiohttp.ClientSession | None = None

    def get(self) -> aiohttp.ClientSession:
        if self._session is None:
            if self.closed:
                raise ValueError(
                    "HTTP transport has already been closed. "
                    "You may check if you're calling a function outside of the `async with` of your client "
                    "creation, or if you called `await close()` on your client already."
                )
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(
                    limit=_CONNECTIONS_TOTAL, limit_per_host=_CONNECTIONS_PER_HOST
                ),
                cookie_jar=aiohttp.DummyCookieJar(),
                auto_decompress=False,
                trust_env=self.trust_env,
            )
        return self._session

    async def close(self) -> None:
        self.closed = True
        session, self._session = self._session, None
        if session is not None:
            await session.close()


class _ServiceTransport(AioHttpTransport):
    """azure-core's aiohttp transport for one service (its own timeouts and block size) on the shared
    session. Closing an SDK client leaves the session open; :meth:`StorageClients.close` closes it."""

    def __init__(self, shared: _SharedSession, **connection_config: Any) -> None:
        super().__init__(**connection_config)
        self._shared = shared

    async def open(self) -> None:
        if self.session is None or self._shared.closed:
            self.session = self._shared.get()

    async def close(self) -> None:
        return None


# ------------------------------------------------------------------------------ fast-path plumbing


def _proxies_configured() -> bool:
    return bool({k: v for k, v in urllib.request.getproxies().items() if k != "no"})


def _installed_versions() -> dict[str, str | None]:
    from importlib.metadata import PackageNotFoundError, version

    found: dict[str, str | None] = {}
    for name in VERIFIED_SDK_VERSIONS:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return found


@functools.lru_cache(maxsize=1)
def _fast_paths_unavailable() -> str | None:
    """Why the fast paths cannot be used in this process (``None`` when they can)."""
    if os.environ.get(FAST_PATHS_ENV, "1").strip().lower() in ("0", "false", "no", "off"):
        return f"{FAST_PATHS_ENV} is off"
    mismatched = {k: v for k, v in _installed_versions().items() if v != VERIFIED_SDK_VERSIONS[k]}
    if mismatched:
        return f"installed {mismatched} differ from the verified {VERIFIED_SDK_VERSIONS}"
    try:
        _sdk()
    except Exception as error:  # an SDK internal moved: fall back to the public SDK path
        return f"SDK internals not found: {type(error).__name__}: {error}"
    return None


@functools.lru_cache(maxsize=1)
def _sdk() -> Any:
    """The SDK internals the fast paths reuse (imported once; see VERIFIED_SDK_VERSIONS)."""
    import types

    from azure.core.pipeline.transport._base import _deserialize_response
    from azure.core.serialization import AzureJSONEncoder
    from azure.data.tables._deserialize import _convert_to_entity, _normalize_headers, _trim_service_metadata
    from azure.data.tables._error import (
        RequestTooLargeError,
        TableTransactionError,
        _decode_error,
        _process_table_error,
        _validate_key_values,
        _validate_tablename_error,
    )
    from azure.data.tables._generated import models as table_models
    from azure.data.tables._generated._serialization import Deserializer as TableDeserializer
    from azure.data.tables._generated._vendor import prep_if_match
    from azure.data.tables._serialize import (
        _add_entity_properties,
        _get_match_condition,
        _parameter_filter_substitution,
        _prepare_key,
    )
    from azure.data.tables._table_batch import TableBatchOperations
    from azure.data.tables.aio._authentication_async import _configure_credential as table_credential
    from azure.data.tables.aio._models import TableEntityPropertiesPaged
    from azure.data.tables.aio._policies_async import AsyncTablesRetryPolicy
    from azure.storage.queue._generated import models as queue_models
    from azure.storage.queue._generated._utils.model_base import _failsafe_deserialize_xml
    from azure.storage.queue._message_encoding import NoDecodePolicy, NoEncodePolicy
    from azure.storage.queue._shared.policies_async import ExponentialRetry as QueueRetry
    from azure.storage.queue._shared.response_handlers import process_storage_error
    from azure.storage.queue.aio._models import MessagesPaged

    return types.SimpleNamespace(
        deserialize_response=_deserialize_response,
        json_encoder=AzureJSONEncoder,
        convert_to_entity=_convert_to_entity,
        normalize_headers=_normalize_headers,
        trim_service_metadata=_trim_service_metadata,
        RequestTooLargeError=RequestTooLargeError,
        TableTransactionError=TableTransactionError,
        decode_error=_decode_error,
        process_table_error=_process_table_error,
        validate_tablename_error=_validate_tablename_error,
        validate_key_values=_validate_key_values,
        TableServiceError=table_models.TableServiceError,
        table_deserializer=TableDeserializer(),
        deserialize_rfc=TableDeserializer.deserialize_rfc,
        add_entity_properties=_add_entity_properties,
        prepare_key=_prepare_key,
        parameter_filter_substitution=_parameter_filter_substitution,
        TableEntityPropertiesPaged=TableEntityPropertiesPaged,
        get_match_condition=_get_match_condition,
        prep_if_match=prep_if_match,
        TableBatchOperations=TableBatchOperations,
        table_credential=table_credential,
        TablesRetry=AsyncTablesRetryPolicy,
        QueueError=queue_models.Error,
        failsafe_deserialize_xml=_failsafe_deserialize_xml,
        NoDecodePolicy=NoDecodePolicy,
        NoEncodePolicy=NoEncodePolicy,
        QueueRetry=QueueRetry,
        process_storage_error=process_storage_error,
        MessagesPaged=MessagesPaged,
    )


_HTTP_LOGGER = logging.getLogger("azure.core.pipeline.policies.http_logging_policy")
# Per-call keywords the fast paths pass on exactly as the SDK does (to the retry policy / transport).
_FAST_KWARGS = frozenset({"retry_total", "connection_timeout", "read_timeout"})


def _sdk_path_needed(kwargs: Mapping[str, Any]) -> bool:
    """Whether this call must take the SDK's own path to behave exactly as the SDK: tracing or
    azure-core HTTP logging is on, or a keyword the fast path does not handle is given."""
    if kwargs and not _FAST_KWARGS.issuperset(kwargs):
        return True
    return bool(azure_settings.tracing_enabled()) or _HTTP_LOGGER.isEnabledFor(logging.INFO)


class _FrontPolicy(AsyncHTTPPolicy[Any, Any]):
    """What the SDK pipelines do per attempt after their retry policy, in one step: the date, a client
    request id and the SDK's user agent; the request counter's hook where the SDK runs
    ``raw_request_hook`` (before signing for queues, after it for tables); the SDK's own credential
    policy's ``on_request`` (SharedKey or SAS signing)."""

    def __init__(
        self,
        user_agent: str,
        *,
        plain_date: bool,
        sign: Callable[[PipelineRequest[Any]], None] | None,
        hook: Callable[[PipelineRequest[Any]], None],
        hook_after_signing: bool,
    ) -> None:
        super().__init__()
        self._user_agent = user_agent
        self._plain_date = plain_date  # azure-data-tables also sends ``Date``
        self._sign = sign
        self._hook = hook
        self._hook_after_signing = hook_after_signing
        self._second = -1
        self._date = ""

    async def send(self, request: PipelineRequest[Any]) -> Any:
        now = int(time.time())
        if now != self._second:
            self._date, self._second = format_date_time(now), now
        headers = request.http_request.headers
        headers["x-ms-date"] = self._date
        if self._plain_date:
            headers["Date"] = self._date
        headers["x-ms-client-request-id"] = str(uuid.uuid4())  # the SDK's uuid1 costs 4x as much
        headers["User-Agent"] = self._user_agent
        if not self._hook_after_signing:
            self._hook(request)
        if self._sign is not None:
            self._sign(request)
        if self._hook_after_signing:
            self._hook(request)
        return await self.next.send(request)


def _plain_credential_policy(policy: Any) -> bool:
    """Whether ``policy`` only signs in a synchronous ``on_request`` (SharedKey, SAS), so the front
    policy may call it directly; anything else stays a pipeline policy of its own."""
    cls = type(policy)
    return (
        isinstance(policy, SansIOHTTPPolicy)
        and cls.on_response is SansIOHTTPPolicy.on_response
        and cls.on_exception is SansIOHTTPPolicy.on_exception
        and not inspect.iscoroutinefunction(policy.on_request)
    )


def _fast_pipeline(
    transport: AioHttpTransport,
    retry: Any,
    credential: Any,
    user_agent: str,
    *,
    plain_date: bool,
    hook: Callable[[PipelineRequest[Any]], None],
    hook_after_signing: bool,
) -> _Fast | None:
    """The fast pipeline of one service, or ``None`` when its credential is not a plain signing
    policy (a token credential: clients.py builds none today), which keeps the SDK's path."""
    if credential is not None and not _plain_credential_policy(credential):
        return None
    front = _FrontPolicy(
        user_agent,
        plain_date=plain_date,
        sign=None if credential is None else credential.on_request,
        hook=hook,
        hook_after_signing=hook_after_signing,
    )
    return _Fast(AsyncPipeline(transport, policies=[retry, front]))


@dataclass
class _Fast:
    """The short pipeline of one service: the SDK's retry policy → :class:`_FrontPolicy` → the shared
    transport."""

    pipeline: AsyncPipeline[Any, Any]


def _user_agent(client: Any) -> str:
    """The ``User-Agent`` the SDK client's own ``UserAgentPolicy`` sends."""
    from azure.core.pipeline.policies import UserAgentPolicy

    for policy in getattr(client, "_policies", None) or ():  # azure-data-tables
        if isinstance(policy, UserAgentPolicy):
            return policy.user_agent
    agent = getattr(getattr(getattr(client, "_config", None), "user_agent_policy", None), "user_agent", None)
    return str(agent) if agent else "azsdk-python"


@functools.lru_cache(maxsize=512)
def _rfc7231(text: str) -> Any:
    """The queue models' RFC 7231 datetime (``email.utils.parsedate_to_datetime``); cached: the same
    seconds recur across messages."""
    return email.utils.parsedate_to_datetime(text)


@functools.lru_cache(maxsize=512)
def _rfc1123(text: str) -> Any:
    """The tables deserializer's ``rfc-1123`` datetime; cached."""
    return _sdk().deserialize_rfc(text)


def _join(base_url: str, path: str, params: list[tuple[str, str]]) -> str:
    """azure-core's ``format_url``/``_urljoin`` for an SDK base URL that may carry a SAS query: the
    path appended to the base path, then the base query, then the request's parameters."""
    base, _, sas = base_url.partition("?")
    url = base.rstrip("/") + path
    query = "&".join(f"{k}={quote(v, safe='')}" for k, v in params)
    if sas and query:
        return f"{url}?{sas}&{query}"
    if sas or query:
        return f"{url}?{sas or query}"
    return url


def _rfc7231_or_none(text: str | None) -> Any:
    return _rfc7231(text) if text else None


def _text(element: ET.Element, tag: str) -> str | None:
    found = element.find(tag)
    return None if found is None else found.text or ""


def _datetime(element: ET.Element, tag: str) -> Any:
    found = element.find(tag)
    return _rfc7231(found.text) if found is not None and found.text else None


# ------------------------------------------------------------------------------ queues


class _ReceivedItem:
    """What ``QueueMessage._from_generated`` reads from a generated ``ReceivedMessage``."""

    __slots__ = (
        "dequeue_count",
        "expiration_time",
        "insertion_time",
        "message_id",
        "message_text",
        "pop_receipt",
        "time_next_visible",
    )

    def __init__(self, element: ET.Element) -> None:
        fields: dict[str, str] = {}
        for child in element:  # the first of each tag, as ``find`` (the generated models) would take
            fields.setdefault(child.tag, child.text or "")
        self.message_id = fields.get("MessageId")
        self.insertion_time = _rfc7231_or_none(fields.get("InsertionTime"))
        self.expiration_time = _rfc7231_or_none(fields.get("ExpirationTime"))
        self.pop_receipt = fields.get("PopReceipt")
        self.time_next_visible = _rfc7231_or_none(fields.get("TimeNextVisible"))
        count = fields.get("DequeueCount")
        self.dequeue_count = int(count) if count else None
        self.message_text = fields.get("MessageText")


class _ReceivedItems:
    __slots__ = ("items_property",)

    def __init__(self, items: list[_ReceivedItem]) -> None:
        self.items_property = items


# The error map of every generated queue and table operation the fast paths replace.
_ERROR_MAP: dict[int, type[HttpResponseError]] = {
    401: ClientAuthenticationError,
    404: ResourceNotFoundError,
    409: ResourceExistsError,
    304: ResourceNotModifiedError,
}


def _generated_queue_error(response: Any) -> HttpResponseError:
    """What a generated queue operation raises for an unexpected status."""
    try:
        map_error(status_code=response.status_code, response=response, error_map=_ERROR_MAP)
    except HttpResponseError as error:
        return error
    sdk = _sdk()
    return HttpResponseError(response=response, model=sdk.failsafe_deserialize_xml(sdk.QueueError, response))


def _raise_queue_error(response: Any) -> None:
    """Exactly what a queue client method raises: the generated error, through ``process_storage_error``."""
    _sdk().process_storage_error(_generated_queue_error(response))


class _FastQueueClient(QueueClient):
    """``QueueClient`` with fast ``send_message``, ``receive_messages`` and ``delete_message``."""

    _fast: _Fast | None = None  # set per instance by _FastQueueServiceClient

    def _fast_for(self, kwargs: Mapping[str, Any]) -> _Fast | None:
        fast = self._fast
        if fast is None or _sdk_path_needed(kwargs):
            return None
        if (
            self.key_encryption_key is not None
            or self.key_resolver_function is not None
            or self.require_encryption
        ):
            return None
        return fast

    async def _run(self, fast: _Fast, request: LegacyHttpRequest, kwargs: dict[str, Any]) -> Any:
        return (await fast.pipeline.run(request, **kwargs)).http_response

    async def send_message(
        self,
        content: object | None,
        *,
        visibility_timeout: int | None = None,
        time_to_live: int | None = None,
        timeout: int | None = None,
        **kwargs: Any,
    ) -> QueueMessage:
        fast = self._fast_for(kwargs)
        if (
            fast is None
            or not isinstance(content, str)
            or not content
            or type(self._message_encode_policy) is not _sdk().NoEncodePolicy
            or any(v is not None and type(v) is not int for v in (visibility_timeout, time_to_live, timeout))
        ):
            return await super().send_message(
                content,
                visibility_timeout=visibility_timeout,
                time_to_live=time_to_live,
                timeout=timeout,
                **kwargs,
            )
        params = []
        if visibility_timeout is not None:
            params.append(("visibilitytimeout", str(visibility_timeout)))
        if time_to_live is not None:
            params.append(("messagettl", str(time_to_live)))
        if timeout is not None:
            params.append(("timeout", str(timeout)))
        request = LegacyHttpRequest(
            "POST",
            _join(self.url, "/messages", params),
            headers={
                "Content-Type": "application/xml",
                "x-ms-version": self.api_version,
                "Accept": "application/xml",
            },
        )
        request.set_bytes_body(
            b"<?xml version='1.0' encoding='utf-8'?>\n<QueueMessage><MessageText>"
            + xml_escape(content).encode("utf-8")
            + b"</MessageText></QueueMessage>"
        )
        response = await self._run(fast, request, kwargs)
        if response.status_code != 201:
            _raise_queue_error(response)
        sent = ET.fromstring(response.body()).find("QueueMessage")
        if sent is None:  # not the documented answer: let the SDK's parser say what is wrong
            raise HttpResponseError(message="Unexpected send_message response", response=response)
        return QueueMessage(
            content=content,
            id=_text(sent, "MessageId"),
            inserted_on=_datetime(sent, "InsertionTime"),
            expires_on=_datetime(sent, "ExpirationTime"),
            pop_receipt=_text(sent, "PopReceipt"),
            next_visible_on=_datetime(sent, "TimeNextVisible"),
        )

    def receive_messages(
        self,
        *,
        messages_per_page: int | None = None,
        visibility_timeout: int | None = None,
        max_messages: int | None = None,
        timeout: int | None = None,
        **kwargs: Any,
    ) -> AsyncItemPaged[QueueMessage]:
        fast = self._fast_for(kwargs)
        if (
            fast is None
            or type(self._message_decode_policy) is not _sdk().NoDecodePolicy
            or any(
                v is not None and type(v) is not int for v in (visibility_timeout, timeout, messages_per_page)
            )
        ):
            return super().receive_messages(
                messages_per_page=messages_per_page,
                visibility_timeout=visibility_timeout,
                max_messages=max_messages,
                timeout=timeout,
                **kwargs,
            )
        if max_messages is not None and messages_per_page is not None and max_messages < messages_per_page:
            raise ValueError("max_messages must be greater or equal to messages_per_page")
        command = functools.partial(self._receive_page, fast, visibility_timeout, timeout, kwargs)
        return AsyncItemPaged(
            command,
            results_per_page=messages_per_page,
            page_iterator_class=_sdk().MessagesPaged,
            max_messages=max_messages,
        )

    async def _receive_page(
        self,
        fast: _Fast,
        visibility_timeout: int | None,
        timeout: int | None,
        kwargs: dict[str, Any],
        number_of_messages: int | None = None,
    ) -> _ReceivedItems:
        """The generated ``receive_messages`` operation as ``MessagesPaged`` calls it."""
        params = []
        if number_of_messages is not None:
            params.append(("numofmessages", str(int(number_of_messages))))
        if visibility_timeout is not None:
            params.append(("visibilitytimeout", str(visibility_timeout)))
        if timeout is not None:
            params.append(("timeout", str(timeout)))
        request = LegacyHttpRequest(
            "GET",
            _join(self.url, "/messages", params),
            headers={"x-ms-version": self.api_version, "Accept": "application/xml"},
        )
        response = await self._run(fast, request, dict(kwargs))
        if response.status_code != 200:  # MessagesPaged passes it through process_storage_error
            raise _generated_queue_error(response)
        root = ET.fromstring(response.body())
        return _ReceivedItems([_ReceivedItem(e) for e in root.iterfind("QueueMessage")])

    async def delete_message(
        self,
        message: str | QueueMessage,
        pop_receipt: str | None = None,
        *,
        timeout: int | None = None,
        **kwargs: Any,
    ) -> None:
        fast = self._fast_for(kwargs)
        if fast is None or (timeout is not None and type(timeout) is not int):
            return await super().delete_message(message, pop_receipt, timeout=timeout, **kwargs)
        if isinstance(message, QueueMessage):
            message_id = message.id
            receipt = pop_receipt or message.pop_receipt
        else:
            message_id = message
            receipt = pop_receipt
        if receipt is None:
            raise ValueError("pop_receipt must be present")
        if not isinstance(message_id, str) or not isinstance(receipt, str):
            return await super().delete_message(message, pop_receipt, timeout=timeout, **kwargs)
        params = [("popreceipt", receipt)]
        if timeout is not None:
            params.append(("timeout", str(timeout)))
        request = LegacyHttpRequest(
            "DELETE",
            _join(self.url, "/messages/" + quote(message_id, safe=""), params),
            headers={"x-ms-version": self.api_version},
        )
        response = await self._run(fast, request, kwargs)
        if response.status_code != 204:
            _raise_queue_error(response)
        return None


class _FastQueueServiceClient(QueueServiceClient):
    """``QueueServiceClient`` whose queue clients have the fast paths."""

    _fast: _Fast | None = None

    def get_queue_client(self, queue: Any, **kwargs: Any) -> QueueClient:
        client = super().get_queue_client(queue, **kwargs)
        if self._fast is not None and type(client) is QueueClient:
            client.__class__ = _FastQueueClient
            cast(_FastQueueClient, client)._fast = self._fast
        return client


# ------------------------------------------------------------------------------ tables


def _generated_table_error(response: Any, pipeline_response: Any) -> HttpResponseError:
    """What a generated table operation raises for an unexpected status."""
    try:
        map_error(status_code=response.status_code, response=response, error_map=_ERROR_MAP)
    except HttpResponseError as error:
        return error
    sdk = _sdk()
    model = sdk.table_deserializer.failsafe_deserialize(sdk.TableServiceError, pipeline_response)
    return HttpResponseError(response=response, model=model)


def _raise_table_error(response: Any, pipeline_response: Any, table_name: str) -> None:
    """Exactly what a table client method raises: the generated error through ``_process_table_error``."""
    _sdk().process_table_error(_generated_table_error(response, pipeline_response), table_name=table_name)


_CRLF = "\r\n"
_UNCONDITIONALLY = MatchConditions.Unconditionally


_Part = tuple[str, str, list[tuple[str, str]], str]  # method, URL, headers, body


def _serialize_part(part: _Part, date: str) -> str:
    """One batch operation as azure-core serializes it (``METHOD url HTTP/1.1``, the request's headers,
    the date headers of the SDK's batch ``StorageHeadersPolicy``, a blank line, the JSON body)."""
    method, url, headers, body = part
    lines = [f"{method} {url} HTTP/1.1"]
    lines.extend(f"{k}: {v}" for k, v in headers)
    lines.append(f"x-ms-date: {date}")
    lines.append(f"Date: {date}")
    return _CRLF.join(lines) + _CRLF + _CRLF + body


def _sdk_part(request: Any) -> _Part:
    """A part built by the SDK's ``TableBatchOperations`` (an ``azure.core.rest.HttpRequest``)."""
    headers = [(k, v) for k, v in request.headers.items() if k not in ("Host", "Accept-Encoding")]
    body = request.content
    if isinstance(body, bytes):
        body = body.decode("latin-1")
    return request.method, request.url, headers, body or ""


def _split_multipart(body: bytes, content_type: str) -> list[bytes] | None:
    """The parts of a ``multipart/mixed`` body; ``None`` when it is not one."""
    marker = "boundary="
    if not content_type.startswith("multipart/mixed") or marker not in content_type:
        return None
    boundary = content_type.split(marker, 1)[1].split(";", 1)[0].strip().strip('"').encode()
    delimiter = b"--" + boundary
    pieces = body.split(delimiter)
    if len(pieces) < 3:
        return None
    parts = []
    for piece in pieces[1:]:
        if piece.startswith(b"--"):
            break
        parts.append(piece.strip(b"\r\n"))
    return parts


def _part_headers_and_payload(part: bytes) -> tuple[dict[str, str], bytes]:
    head, _, payload = part.partition(b"\r\n\r\n")
    headers = {}
    for line in head.decode("latin-1").split("\r\n"):
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return headers, payload


def _parse_batch_response(body: bytes, content_type: str) -> list[tuple[int, bytes, str | None]] | None:
    """``(status, raw HTTP response, ETag)`` per operation of a transaction answer; ``None`` if the
    answer is not the expected ``batch > changeset > application/http`` nesting."""
    outer = _split_multipart(body, content_type)
    if not outer:
        return None
    answers: list[tuple[int, bytes, str | None]] = []
    for part in outer:
        headers, payload = _part_headers_and_payload(part)
        inner_type = headers.get("content-type", "")
        if inner_type.startswith("multipart/mixed"):
            inner = _split_multipart(payload, inner_type)
            if inner is None:
                return None
            for http_part in inner:
                part_headers, http = _part_headers_and_payload(http_part)
                if not part_headers.get("content-type", "").startswith("application/http"):
                    return None
                answers.append(_http_answer(http))
        elif inner_type.startswith("application/http"):
            answers.append(_http_answer(payload))
        else:
            return None
    return answers


def _http_answer(http: bytes) -> tuple[int, bytes, str | None]:
    """Status and ETag of one ``HTTP/1.1 <status> ...`` response inside a transaction answer."""
    head = http.partition(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")
    status_line = head[0].split(" ")
    status = int(status_line[1]) if len(status_line) > 1 and status_line[1].isdigit() else 0
    etag = None
    for line in head[1:]:
        name, sep, value = line.partition(":")
        if sep and name.strip().lower() == "etag":
            etag = value.strip()
            break
    return status, http, etag


_INT32 = range(-(2**31), 2**31)


def _entity_body(entity: Mapping[str, Any]) -> str:
    """The JSON body azure-data-tables sends for ``entity`` (``_add_entity_properties``, then
    azure-core's ``json.dumps``): written directly for the plain property types (str, bool, Int32,
    finite float, None), by the SDK's serializer for anything else."""
    properties: dict[str, Any] = {}
    for name, value in entity.items():
        kind = type(value)
        if kind is str:
            properties[name] = value
            properties[name + "@odata.type"] = "Edm.String"
        elif kind is bool or (kind is int and value in _INT32):
            properties[name] = value
        elif kind is float and math.isfinite(value):
            properties[name] = value
            properties[name + "@odata.type"] = "Edm.Double"
        elif value is not None:
            sdk = _sdk()
            return json.dumps(sdk.add_entity_properties(entity), cls=sdk.json_encoder)
    return json.dumps(properties)


def _valid_top(results_per_page: Any) -> bool:
    return results_per_page is None or (type(results_per_page) is int and results_per_page >= 0)


class _QueryPage:
    """What ``TableEntityPropertiesPaged`` reads from the generated ``TableEntityQueryResponse``."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


_BATCH_OPTIONS = {
    "upsert": frozenset({"mode"}),
    "update": frozenset({"mode", "etag", "match_condition"}),
    "delete": frozenset({"etag", "match_condition"}),
}


class _FastTableClient(TableClient):
    """``TableClient`` with fast ``get_entity``, ``upsert_entity`` and ``submit_transaction``."""

    _fast: _Fast | None = None  # set per instance by _FastTableServiceClient

    def _fast_for(self, kwargs: Mapping[str, Any]) -> _Fast | None:
        fast = self._fast
        if fast is None or self._cosmos_endpoint or _sdk_path_needed(kwargs):
            return None
        return fast

    def _entity_url(self, partition_key: str, row_key: str, params: list[tuple[str, str]]) -> str:
        sdk = _sdk()
        path = (
            f"/{quote(self.table_name, safe='')}(PartitionKey='{quote(sdk.prepare_key(partition_key), safe='')}',"
            f"RowKey='{quote(sdk.prepare_key(row_key), safe='')}')"
        )
        return _join(self.url, path, params)

    async def get_entity(
        self,
        partition_key: str,
        row_key: str,
        *,
        select: str | list[str] | None = None,
        **kwargs: Any,
    ) -> TableEntity:
        fast = self._fast_for(kwargs)
        if fast is None or not isinstance(partition_key, str) or not isinstance(row_key, str):
            return await super().get_entity(partition_key, row_key, select=select, **kwargs)
        user_select = None
        if select and not isinstance(select, str):
            user_select = ",".join(select)
        elif isinstance(select, str):
            user_select = select
        params = [("$select", user_select)] if user_select is not None else []
        request = LegacyHttpRequest(
            "GET",
            self._entity_url(partition_key, row_key, params),
            headers={
                "x-ms-version": self.api_version,
                "DataServiceVersion": "3.0",
                "Accept": "application/json;odata=minimalmetadata",
            },
        )
        pipeline_response = await fast.pipeline.run(request, **kwargs)
        response = pipeline_response.http_response
        if response.status_code != 200:
            _raise_table_error(response, pipeline_response, self.table_name)
        entity: TableEntity = _sdk().convert_to_entity(json.loads(response.body()))
        return entity

    def list_entities(
        self,
        *,
        results_per_page: int | None = None,
        select: str | list[str] | None = None,
        **kwargs: Any,
    ) -> AsyncItemPaged[TableEntity]:
        fast = self._fast_for(kwargs)
        if fast is None or not _valid_top(results_per_page):
            return super().list_entities(results_per_page=results_per_page, select=select, **kwargs)
        return self._entities_paged(fast, kwargs, None, select, results_per_page)

    def query_entities(
        self,
        query_filter: str,
        *,
        results_per_page: int | None = None,
        select: str | list[str] | None = None,
        parameters: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> AsyncItemPaged[TableEntity]:
        fast = self._fast_for(kwargs)
        if fast is None or not _valid_top(results_per_page):
            return super().query_entities(
                query_filter,
                results_per_page=results_per_page,
                select=select,
                parameters=parameters,
                **kwargs,
            )
        query_filter = _sdk().parameter_filter_substitution(parameters, query_filter)
        return self._entities_paged(fast, kwargs, query_filter, select, results_per_page)

    def _entities_paged(
        self,
        fast: _Fast,
        request_options: dict[str, Any],
        query_filter: str | None,
        select: Any,
        results_per_page: int | None,
    ) -> AsyncItemPaged[TableEntity]:
        """The SDK's ``TableEntityPropertiesPaged`` (paging, continuation, ``_convert_to_entity``) over
        the fast request for one page."""
        if select and not isinstance(select, str):
            select = ",".join(select)
        kwargs: dict[str, Any] = {
            "table": self.table_name,
            "results_per_page": results_per_page,
            "select": select,
            "page_iterator_class": _sdk().TableEntityPropertiesPaged,
        }
        if query_filter is not None:
            kwargs["filter"] = query_filter
        return AsyncItemPaged(functools.partial(self._query_page, fast, request_options), **kwargs)

    async def _query_page(
        self,
        fast: _Fast,
        kwargs: dict[str, Any],
        *,
        table: str,
        top: int | None = None,
        select: str | None = None,
        filter: str | None = None,  # the generated operation's keyword
        next_partition_key: str | None = None,
        next_row_key: str | None = None,
        cls: Any = None,
        use_location: str | None = None,
    ) -> tuple[str, Any, dict[str, Any]]:
        """The generated ``query_entities`` operation as ``TableEntityPropertiesPaged`` calls it: one
        page as ``(location mode, response with .value, response headers)``."""
        params = []
        if top is not None:
            params.append(("$top", str(top)))
        if select is not None:
            params.append(("$select", select))
        if filter is not None:
            params.append(("$filter", filter))
        if next_partition_key is not None:
            params.append(("NextPartitionKey", next_partition_key))
        if next_row_key is not None:
            params.append(("NextRowKey", next_row_key))
        request = LegacyHttpRequest(
            "GET",
            _join(self.url, f"/{quote(table, safe='')}()", params),
            headers={
                "x-ms-version": self.api_version,
                "DataServiceVersion": "3.0",
                "Accept": "application/json;odata=minimalmetadata",
            },
        )
        pipeline_response = await fast.pipeline.run(request, **kwargs)
        response = pipeline_response.http_response
        if response.status_code != 200:  # the pager passes it through _process_table_error
            raise _generated_table_error(response, pipeline_response)
        headers = response.headers
        page = _QueryPage(json.loads(response.body()).get("value"))
        return (
            "primary",
            page,
            {
                "x-ms-continuation-NextPartitionKey": headers.get("x-ms-continuation-NextPartitionKey"),
                "x-ms-continuation-NextRowKey": headers.get("x-ms-continuation-NextRowKey"),
            },
        )

    async def _write_entity(
        self,
        fast: _Fast,
        method: str,
        url: str,
        body: str,
        headers: dict[str, str],
        kwargs: dict[str, Any],
    ) -> tuple[Any, Any]:
        """Send one entity write; ``(pipeline_response, response)``."""
        request = LegacyHttpRequest(method, url, headers=headers)
        request.set_bytes_body(body.encode("utf-8"))
        pipeline_response = await fast.pipeline.run(request, **kwargs)
        return pipeline_response, pipeline_response.http_response

    @staticmethod
    def _write_metadata(response: Any, content: Any, *, preference: bool) -> Mapping[str, Any]:
        """``_trim_service_metadata`` of the response headers the generated operation reads."""
        sdk = _sdk()
        headers = response.headers
        date = headers.get("Date")
        raw: dict[str, Any] = {
            "x-ms-client-request-id": headers.get("x-ms-client-request-id"),
            "x-ms-request-id": headers.get("x-ms-request-id"),
            "x-ms-version": headers.get("x-ms-version"),
            "Date": _rfc1123(date) if date is not None else None,
            "ETag": headers.get("ETag"),
        }
        if preference:  # insert_entity also reads these two
            raw["Preference-Applied"] = headers.get("Preference-Applied")
            raw["Content-Type"] = headers.get("Content-Type")
        result: Mapping[str, Any] = sdk.trim_service_metadata(sdk.normalize_headers(raw), content=content)
        return result

    async def upsert_entity(
        self, entity: Any, mode: str | UpdateMode = UpdateMode.MERGE, **kwargs: Any
    ) -> Mapping[str, Any]:
        fast = self._fast_for(kwargs)
        if fast is None or mode not in (UpdateMode.MERGE, UpdateMode.REPLACE):
            return await super().upsert_entity(entity, mode=mode, **kwargs)
        partition_key = entity["PartitionKey"]
        row_key = entity["RowKey"]
        if not isinstance(partition_key, str) or not isinstance(row_key, str):
            return await super().upsert_entity(entity, mode=mode, **kwargs)
        pipeline_response, response = await self._write_entity(
            fast,
            "PATCH" if mode == UpdateMode.MERGE else "PUT",
            self._entity_url(partition_key, row_key, []),
            _entity_body(entity),
            {
                "Content-Type": "application/json",
                "x-ms-version": self.api_version,
                "DataServiceVersion": "3.0",
                "Accept": "application/json",
            },
            kwargs,
        )
        if response.status_code != 204:
            _raise_table_error(response, pipeline_response, self.table_name)
        return self._write_metadata(response, None, preference=False)

    async def update_entity(
        self,
        entity: Any,
        mode: str | UpdateMode = UpdateMode.MERGE,
        *,
        etag: str | None = None,
        match_condition: MatchConditions | None = None,
        **kwargs: Any,
    ) -> Mapping[str, Any]:
        fast = self._fast_for(kwargs)
        if fast is None or mode not in (UpdateMode.MERGE, UpdateMode.REPLACE):
            return await super().update_entity(
                entity, mode=mode, etag=etag, match_condition=match_condition, **kwargs
            )
        sdk = _sdk()
        if match_condition and not etag and isinstance(entity, TableEntity):
            etag = entity.metadata.get("etag")
        condition = sdk.get_match_condition(etag=etag, match_condition=match_condition or _UNCONDITIONALLY)
        partition_key = entity["PartitionKey"]
        row_key = entity["RowKey"]
        if not isinstance(partition_key, str) or not isinstance(row_key, str):
            return await super().update_entity(
                entity, mode=mode, etag=etag, match_condition=match_condition, **kwargs
            )
        headers = {
            "Content-Type": "application/json",
            "x-ms-version": self.api_version,
            "DataServiceVersion": "3.0",
            "Accept": "application/json",
        }
        if_match = sdk.prep_if_match(etag, condition)
        if if_match is not None:
            headers["If-Match"] = if_match
        pipeline_response, response = await self._write_entity(
            fast,
            "PATCH" if mode == UpdateMode.MERGE else "PUT",
            self._entity_url(partition_key, row_key, []),
            _entity_body(entity),
            headers,
            kwargs,
        )
        if response.status_code != 204:
            _raise_table_error(response, pipeline_response, self.table_name)
        return self._write_metadata(response, None, preference=False)

    async def create_entity(self, entity: Any, **kwargs: Any) -> Mapping[str, Any]:
        fast = self._fast_for(kwargs)
        if fast is None:
            return await super().create_entity(entity, **kwargs)
        sdk = _sdk()
        body = _entity_body(entity)
        pipeline_response, response = await self._write_entity(
            fast,
            "POST",
            _join(self.url, "/" + quote(self.table_name, safe=""), []),
            body,
            {
                "Content-Type": "application/json;odata=nometadata",
                "x-ms-version": self.api_version,
                "DataServiceVersion": "3.0",
                "Accept": "application/json;odata=minimalmetadata",
            },
            kwargs,
        )
        status = response.status_code
        if status not in (201, 204):  # as the SDK: checks on the decoded error, then the generated one
            error = _generated_table_error(response, pipeline_response)
            decoded = sdk.decode_error(error.response, error.message)
            entity_json = json.loads(body)
            sdk.validate_key_values(decoded, entity_json.get("PartitionKey"), entity_json.get("RowKey"))
            sdk.validate_tablename_error(decoded, self.table_name)
            raise error
        content = json.loads(response.body()) if status == 201 else None
        return self._write_metadata(response, content, preference=True)

    def _batch_parts(self, operations: list[Any]) -> list[_Part] | None:
        """The transaction's operations as the SDK's ``TableBatchOperations`` builds them (same URLs,
        headers and JSON bodies, from the SDK's serializer and ETag helpers), for the plain forms:
        ``(create|upsert|update|delete, entity[, {mode, etag, match_condition}])`` over one partition.
        ``None`` for anything else, which then goes through ``TableBatchOperations`` itself."""
        sdk = _sdk()
        base = f"{self.scheme}://{self._primary_hostname}"
        table = quote(self.table_name, safe="")
        version = self.api_version
        partition: str | None = None
        entity_prefix = ""
        parts: list[_Part] = []
        try:
            for operation in operations:
                if not isinstance(operation, tuple) or len(operation) not in (2, 3):
                    return None
                kind, entity = operation[0], operation[1]
                options = operation[2] if len(operation) == 3 else {}
                if (
                    not isinstance(kind, str)
                    or not isinstance(entity, Mapping)
                    or not isinstance(options, Mapping)
                ):
                    return None
                keys = entity.get("PartitionKey"), entity.get("RowKey")
                if not isinstance(keys[0], str) or not isinstance(keys[1], str):
                    return None
                if partition is None:
                    partition = keys[0]
                    entity_prefix = (
                        f"{base}/{table}(PartitionKey='{quote(sdk.prepare_key(partition), safe='')}',"
                    )
                elif keys[0] != partition:
                    return None
                kind = kind.lower()
                if kind == "create" and not options:
                    body = _entity_body(entity)
                    headers = [
                        ("Content-Type", "application/json"),
                        ("Content-Length", str(len(body))),
                        ("x-ms-version", version),
                        ("DataServiceVersion", "3.0"),
                        ("Accept", "application/json;odata=minimalmetadata"),
                    ]
                    parts.append(("POST", f"{base}/{table}", headers, body))
                    continue
                if kind not in ("upsert", "update", "delete") or not _BATCH_OPTIONS[kind].issuperset(options):
                    return None
                mode = options.get("mode", UpdateMode.MERGE)
                if kind != "delete" and mode not in (UpdateMode.MERGE, UpdateMode.REPLACE):
                    return None
                if_match = None
                if kind != "upsert":
                    etag = options.get("etag")
                    condition = options.get("match_condition")
                    # The SDK serializes an update's entity before looking for its ETag, so only a
                    # delete takes the ETag from a TableEntity's metadata.
                    if kind == "delete" and condition and not etag and isinstance(entity, TableEntity):
                        etag = entity.metadata.get("etag")
                    condition = sdk.get_match_condition(etag, condition or _UNCONDITIONALLY)
                    if_match = sdk.prep_if_match(etag, condition)
                url = f"{entity_prefix}RowKey='{quote(sdk.prepare_key(keys[1]), safe='')}')"
                if kind == "delete":
                    headers = [
                        ("x-ms-version", version),
                        ("DataServiceVersion", "3.0"),
                        ("Accept", "application/json;odata=minimalmetadata"),
                    ]
                    if if_match is not None:
                        headers.append(("If-Match", if_match))
                    parts.append(("DELETE", url, headers, ""))
                    continue
                body = _entity_body(entity)
                headers = [
                    ("Content-Type", "application/json"),
                    ("Content-Length", str(len(body))),
                    ("x-ms-version", version),
                    ("DataServiceVersion", "3.0"),
                    ("Accept", "application/json"),
                ]
                if if_match is not None:
                    headers.append(("If-Match", if_match))
                parts.append(("PATCH" if mode == UpdateMode.MERGE else "PUT", url, headers, body))
        except (TypeError, ValueError, AttributeError):  # let the SDK's builder raise its own error
            return None
        return parts

    async def submit_transaction(
        self,
        operations: Iterable[Any] | AsyncIterable[Any],
        **kwargs: Any,
    ) -> list[Mapping[str, Any]]:
        fast = self._fast_for(kwargs)
        if fast is None or isinstance(operations, AsyncIterable):
            return await super().submit_transaction(operations, **kwargs)
        operations = list(operations)
        if not 0 < len(operations) <= 100:  # the SDK's own (odd) answers for empty and oversized batches
            return await super().submit_transaction(operations, **kwargs)
        sdk = _sdk()
        parts = self._batch_parts(operations)
        if parts is None:  # anything unusual: the SDK's own builder (and its errors)
            batch = sdk.TableBatchOperations(
                config=self._client._config,
                endpoint=f"{self.scheme}://{self._primary_hostname}",
                table_name=self.table_name,
                is_cosmos_endpoint=self._cosmos_endpoint,
            )
            try:
                for operation in operations:
                    batch.add_operation(operation)
            except TypeError as exc:
                raise TypeError(
                    "The value of 'operations' must be an iterator or async iterator "
                    "of Tuples. Please check documentation for correct Tuple format."
                ) from exc
            parts = [_sdk_part(r) for r in batch.requests]
        date = format_date_time(time.time())
        changeset = f"changeset_{uuid.uuid4()}"
        boundary = f"batch_{uuid.uuid4()}"
        chunks = [f"--{boundary}\r\nContent-Type: multipart/mixed; boundary={changeset}\r\n\r\n"]
        for index, part in enumerate(parts):
            chunks.append(
                f"--{changeset}\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n"
                f"Content-ID: {index}\r\n\r\n{_serialize_part(part, date)}\r\n"
            )
        chunks.append(f"--{changeset}--\r\n\r\n--{boundary}--\r\n")
        request = LegacyHttpRequest(
            "POST",
            f"{self.scheme}://{self._primary_hostname}/$batch",
            headers={
                "x-ms-version": self.api_version,
                "DataServiceVersion": "3.0",
                "MaxDataServiceVersion": "3.0;NetFx",
                "Content-Type": f"multipart/mixed; boundary={boundary}",
                "Accept": "application/json",
            },
        )
        request.set_bytes_body("".join(chunks).encode("latin-1"))
        response = (await fast.pipeline.run(request, **kwargs)).http_response
        status = response.status_code
        if status == 413:
            raise sdk.decode_error(
                response,
                error_message="The transaction request was too large",
                error_type=sdk.RequestTooLargeError,
            )
        if status != 202:
            decoded = sdk.decode_error(response)
            sdk.validate_tablename_error(decoded, self.table_name)
            raise decoded
        answers = _parse_batch_response(response.body(), response.headers.get("Content-Type") or "")
        if answers is None:
            raise HttpResponseError(message="Unexpected transaction response", response=response)
        failed = next(
            ((i, http) for i, (code, http, _etag) in enumerate(answers) if not 200 <= code < 300), None
        )
        if failed is not None:
            index, http = failed
            if index < len(parts):
                method, url, headers, _body = parts[index]
                part_request = LegacyHttpRequest(method, url, headers=dict(headers))
            else:
                part_request = request
            part_response = sdk.deserialize_response(http, part_request)
            if part_response.status_code == 413:
                raise sdk.decode_error(
                    response,
                    error_message="The transaction request was too large",
                    error_type=sdk.RequestTooLargeError,
                )
            decoded = sdk.decode_error(response=part_response, error_type=sdk.TableTransactionError)
            sdk.validate_tablename_error(decoded, self.table_name)
            raise decoded
        results: list[Mapping[str, Any]] = []
        for _code, _http, etag in answers:
            results.append({"etag": etag} if etag is not None else {})
        return results


class _FastTableServiceClient(TableServiceClient):
    """``TableServiceClient`` whose table clients have the fast paths."""

    _fast: _Fast | None = None

    def get_table_client(self, table_name: str, **kwargs: Any) -> TableClient:
        client = super().get_table_client(table_name, **kwargs)
        if self._fast is not None and type(client) is TableClient:
            client.__class__ = _FastTableClient
            cast(_FastTableClient, client)._fast = self._fast
        return client


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
        proxies = _proxies_configured()
        self._session = _SharedSession(trust_env=proxies)
        common: dict[str, Any] = {"use_env_settings": proxies}
        table_transport = _ServiceTransport(self._session)
        queue_transport = _ServiceTransport(self._session, **_STORAGE_CONNECTION_CONFIG)
        blob_transport = _ServiceTransport(self._session, **_STORAGE_CONNECTION_CONFIG)
        self.tables = cast(
            _FastTableServiceClient,
            _FastTableServiceClient.from_connection_string(
                self.connection_string,
                raw_request_hook=self.counter.hook("table"),
                transport=table_transport,
                **common,
            ),
        )
        self.queues: _FastQueueServiceClient = _FastQueueServiceClient.from_connection_string(
            self.connection_string,
            api_version=QUEUE_BLOB_API_VERSION,
            raw_request_hook=self.counter.hook("queue"),
            transport=queue_transport,
            **common,
        )
        self.blobs = BlobServiceClient.from_connection_string(
            self.connection_string,
            api_version=QUEUE_BLOB_API_VERSION,
            raw_request_hook=self.counter.hook("blob"),
            transport=blob_transport,
            **common,
        )
        why_not = "fast_paths=False" if not fast_paths else _fast_paths_unavailable()
        if why_not is None and proxies:
            why_not = "proxies are configured"
        #: Why the fast paths are off (``None``: they are on).
        self.fast_paths_off_reason = why_not
        if why_not is None:
            self._install_fast_paths(queue_transport, table_transport)
        elif fast_paths and not _warned_once(why_not):
            log.warning("storage fast paths are off (%s); every request takes the SDK's path", why_not)

    @property
    def fast_paths(self) -> bool:
        return self.fast_paths_off_reason is None

    def _install_fast_paths(
        self, queue_transport: AioHttpTransport, table_transport: AioHttpTransport
    ) -> None:
        sdk = _sdk()
        self.queues._fast = _fast_pipeline(
            queue_transport,
            sdk.QueueRetry(),
            getattr(self.queues, "_credential_policy", None),
            _user_agent(self.queues),
            plain_date=False,
            hook=self.counter.hook("queue"),
            hook_after_signing=False,
        )
        if not self.tables._cosmos_endpoint:
            self.tables._fast = _fast_pipeline(
                table_transport,
                sdk.TablesRetry(),
                sdk.table_credential(self.tables.credential, False),
                _user_agent(self.tables),
                plain_date=True,
                hook=self.counter.hook("table"),
                hook_after_signing=True,
            )

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


_WARNED: set[str] = set()


def _warned_once(message: str) -> bool:
    if message in _WARNED:
        return True
    _WARNED.add(message)
    return False
