"""The ``{Hub}Instances`` table: one status row per instance, as DurableTask.AzureStorage keeps it (§3).

``PartitionKey`` = escaped instance id, ``RowKey`` = ``""``. Inputs and outputs larger than 60 KiB (UTF-16)
are stored as gzip blobs in ``{hub}-largemessages`` and the column holds the blob's absolute URL.
Blobs this module writes are named ``{PartitionKey}/{Input|Output}-{RRRRRRRR}.json.gz``.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from datetime import datetime, timezone
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableTransactionError, UpdateMode

from ..errors import FailureDetails, SplitBrainError, StorageError
from ..orchestration.history import OrchestrationStatus
from .clients import StorageClients
from .naming import escape_partition_key, instances_table_name, odata_string, unescape_partition_key
from .payloads import PayloadStore, random_suffix, table_property_too_large
from .values import EPOCH, format_iso_micros, read_datetime, read_int, to_json, utc

__all__ = ["InstanceRecord", "InstanceTable", "InstanceUpdate", "RowState", "status_output", "tags_json"]

_COLUMNS = (
    "PartitionKey",
    "RowKey",
    "Name",
    "Version",
    "RuntimeStatus",
    "CreatedTime",
    "LastUpdatedTime",
    "CompletedTime",
    "Input",
    "Output",
    "CustomStatus",
    "ExecutionId",
    "Generation",
    "ScheduledStartTime",
    "Tags",
    "InputBlobName",
)
_URL_COLUMNS = ("Input", "Output")
#: A Pending row DTFx's client wrote with an input over 60 KiB (UTF-16) that still fit in the start
#: message: ``Input`` is ``""`` and this column names the gzip blob (history convention, §3.3).
INPUT_BLOB_NAME = "InputBlobName"
_MAX_PAGE = 1000
_START_MESSAGE_BLOB_SUFFIX = "ExecutionStarted.json.gz"


@dataclass(frozen=True, slots=True)
class InstanceUpdate:
    """Columns to merge into an instance's ``{Hub}Instances`` row; a ``None`` field is not written.

    Tables have no null, so an update sets columns but never clears one. ``input``, ``output`` and
    ``custom_status`` are JSON text (``output`` of a failure: :func:`status_output`); an ``input`` or
    ``output`` over 60 KiB (UTF-16) is stored as a blob. An update that starts an execution (it sets
    ``created_time``) always writes ``Tags`` (``"null"`` when ``tags`` is not given), as DTFx does.
    """

    name: str | None = None
    version: str | None = None
    status: OrchestrationStatus | None = None
    created_time: datetime | None = None
    last_updated_time: datetime | None = None
    completed_time: datetime | None = None
    input: str | None = None
    output: str | None = None
    custom_status: str | None = None
    execution_id: str | None = None
    generation: int | None = None
    tags: str | None = None  # JSON text as :func:`tags_json` makes it (``"null"`` for no tags)

    def __bool__(self) -> bool:
        """True when the update writes at least one column."""
        return any(getattr(self, f.name) is not None for f in fields(self))

    def columns(self) -> dict[str, Any]:
        """The DTFx columns and Edm values this update writes (``Input``/``Output`` not yet offloaded)."""
        values: dict[str, Any] = {
            "Name": self.name,
            "Version": self.version,
            "RuntimeStatus": None if self.status is None else self.status.name,
            "CreatedTime": _utc_or_none(self.created_time),
            "LastUpdatedTime": _utc_or_none(self.last_updated_time),
            "CompletedTime": _utc_or_none(self.completed_time),
            "Input": self.input,
            "Output": self.output,
            "CustomStatus": self.custom_status,
            "ExecutionId": self.execution_id,
            "Generation": self.generation,
            # DTFx writes Tags at every ExecutionStarted checkpoint (the update with CreatedTime)
            "Tags": self.tags if self.tags is not None or self.created_time is None else "null",
        }
        return {column: value for column, value in values.items() if value is not None}


def status_output(result: str | None, failure: FailureDetails | None) -> str | None:
    """The ``Output`` column for a completion, as DTFx's ``OrchestrationRuntimeState.Output``:
    ``FailureDetails.ToString()`` (``"{ErrorType}: {ErrorMessage}"``, plain text) when the execution
    failed with details, else the result (JSON text)."""
    return str(failure) if failure is not None else result


def tags_json(tags: Mapping[str, str] | None) -> str:
    """The ``Tags`` column as DTFx's ``TagsSerializer`` writes it: compact JSON, ``"null"`` for none."""
    return "null" if tags is None else to_json(dict(tags))


def _utc_or_none(value: datetime | None) -> datetime | None:
    return None if value is None else utc(value)


@dataclass(frozen=True, slots=True)
class RowState:
    """What a worker needs to know about a row before it checkpoints: its version and its claims."""

    etag: str
    status: OrchestrationStatus | None
    execution_id: str | None
    #: ``InputBlobName`` of a row DTFx's client wrote with a large input (see :data:`INPUT_BLOB_NAME`)
    input_blob_name: str | None = None


@dataclass(frozen=True, slots=True)
class InstanceRecord:
    """One ``{Hub}Instances`` row. ``input``/``output``/``custom_status`` are JSON text (blob URLs resolved)."""

    instance_id: str
    name: str
    version: str
    runtime_status: OrchestrationStatus
    created_time: datetime
    last_updated_time: datetime
    completed_time: datetime | None
    input: str | None
    output: str | None
    custom_status: str | None
    execution_id: str
    generation: int
    scheduled_start_time: datetime | None
    etag: str | None
    tags: dict[str, str] | None = None


class InstanceTable:
    """Reads, writes and queries orchestration status rows in ``{Hub}Instances``."""

    def __init__(self, clients: StorageClients, hub: str, payloads: PayloadStore) -> None:
        self.hub = hub
        self.table_name = instances_table_name(hub)
        self._table = clients.tables.get_table_client(self.table_name)
        self._payloads = payloads

    async def create(self) -> None:
        """Create the table if it does not exist."""
        try:
            await self._table.create_table()
        except ResourceExistsError:
            pass

    # ------------------------------------------------------------------------ read

    async def get(
        self, instance_id: str, *, fetch_input: bool = True, fetch_output: bool = True
    ) -> InstanceRecord | None:
        """The instance's row (one point read), or ``None`` if there is none."""
        try:
            entity = await self._table.get_entity(
                escape_partition_key(instance_id), "", select=_select(fetch_input, fetch_output)
            )
        except ResourceNotFoundError:
            return None
        return await self._to_record(entity, fetch_input, fetch_output)

    async def query(
        self,
        *,
        created_from: datetime | None = None,
        created_to: datetime | None = None,
        statuses: Iterable[OrchestrationStatus] | None = None,
        instance_id_prefix: str | None = None,
        page_size: int = 100,
        continuation_token: str | None = None,
        fetch_input: bool = False,
        fetch_output: bool = True,
        include_entities: bool = False,
    ) -> tuple[list[InstanceRecord], str | None]:
        """One page of matching instances (one request) and the token for the next page, or ``None``.

        A page may hold fewer than ``page_size`` rows (even none) while a token is still returned.
        """
        query_filter = build_filter(
            created_from=created_from,
            created_to=created_to,
            statuses=statuses,
            instance_id_prefix=instance_id_prefix,
            include_entities=include_entities,
        )
        kwargs: dict[str, Any] = {
            "results_per_page": max(1, min(page_size, _MAX_PAGE)),
            "select": _select(fetch_input, fetch_output),
        }
        pager = (
            self._table.query_entities(query_filter, **kwargs)
            if query_filter
            else self._table.list_entities(**kwargs)
        )
        # The SDK's token is a dict, though typed ``str``.
        pages = pager.by_page(continuation_token=decode_token(continuation_token))  # type: ignore[arg-type]
        try:
            page = await pages.__anext__()
        except StopAsyncIteration:
            return [], None
        entities = [entity async for entity in page]
        records = await asyncio.gather(*(self._to_record(e, fetch_input, fetch_output) for e in entities))
        return list(records), encode_token(getattr(pages, "continuation_token", None))

    async def count_by_status(self) -> dict[str, int]:
        """Number of (non-entity) instances per runtime status name."""
        counts: dict[str, int] = {}
        async for entity in self._table.query_entities(
            _EXCLUDE_ENTITIES, select=["PartitionKey", "RuntimeStatus"], results_per_page=_MAX_PAGE
        ):
            status = str(entity.get("RuntimeStatus") or "")
            counts[status] = counts.get(status, 0) + 1
        return counts

    # ------------------------------------------------------------------------ write

    async def write_pending(
        self,
        instance_id: str,
        *,
        name: str,
        version: str,
        input: str | None,
        execution_id: str,
        created_time: datetime,
        generation: int,
        etag: str | None,
        scheduled_start_time: datetime | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> str:
        """Write the client-start row (``Pending``): insert when ``etag`` is None, else replace If-Match.
        ``tags`` are the start event's (DTFx writes them here and at each ExecutionStarted checkpoint).
        Returns the row's new ETag.

        Raises :class:`SplitBrainError` when the row exists (insert) or changed since ``etag`` was read.
        """
        pk = escape_partition_key(instance_id)
        entity: dict[str, Any] = {
            "PartitionKey": pk,
            "RowKey": "",
            "CreatedTime": utc(created_time),
            "Name": name,
            "Version": version,
            "RuntimeStatus": OrchestrationStatus.Pending.name,
            "LastUpdatedTime": datetime.now(timezone.utc),
            "TaskHubName": self.hub,
            "ExecutionId": execution_id,
            "Generation": generation,
            "Tags": tags_json(tags),
            "CustomStatus": "null",
        }
        if input is not None:
            entity["Input"] = await self._maybe_offload(pk, "Input", input)
        if scheduled_start_time is not None:
            entity["ScheduledStartTime"] = utc(scheduled_start_time)
        try:
            if etag is None:
                metadata = await self._table.create_entity(entity)
            else:
                metadata = await self._table.update_entity(
                    entity, mode=UpdateMode.REPLACE, etag=etag, match_condition=MatchConditions.IfNotModified
                )
        except (ResourceExistsError, ResourceModifiedError, ResourceNotFoundError) as e:
            raise SplitBrainError(f"Instances row of {instance_id!r} was changed by another writer") from e
        return str(metadata["etag"])

    async def merge(self, instance_id: str, update: InstanceUpdate) -> None:
        """InsertOrMerge ``update`` into the row (always with ``TaskHubName``).

        The status is written by name, times as UTC DateTime; ``Input``/``Output`` over 60 KiB UTF-16
        become blob URLs.
        """
        await self._table.upsert_entity(await self._entity(instance_id, update), mode=UpdateMode.MERGE)

    async def merge_guarded(self, instance_id: str, update: InstanceUpdate, etag: str | None) -> str:
        """Merge ``update`` (as :meth:`merge`) only if the row is unchanged since ``etag`` was read;
        with ``etag=None`` insert the row, which must not exist yet. Returns the row's new ETag.

        Raises :class:`SplitBrainError` when another writer created, changed or deleted the row.
        """
        entity = await self._entity(instance_id, update)
        try:
            if etag is None:
                metadata = await self._table.create_entity(entity)
            else:
                metadata = await self._table.update_entity(
                    entity, mode=UpdateMode.MERGE, etag=etag, match_condition=MatchConditions.IfNotModified
                )
        except (ResourceExistsError, ResourceModifiedError, ResourceNotFoundError) as e:
            raise SplitBrainError(f"Instances row of {instance_id!r} was changed by another writer") from e
        return str(metadata["etag"])

    async def row_state(self, instance_id: str) -> RowState | None:
        """The row's ETag, status and execution id (a point read of three columns), or ``None``."""
        try:
            entity = await self._table.get_entity(
                escape_partition_key(instance_id),
                "",
                select=["RuntimeStatus", "ExecutionId", INPUT_BLOB_NAME],
            )
        except ResourceNotFoundError:
            return None
        status = str(entity.get("RuntimeStatus"))
        blob = entity.get(INPUT_BLOB_NAME)
        return RowState(
            etag=str(entity.metadata["etag"]),
            status=OrchestrationStatus[status] if status in OrchestrationStatus.__members__ else None,
            execution_id=entity.get("ExecutionId"),
            input_blob_name=blob if isinstance(blob, str) and blob else None,
        )

    async def _entity(self, instance_id: str, update: InstanceUpdate) -> dict[str, Any]:
        pk = escape_partition_key(instance_id)
        entity: dict[str, Any] = {"PartitionKey": pk, "RowKey": "", "TaskHubName": self.hub}
        for column, value in update.columns().items():
            if column in _URL_COLUMNS:
                value = await self._maybe_offload(pk, column, value)
            entity[column] = value
        return entity

    async def _maybe_offload(self, pk: str, column: str, value: str) -> str:
        if not table_property_too_large(value):
            return value
        blob = f"{pk}/{column}-{random_suffix()}.json.gz"
        await self._payloads.upload(blob, value)
        return self._payloads.blob_url(blob)

    async def delete(self, instance_id: str) -> bool:
        """Delete the row; ``False`` if there was none (one request)."""
        key = {"PartitionKey": escape_partition_key(instance_id), "RowKey": ""}
        try:
            # A one-operation transaction reports 404, which ``delete_entity`` swallows.
            await self._table.submit_transaction([("delete", key)])
        except TableTransactionError as e:
            if e.status_code == 404:
                return False
            raise StorageError(f"Could not delete the Instances row of {instance_id!r}: {e.message}") from e
        return True

    # ------------------------------------------------------------------------ conversion

    async def _to_record(self, entity: Any, fetch_input: bool, fetch_output: bool) -> InstanceRecord:
        input_text = entity.get("Input") if fetch_input else None
        output_text = entity.get("Output") if fetch_output else None
        input_blob = entity.get(INPUT_BLOB_NAME) if fetch_input and not input_text else None
        if isinstance(input_blob, str) and input_blob:
            # DTFx's client offloaded a large input the history way (Pending row, §3.3)
            input_text, output_text = await asyncio.gather(
                self._payloads.download(input_blob), self._resolve(output_text)
            )
        elif _is_url(input_text) or _is_url(output_text):
            input_text, output_text = await asyncio.gather(
                self._resolve(input_text), self._resolve(output_text)
            )
        created = read_datetime(entity.get("CreatedTime")) or EPOCH
        return InstanceRecord(
            instance_id=unescape_partition_key(str(entity["PartitionKey"])),
            name=str(entity.get("Name") or ""),
            version=str(entity.get("Version") or ""),
            runtime_status=_status(entity.get("RuntimeStatus")),
            created_time=created,
            last_updated_time=read_datetime(entity.get("LastUpdatedTime")) or created,
            completed_time=read_datetime(entity.get("CompletedTime")),
            input=input_text,
            output=output_text,
            custom_status=entity.get("CustomStatus"),
            execution_id=str(entity.get("ExecutionId") or ""),
            generation=read_int(entity.get("Generation"), 0),
            scheduled_start_time=read_datetime(entity.get("ScheduledStartTime")),
            etag=getattr(entity, "metadata", {}).get("etag"),
            tags=_tags(entity.get("Tags")),
        )

    async def _resolve(self, value: str | None) -> str | None:
        """Download the text behind a blob URL into our container; other values pass through."""
        if not _is_url(value):
            return value
        assert value is not None
        blob = self._payloads.blob_name_from_url(value)
        if blob is None:
            return value
        text = await self._payloads.download(blob)
        if blob.endswith(_START_MESSAGE_BLOB_SUFFIX):
            # The whole start message was offloaded (DTFx): the input is inside its event.
            message = json.loads(text)
            return ((message.get("TaskMessage") or {}).get("Event") or {}).get("Input")
        return text


# ---------------------------------------------------------------------------- filters and tokens

_EXCLUDE_ENTITIES = "(PartitionKey lt '@' or PartitionKey ge 'A')"


def odata_datetime(value: datetime) -> str:
    """An OData DateTime literal, e.g. ``datetime'2024-01-02T03:04:05.000000Z'``."""
    return "datetime'" + format_iso_micros(utc(value)) + "'"


def _next_string(value: str) -> str | None:
    """The smallest string greater than every string starting with ``value`` (None if unbounded)."""
    for i in range(len(value) - 1, -1, -1):
        code = ord(value[i]) + 1
        if 0xD800 <= code <= 0xDFFF:
            code = 0xE000
        if code <= 0x10FFFF:
            return value[:i] + chr(code)
    return None


def build_filter(
    *,
    created_from: datetime | None = None,
    created_to: datetime | None = None,
    statuses: Iterable[OrchestrationStatus] | None = None,
    instance_id_prefix: str | None = None,
    include_entities: bool = False,
) -> str | None:
    """The ``$filter`` of an instance query (DTFx §3.5), built from escaped literals only."""
    parts: list[str] = []
    if created_from is not None:
        parts.append(f"CreatedTime ge {odata_datetime(created_from)}")
    if created_to is not None:
        parts.append(f"CreatedTime le {odata_datetime(created_to)}")
    if statuses is not None:
        names = sorted({OrchestrationStatus(s).name for s in statuses})
        if names:
            parts.append(" or ".join(f"RuntimeStatus eq {odata_string(n)}" for n in names))
    if instance_id_prefix:
        low = escape_partition_key(instance_id_prefix)
        parts.append(f"PartitionKey ge {odata_string(low)}")
        high = _next_string(low)
        if high is not None:
            parts.append(f"PartitionKey lt {odata_string(high)}")
    if not include_entities and not instance_id_prefix:
        parts.append(_EXCLUDE_ENTITIES)
    if not parts:
        return None
    return " and ".join(f"({p})" for p in parts)


def encode_token(token: Any) -> str | None:
    """The SDK's continuation token dict as an opaque URL-safe string."""
    if not token:
        return None
    return base64.urlsafe_b64encode(json.dumps(token, separators=(",", ":")).encode()).decode()


def decode_token(token: str | None) -> dict[str, Any] | None:
    if not token:
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
    except ValueError as e:
        raise ValueError(f"Invalid continuation token {token!r}") from e
    if not isinstance(data, dict):
        raise ValueError(f"Invalid continuation token {token!r}")
    return data


def _select(fetch_input: bool, fetch_output: bool) -> list[str] | None:
    if fetch_input and fetch_output:
        return None
    return [
        c
        for c in _COLUMNS
        if (fetch_input or c not in ("Input", INPUT_BLOB_NAME)) and (fetch_output or c != "Output")
    ]


def _tags(value: Any) -> dict[str, str] | None:
    """The ``Tags`` column (DTFx parses it only when non-empty; ``"null"`` means none)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        data = json.loads(value)
    except ValueError:
        return None
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else None


def _is_url(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(("http://", "https://"))


def _status(value: Any) -> OrchestrationStatus:
    try:
        return OrchestrationStatus[str(value)]
    except KeyError:
        return OrchestrationStatus.Pending
