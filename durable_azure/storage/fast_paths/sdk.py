"""When the fast paths may run: the SDK versions they were verified against, the off switch, and the
SDK internals they reuse (imported once)."""

from __future__ import annotations

import functools
import logging
import os
import urllib.request
from collections.abc import Mapping
from typing import Any

from azure.core.settings import settings as azure_settings

# The fast paths below use SDK internals (request formats, response models, error helpers); they are
# enabled only for the versions they were checked against with bench/verify_fast_paths.py. To move
# to a new SDK version: install it, run that script against Azurite, then update this table.
VERIFIED_SDK_VERSIONS: dict[str, str] = {
    "azure-core": "1.41.0",
    "azure-storage-queue": "12.18.1",
    "azure-data-tables": "12.7.0",
}
FAST_PATHS_ENV = "DURABLE_AZURE_SDK_FAST_PATHS"


def proxies_configured() -> bool:
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
def fast_paths_unavailable() -> str | None:
    """Why the fast paths cannot be used in this process (``None`` when they can)."""
    if os.environ.get(FAST_PATHS_ENV, "1").strip().lower() in ("0", "false", "no", "off"):
        return f"{FAST_PATHS_ENV} is off"
    mismatched = {k: v for k, v in _installed_versions().items() if v != VERIFIED_SDK_VERSIONS[k]}
    if mismatched:
        return f"installed {mismatched} differ from the verified {VERIFIED_SDK_VERSIONS}"
    try:
        sdk_internals()
    except Exception as error:  # an SDK internal moved: fall back to the public SDK path
        return f"SDK internals not found: {type(error).__name__}: {error}"
    return None


@functools.lru_cache(maxsize=1)
def sdk_internals() -> Any:
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
    from azure.data.tables._generated.operations._operations import (
        build_table_insert_entity_request,
        build_table_merge_entity_request,
        build_table_query_entities_request,
        build_table_query_entity_with_partition_and_row_key_request,
        build_table_update_entity_request,
    )
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
    from azure.storage.queue._generated._utils.serialization import Deserializer as QueueDeserializer
    from azure.storage.queue._generated.operations._operations import (
        build_queue_delete_message_request,
        build_queue_receive_messages_request,
        build_queue_send_message_request,
        build_queue_update_message_request,
    )
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
        build_get=build_table_query_entity_with_partition_and_row_key_request,
        build_query=build_table_query_entities_request,
        build_merge=build_table_merge_entity_request,
        build_update=build_table_update_entity_request,
        build_insert=build_table_insert_entity_request,
        build_send=build_queue_send_message_request,
        build_receive=build_queue_receive_messages_request,
        build_delete=build_queue_delete_message_request,
        build_update_message=build_queue_update_message_request,
        queue_deserialize_rfc=QueueDeserializer.deserialize_rfc,
    )


_HTTP_LOGGER = logging.getLogger("azure.core.pipeline.policies.http_logging_policy")
# Per-call keywords the fast paths pass on exactly as the SDK does (to the retry policy / transport).
_FAST_KWARGS = frozenset({"retry_total", "connection_timeout", "read_timeout"})


def sdk_path_needed(kwargs: Mapping[str, Any]) -> bool:
    """Whether this call must take the SDK's own path to behave exactly as the SDK: tracing or
    azure-core HTTP logging is on, or a keyword the fast path does not handle is given."""
    if kwargs and not _FAST_KWARGS.issuperset(kwargs):
        return True
    return bool(azure_settings.tracing_enabled()) or _HTTP_LOGGER.isEnabledFor(logging.INFO)


_WARNED: set[str] = set()


def warned_once(message: str) -> bool:
    if message in _WARNED:
        return True
    _WARNED.add(message)
    return False
