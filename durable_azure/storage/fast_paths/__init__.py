"""Fast paths for the engine's hot storage operations, on the Azure SDK and azure-core.

The queue and table clients handed out by ``get_queue_client`` / ``get_table_client`` of a
:class:`~durable_azure.storage.clients.StorageClients` are the SDK's own classes with
``send_message`` / ``receive_messages`` / ``delete_message`` (:mod:`.queues`) and ``get_entity`` /
``query_entities`` / ``list_entities`` / ``upsert_entity`` / ``update_entity`` / ``create_entity`` /
``submit_transaction`` (:mod:`.tables`, :mod:`.batch`) overridden to send the same request as the
SDK — built by the SDK's own generated request builders (``build_queue_send_message_request``,
``build_table_merge_entity_request`` …, ``TableBatchOperations`` for transactions) and completed with
``format_url`` as the generated operations do; checked on the wire against the SDK's own path by
``bench/verify_fast_paths.py`` and ``tests/integration/test_fast_paths.py`` — through a short
azure-core pipeline (:mod:`.pipeline`): the SDK's own retry policy and SharedKey/SAS signing policy,
plus one policy that stamps the date, request id and user agent and counts the request — instead
of the SDK's ~15-policy pipeline, two ``distributed_trace`` wrappers, the generated model layer and,
for transactions, azure-core's ``email``-based multipart codec (a transaction's multipart envelope
and its answer's parts are written and split in :mod:`.batch`). Results and exceptions are the SDK's types, built with the SDK's
own helpers (``QueueMessage``, ``TableEntity`` via ``_convert_to_entity``,
``process_storage_error``, ``_decode_error`` …).

A call takes the SDK's own path whenever the fast path would not behave identically: tracing
enabled, azure-core HTTP logging at INFO, any keyword beyond ``retry_total`` /
``connection_timeout`` / ``read_timeout`` (and each method's own keywords), message encryption or
a custom message policy, proxies, a Cosmos endpoint, transactions over 100 operations. The fast
paths rely on SDK internals, so they are on only for the SDK versions they were verified against
(:data:`~.sdk.VERIFIED_SDK_VERSIONS`); with any other version, or with
``DURABLE_AZURE_SDK_FAST_PATHS=0`` (read once per process), every call takes the SDK's path
(correct, at 2-10× the client CPU; bench/README.md has the numbers).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from azure.core.pipeline import PipelineRequest
from azure.core.pipeline.transport._aiohttp import AioHttpTransport

from durable_azure.storage.fast_paths.pipeline import fast_pipeline, user_agent
from durable_azure.storage.fast_paths.queues import FastQueueServiceClient
from durable_azure.storage.fast_paths.sdk import (
    FAST_PATHS_ENV,
    VERIFIED_SDK_VERSIONS,
    fast_paths_unavailable,
    proxies_configured,
    sdk_internals,
    warned_once,
)
from durable_azure.storage.fast_paths.tables import FastTableServiceClient
from durable_azure.storage.fast_paths.transport import (
    STORAGE_CONNECTION_CONFIG,
    ServiceTransport,
    SharedSession,
)

__all__ = [
    "FAST_PATHS_ENV",
    "STORAGE_CONNECTION_CONFIG",
    "VERIFIED_SDK_VERSIONS",
    "FastQueueServiceClient",
    "FastTableServiceClient",
    "ServiceTransport",
    "SharedSession",
    "fast_paths_unavailable",
    "install",
    "proxies_configured",
    "warned_once",
]


def install(
    queues: FastQueueServiceClient,
    tables: FastTableServiceClient,
    queue_transport: AioHttpTransport,
    table_transport: AioHttpTransport,
    counter_hook: Callable[[str], Callable[[PipelineRequest[Any]], None]],
    *,
    queue_retry: dict[str, Any],
    table_retry: dict[str, Any],
) -> None:
    """Give the queue and table clients of ``queues`` / ``tables`` their fast pipelines, retrying as
    the clients themselves were told to (``queue_retry`` / ``table_retry``: the SDKs' retry keywords)."""
    sdk = sdk_internals()
    queues._fast = fast_pipeline(
        queue_transport,
        sdk.QueueRetry(**queue_retry),
        getattr(queues, "_credential_policy", None),
        user_agent(queues),
        plain_date=False,
        hook=counter_hook("queue"),
        hook_after_signing=False,
    )
    if not tables._cosmos_endpoint:
        tables._fast = fast_pipeline(
            table_transport,
            sdk.TablesRetry(**table_retry),
            sdk.table_credential(tables.credential, False),
            user_agent(tables),
            plain_date=True,
            hook=counter_hook("table"),
            hook_after_signing=True,
        )
