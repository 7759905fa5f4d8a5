"""The ``{Hub}Partitions`` table: DurableTask.AzureStorage's table partition manager layout.

Read from Azure/durabletask ``src/DurableTask.AzureStorage/Partitioning/TablePartitionLease.cs`` and
``TablePartitionManager.cs`` (commit ``5217032961abf45846f462732a5e2813316e3747``). One row per
control queue:

* ``PartitionKey`` = ``""`` (``TablePartitionLease.DefaultPartitionKey``), ``RowKey`` = the control
  queue's name (``myhub-control-02``);
* ``CurrentOwner`` (String), ``NextOwner`` (String) — worker ids, absent when null;
* ``OwnedSince``, ``LastRenewal``, ``ExpiresAt`` (Edm.DateTime, UTC), absent when null;
* ``IsDraining`` (Boolean).

DTFx serializes a null property as JSON ``null``, which the Table service does not store; the
Python SDK leaves it out: the stored rows are the same. Every change is a Replace guarded by the
row's ETag (``If-Match``); a ``412`` means another worker wrote first (:class:`PartitionRowConflict`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.data.tables import UpdateMode

from ..errors import StorageError
from .clients import StorageClients
from .naming import control_queue_name, validate_partition_count
from .values import read_datetime

#: ``TablePartitionLease.DefaultPartitionKey``.
PARTITION_KEY = ""
#: Table requests fail fast (no SDK retries): the manager's next pass tries again.
TABLE_REQUEST: dict[str, Any] = {"retry_total": 0, "connection_timeout": 5, "read_timeout": 10}


class PartitionRowConflict(StorageError):
    """A ``{Hub}Partitions`` row changed since it was read (412 on its ETag-guarded Replace)."""


def partition_table_name(hub: str) -> str:
    """``AzureStorageOrchestrationServiceSettings.PartitionTableName``: ``{TaskHubName}Partitions``."""
    return f"{hub}Partitions"


@dataclass(frozen=True, slots=True)
class TablePartitionLease:
    """One row of ``{Hub}Partitions`` as read (``etag`` guards the next write)."""

    row_key: str
    current_owner: str | None = None
    next_owner: str | None = None
    owned_since: datetime | None = None
    last_renewal: datetime | None = None
    expires_at: datetime | None = None
    is_draining: bool = False
    etag: str | None = None

    @property
    def partition_id(self) -> str:
        return self.row_key

    def expired(self, now: datetime) -> bool:
        """``DateTime.UtcNow >= partition.ExpiresAt`` (a null ``ExpiresAt`` never expires)."""
        return self.expires_at is not None and now >= self.expires_at

    def live_owner(self, now: datetime) -> str | None:
        """The owner whose lease has not expired, if any."""
        return self.current_owner if self.current_owner and not self.expired(now) else None

    def to_entity(self) -> dict[str, Any]:
        """The entity DTFx's ``ReplaceEntityAsync`` stores (null columns left out)."""
        entity: dict[str, Any] = {
            "PartitionKey": PARTITION_KEY,
            "RowKey": self.row_key,
            "CurrentOwner": self.current_owner,
            "NextOwner": self.next_owner,
            "OwnedSince": self.owned_since,
            "LastRenewal": self.last_renewal,
            "ExpiresAt": self.expires_at,
            "IsDraining": self.is_draining,
        }
        return {k: v for k, v in entity.items() if v is not None}

    @classmethod
    def from_entity(cls, entity: Any) -> TablePartitionLease:
        metadata = getattr(entity, "metadata", None) or {}
        return cls(
            row_key=str(entity["RowKey"]),
            current_owner=entity.get("CurrentOwner") or None,
            next_owner=entity.get("NextOwner") or None,
            owned_since=read_datetime(entity.get("OwnedSince")),
            last_renewal=read_datetime(entity.get("LastRenewal")),
            expires_at=read_datetime(entity.get("ExpiresAt")),
            is_draining=bool(entity.get("IsDraining") or False),
            etag=metadata.get("etag"),
        )

    def changed(self, **fields: Any) -> TablePartitionLease:
        return replace(self, **fields)


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


class PartitionTable:
    """Creates, reads, writes (ETag-guarded) and deletes the ``{Hub}Partitions`` table of one hub."""

    def __init__(self, clients: StorageClients, hub: str, partition_count: int) -> None:
        self.hub = hub
        self.table_name = partition_table_name(hub)
        self.partition_ids = [
            control_queue_name(hub, i) for i in range(validate_partition_count(partition_count))
        ]
        self._table = clients.tables.get_table_client(self.table_name)
        self._service = clients.tables

    async def create_if_not_exists(self) -> None:
        """``CreateLeaseStore`` + ``CreateLease`` for every control queue (an existing row is kept)."""
        try:
            await self._service.create_table(self.table_name)
            missing = self.partition_ids
        except ResourceExistsError:  # usually complete already: one query instead of an insert per row
            present = {row.row_key for row in await self.list()}
            missing = [pid for pid in self.partition_ids if pid not in present]
        await asyncio.gather(*(self._create_row(pid) for pid in missing))

    async def _create_row(self, partition_id: str) -> None:
        try:  # new TablePartitionLease { RowKey = partitionId }: only IsDraining = false is stored
            await self._table.create_entity(TablePartitionLease(partition_id).to_entity())
        except ResourceExistsError:
            pass

    async def exists(self, **request_options: Any) -> bool:
        query = f"TableName eq '{self.table_name}'"  # hub names are letters and digits only
        async for _ in self._service.query_tables(query, **request_options):
            return True
        return False

    async def list(self) -> list[TablePartitionLease]:
        """Every row (``ExecuteQueryAsync<TablePartitionLease>``: the whole table, any row key)."""
        rows = [
            TablePartitionLease.from_entity(e)
            async for e in self._table.query_entities(f"PartitionKey eq '{PARTITION_KEY}'", **TABLE_REQUEST)
        ]
        return sorted(rows, key=lambda row: row.row_key)

    async def replace(self, row: TablePartitionLease, etag: str | None) -> TablePartitionLease:
        """Replace the row if its ETag is still ``etag``; the row as written, with its new ETag."""
        try:
            result = await self._table.update_entity(
                row.to_entity(),
                mode=UpdateMode.REPLACE,
                etag=etag,
                match_condition=MatchConditions.IfNotModified,
                **TABLE_REQUEST,
            )
        except HttpResponseError as e:
            if e.status_code in (404, 409, 412):
                raise PartitionRowConflict(
                    f"partition row {row.row_key} of {self.table_name} changed since it was read"
                ) from e
            raise
        return row.changed(etag=(result or {}).get("etag"))

    async def delete(self) -> None:
        """``TablePartitionManager.DeleteLeases``: drop the whole table."""
        try:
            await self._service.delete_table(self.table_name)
        except ResourceNotFoundError:
            pass
