"""The ``{Hub}History`` table: load, append (sentinel-ETag guarded), delete and rewind an instance's history.

Rows follow DurableTask.AzureStorage exactly (layout spec §2): one partition per instance, RowKey = event
position as 16 hex digits, a ``sentinel`` row whose ETag guards every write, and values larger than
60 KiB (UTF-16) moved to gzip blobs referenced by ``{Property}BlobName`` columns.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.data.tables import TableTransactionError, UpdateMode

from ..errors import SplitBrainError, StorageError
from ..orchestration.history import EventType, HistoryEvent
from .clients import StorageClients
from .history_rows import (
    BLOB_NAME_SUFFIX,
    LARGE_PROPERTIES,
    entity_to_event,
    event_to_entity,
)
from .naming import SENTINEL_ROW_KEY, escape_partition_key, history_table_name, odata_string
from .payloads import PayloadStore, random_suffix, table_property_too_large

__all__ = [
    "HistoryTable",
    "LoadedHistory",
    "entity_to_event",
    "event_to_entity",
]

MAX_BATCH_ROWS = 99
"""Event rows per transaction; the sentinel makes it 100, the Table service maximum."""
MAX_BATCH_BYTES = 3 * 1024 * 1024
"""DTFx flushes a transaction once its estimated size passes 3 MiB (the service limit is 4 MiB)."""
MAX_DELETE_BATCH = 100
MAX_PARALLEL_DELETES = 10
"""Delete transactions in flight at once (as DTFx ``DeleteBatchParallelAsync``)."""
_SPLIT_BRAIN_STATUS = frozenset({404, 409, 412})


@dataclass(frozen=True, slots=True)
class LoadedHistory:
    """The current execution's history as read from the table."""

    events: list[HistoryEvent]
    etag: str | None
    """The sentinel row's ETag (``None`` when the instance has no history yet)."""
    execution_id: str | None
    """The sentinel's ``ExecutionId`` (falls back to the first row's)."""
    blob_names: tuple[str, ...] = ()
    """Large-value blobs referenced by the loaded rows (to delete after a new execution commits)."""


class HistoryTable:
    """Reads and writes instance histories in ``{Hub}History``."""

    def __init__(self, clients: StorageClients, hub: str, payloads: PayloadStore) -> None:
        self.table_name = history_table_name(hub)
        self._table = clients.tables.get_table_client(self.table_name)
        self._payloads = payloads

    async def create(self) -> None:
        """Create the table if it does not exist."""
        try:
            await self._table.create_table()
        except ResourceExistsError:
            pass

    # ------------------------------------------------------------------------ read

    async def _query_partition(
        self, partition_key: str, select: list[str] | None = None
    ) -> list[dict[str, Any]]:
        """Every row of one partition (all pages), sorted by RowKey."""
        rows: list[dict[str, Any]] = [
            row
            async for row in self._table.query_entities(
                f"PartitionKey eq {odata_string(partition_key)}", select=select
            )
        ]
        rows.sort(key=lambda r: r["RowKey"])
        return rows

    async def load(self, instance_id: str) -> LoadedHistory:
        """The current execution's events, the sentinel ETag and the execution id (one partition query)."""
        rows = await self._query_partition(escape_partition_key(instance_id))
        current, sentinel, execution_id = _current_execution(rows)
        blob_names = await self._resolve_blobs(current)
        return LoadedHistory(
            events=[entity_to_event(row) for row in current],
            etag=_etag(sentinel) if sentinel is not None else None,
            execution_id=execution_id,
            blob_names=blob_names,
        )

    async def sentinel_etag(self, instance_id: str, **request_options: Any) -> str | None:
        """The sentinel row's current ETag (one point read), or ``None`` when there is no history."""
        try:
            row = await self._table.get_entity(
                escape_partition_key(instance_id), SENTINEL_ROW_KEY, select=["RowKey"], **request_options
            )
        except ResourceNotFoundError:
            return None
        return _etag(row)

    async def _resolve_blobs(self, rows: list[dict[str, Any]]) -> tuple[str, ...]:
        """Replace ``{Prop}BlobName`` columns by the downloaded text, in place; return the blob names."""
        wanted: list[tuple[dict[str, Any], str, str]] = []
        for row in rows:
            for prop in LARGE_PROPERTIES:
                name = row.get(prop + BLOB_NAME_SUFFIX)
                if name:
                    wanted.append((row, prop, name))
        if not wanted:
            return ()
        texts = await asyncio.gather(*(self._payloads.download(name) for _, _, name in wanted))
        for (row, prop, _), text in zip(wanted, texts, strict=True):
            row[prop] = text
            del row[prop + BLOB_NAME_SUFFIX]
        return tuple(name for _, _, name in wanted)

    # ------------------------------------------------------------------------ write

    async def append(
        self,
        instance_id: str,
        execution_id: str,
        new_events: Sequence[HistoryEvent],
        *,
        start_index: int,
        etag: str | None,
    ) -> str:
        """Write ``new_events`` as rows ``start_index…`` plus the sentinel; return the new sentinel ETag.

        Raises :class:`SplitBrainError` when the sentinel changed since ``etag`` was read (or, with
        ``etag=None``, when a history already exists). With no events only the sentinel is written.
        """
        pk = escape_partition_key(instance_id)
        rows = [
            event_to_entity(event, partition_key=pk, row_index=start_index + i, execution_id=execution_id)
            for i, event in enumerate(new_events)
        ]
        await self._offload_large_properties(rows)
        chunks = _chunk_rows(rows)
        for n, chunk in enumerate(chunks):
            last = n == len(chunks) - 1
            sentinel: dict[str, Any] = {
                "PartitionKey": pk,
                "RowKey": SENTINEL_ROW_KEY,
                "ExecutionId": execution_id,
                "IsCheckpointComplete": last,
            }
            if last:
                sentinel["CheckpointCompletedTimestamp"] = datetime.now(timezone.utc)
            ops: list[Any] = [("upsert", row, {"mode": UpdateMode.REPLACE}) for row in chunk]
            if etag is None:
                ops.append(("create", sentinel))
            else:
                ops.append(
                    (
                        "update",
                        sentinel,
                        {
                            "mode": UpdateMode.MERGE,
                            "etag": etag,
                            "match_condition": MatchConditions.IfNotModified,
                        },
                    )
                )
            etag = await self._submit(ops, instance_id)
        assert etag is not None
        return etag

    async def _offload_large_properties(self, rows: list[dict[str, Any]]) -> None:
        """Upload oversized values (DTFx §2.5) and leave ``{Prop}BlobName`` + an empty value in the row."""
        uploads = []
        for row in rows:
            for prop in LARGE_PROPERTIES:
                value = row.get(prop)
                if isinstance(value, str) and table_property_too_large(value):
                    blob = (
                        f"{row['PartitionKey']}/history-{row['RowKey']}-{row['EventType']}-"
                        f"{random_suffix()}-{prop}.json.gz"
                    )
                    uploads.append(self._payloads.upload(blob, value))
                    row[prop] = ""
                    row[prop + BLOB_NAME_SUFFIX] = blob
        if uploads:
            await asyncio.gather(*uploads)

    async def _submit(self, ops: list[Any], instance_id: str) -> str:
        """Run one transaction whose last operation is the sentinel; return the sentinel's new ETag."""
        try:
            results = await self._table.submit_transaction(ops)
        except TableTransactionError as e:
            if e.status_code in _SPLIT_BRAIN_STATUS:
                raise SplitBrainError(
                    f"History of {instance_id!r} was changed by another writer ({e.status_code} {getattr(e, 'error_code', None)})"
                ) from e
            raise StorageError(f"History write for {instance_id!r} failed: {e.message}") from e
        return str(results[-1]["etag"])

    # ------------------------------------------------------------------------ delete / rewind

    async def delete_instance(self, instance_id: str) -> int:
        """Delete every row of the instance (all executions and the sentinel); return how many."""
        pk = escape_partition_key(instance_id)
        rows = await self._query_partition(pk, select=["PartitionKey", "RowKey"])
        batches = [rows[i : i + MAX_DELETE_BATCH] for i in range(0, len(rows), MAX_DELETE_BATCH)]
        limit = asyncio.Semaphore(MAX_PARALLEL_DELETES)
        await asyncio.gather(*(self._delete_batch(batch, limit) for batch in batches))
        return len(rows)

    async def _delete_batch(self, rows: list[dict[str, Any]], limit: asyncio.Semaphore) -> None:
        keys = [{"PartitionKey": r["PartitionKey"], "RowKey": r["RowKey"]} for r in rows]
        async with limit:
            await self._delete_keys(keys)

    async def _delete_keys(self, keys: list[dict[str, str]]) -> None:
        try:
            await self._table.submit_transaction([("delete", key) for key in keys])
        except TableTransactionError as e:
            if e.status_code != 404:
                raise StorageError(f"History delete failed: {e.message}") from e
            # Someone deleted a row concurrently: fall back to single deletes (404s are ignored).
            await asyncio.gather(
                *(self._table.delete_entity(key["PartitionKey"], key["RowKey"]) for key in keys)
            )

    async def rewind(self, instance_id: str) -> list[str]:
        """Legacy DTFx rewind (§8.2) of the current execution; returns the failed sub-orchestrations' ids.

        Failed rows become ``GenericEvent`` rows with ``Reason = "Rewound: <old EventType>"``; a failed
        activity's ``TaskScheduled`` row is rewritten the same way, and a failed sub-orchestration's
        ``SubOrchestrationInstanceCreated`` row only gets the ``Reason``. The sentinel is merged in the
        same transaction so every cached copy of this history is invalidated.
        """
        pk = escape_partition_key(instance_id)
        rows = await self._query_partition(pk)
        current, sentinel, _ = _current_execution(rows)
        if sentinel is None:
            return []
        changed, children = _rewind_rows(current)
        if not changed:
            return []
        touch = {"PartitionKey": pk, "RowKey": SENTINEL_ROW_KEY}
        for start in range(0, len(changed), MAX_BATCH_ROWS):
            ops: list[Any] = [
                (
                    "update",
                    row,
                    {
                        "mode": UpdateMode.REPLACE,
                        "etag": _etag(row),
                        "match_condition": MatchConditions.IfNotModified,
                    },
                )
                for row in changed[start : start + MAX_BATCH_ROWS]
            ]
            ops.append(("update", touch, {"mode": UpdateMode.MERGE}))
            await self._submit(ops, instance_id)
        return children


# ---------------------------------------------------------------------------- helpers


def _etag(row: Any) -> str:
    return str(row.metadata["etag"])


def _current_execution(
    rows: list[dict[str, Any]],
) -> tuple[list[dict[str, Any]], dict[str, Any] | None, str | None]:
    """(current execution's event rows, sentinel row, execution id) from a RowKey-sorted partition."""
    sentinel = None
    if rows and rows[-1]["RowKey"] == SENTINEL_ROW_KEY:
        sentinel = rows.pop()
    execution_id = sentinel.get("ExecutionId") if sentinel is not None else None
    if not execution_id and rows:
        execution_id = rows[0].get("ExecutionId")
    current = []
    for row in rows:
        if row.get("ExecutionId") != execution_id:
            break
        current.append(row)
    return current, sentinel, execution_id


def _chunk_rows(rows: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Split rows into transactions of ≤ 99 rows and ≤ ~3 MiB (DTFx ``GetEstimatedByteCount``)."""
    chunks: list[list[dict[str, Any]]] = [[]]
    size = 0
    for row in rows:
        row_size = _estimated_size(row)
        if chunks[-1] and (len(chunks[-1]) >= MAX_BATCH_ROWS or size + row_size > MAX_BATCH_BYTES):
            chunks.append([])
            size = 0
        chunks[-1].append(row)
        size += row_size
    return chunks


def _estimated_size(row: Mapping[str, Any]) -> int:
    size = 1024
    for prop in LARGE_PROPERTIES:
        value = row.get(prop)
        if isinstance(value, str):
            size += 2 * len(value)
    return size


def _rewind_rows(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
    """Apply the rewind edits in memory; return (changed rows in RowKey order, child instance ids)."""
    by_event_id: dict[tuple[str, int], dict[str, Any]] = {}
    for row in rows:
        by_event_id.setdefault((str(row.get("EventType")), int(row.get("EventId", -1))), row)
    changed: dict[str, dict[str, Any]] = {}
    children: list[str] = []

    def mark(row: dict[str, Any], *, keep_type: bool = False) -> None:
        row["Reason"] = f"Rewound: {row['EventType']}"
        if not keep_type:
            row["EventType"] = EventType.GenericEvent.name
        changed[row["RowKey"]] = row

    for row in rows:
        event_type = row.get("EventType")
        if event_type == EventType.TaskFailed.name:
            scheduled = by_event_id.get((EventType.TaskScheduled.name, int(row.get("TaskScheduledId", -1))))
            if scheduled is not None and scheduled["RowKey"] not in changed:
                mark(scheduled)
            mark(row)
        elif event_type == EventType.SubOrchestrationInstanceFailed.name:
            created = by_event_id.get(
                (EventType.SubOrchestrationInstanceCreated.name, int(row.get("TaskScheduledId", -1)))
            )
            if created is not None:
                mark(created, keep_type=True)
                if created.get("InstanceId"):
                    children.append(str(created["InstanceId"]))
            mark(row)
        elif event_type == EventType.ExecutionCompleted.name and row.get("OrchestrationStatus") == "Failed":
            mark(row)
    return [changed[k] for k in sorted(changed)], children
