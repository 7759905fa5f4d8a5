"""The poison store: messages the engine gave up on, each with the reason and its original body.

DTFx has no poison handling (research-13 §3: it abandons such a message forever, logging
``PoisonMessageDetected``); this store is ours. It is the table ``{Hub}Poison`` (not a DTFx
resource; created on first use, so a hub without poison messages has no extra table):

* ``PartitionKey`` = the queue the message came from (and goes back to on retry), ``RowKey`` = its
  queue message id, which is the record's id. Recording one message twice (a worker died between the
  record and the delete) keeps one row.
* ``Reason`` (why it was set aside), ``Body`` (the queue body as received, or the envelope of a message
  that was decoded), ``DequeueCount``, ``SetAsideAt``, and ``InstanceId``/``EventType`` when known.
* A body too long for a table property is gzip'd into the large-message container as
  ``poison/{queue}/{messageId}.txt.gz`` and named by ``BodyBlobName``.

:func:`is_permanent_error` says which failures cannot succeed by trying again (they go here at once).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError

from ..errors import CorruptMessageError
from .clients import StorageClients
from .naming import odata_string
from .payloads import PayloadStore, table_property_too_large
from .values import read_datetime, read_int

__all__ = ["PoisonRecord", "PoisonStore", "is_permanent_error", "poison_table_name"]

_MAX_REASON_CHARS = 8000
_LIST_COLUMNS = [
    "PartitionKey",
    "RowKey",
    "Reason",
    "DequeueCount",
    "SetAsideAt",
    "InstanceId",
    "EventType",
    "BodyBlobName",
]
#: Azure Storage answers these for a request that is wrong in itself (a key or property too long,
#: an invalid value, a body too large): sending it again cannot succeed.
_PERMANENT_STATUS = frozenset({400, 413, 414})


def poison_table_name(hub: str) -> str:
    """``{Hub}Poison``: where set-aside messages are kept (a durable-azure table, not a DTFx one)."""
    return f"{hub}Poison"


def is_permanent_error(error: BaseException) -> bool:
    """True when ``error`` (or an error it was raised from) cannot go away by retrying: a corrupt
    message, JSON nested too deep to decode, or a request Azure Storage rejects as invalid (400/413)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, (CorruptMessageError, RecursionError)):
            return True
        if isinstance(current, HttpResponseError) and current.status_code in _PERMANENT_STATUS:
            return True
        current = current.__cause__ or current.__context__
    return False


@dataclass(frozen=True, slots=True)
class PoisonRecord:
    """One set-aside message. ``body`` is ``None`` in listings (read one record for it)."""

    message_id: str
    queue: str
    reason: str
    dequeue_count: int
    set_aside_at: datetime | None
    instance_id: str | None = None
    event_type: str | None = None
    body: str | None = None
    body_blob_name: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.message_id,
            "queue": self.queue,
            "reason": self.reason,
            "dequeueCount": self.dequeue_count,
            "setAsideAt": self.set_aside_at.isoformat() if self.set_aside_at else None,
            "instanceId": self.instance_id,
            "eventType": self.event_type,
        }
        if self.body is not None:
            out["body"] = self.body
        return out


class PoisonStore:
    """Records, lists, reads and deletes set-aside messages of one task hub."""

    def __init__(self, clients: StorageClients, hub: str, payloads: PayloadStore) -> None:
        self.table_name = poison_table_name(hub)
        self._table = clients.tables.get_table_client(self.table_name)
        self._payloads = payloads

    async def create(self) -> None:
        try:
            await self._table.create_table()
        except ResourceExistsError:
            pass

    async def put(
        self,
        *,
        queue: str,
        message_id: str,
        reason: str,
        body: str,
        dequeue_count: int,
        instance_id: str | None = None,
        event_type: str | None = None,
    ) -> None:
        """Record one message (an upsert: recording the same message again replaces the record)."""
        entity: dict[str, Any] = {
            "PartitionKey": queue,
            "RowKey": message_id,
            "Reason": reason[:_MAX_REASON_CHARS],
            "DequeueCount": dequeue_count,
            "SetAsideAt": datetime.now(timezone.utc),
        }
        if instance_id:
            entity["InstanceId"] = instance_id
        if event_type:
            entity["EventType"] = event_type
        if table_property_too_large(body):
            blob_name = f"poison/{queue}/{message_id}.txt.gz"
            await self._payloads.upload(blob_name, body)
            entity["BodyBlobName"] = blob_name
        else:
            entity["Body"] = body
        try:
            await self._table.upsert_entity(entity)
        except ResourceNotFoundError:  # first poison message of this hub: create the table
            await self.create()
            await self._table.upsert_entity(entity)

    async def list(self, *, queue: str | None = None, instance_id: str | None = None) -> list[PoisonRecord]:
        """Every record (without bodies), oldest first; optionally only one queue's or instance's."""
        filters = []
        if queue:
            filters.append(f"PartitionKey eq {odata_string(queue)}")
        if instance_id:
            filters.append(f"InstanceId eq {odata_string(instance_id)}")
        try:
            if filters:
                pages = self._table.query_entities(" and ".join(filters), select=_LIST_COLUMNS)
            else:
                pages = self._table.list_entities(select=_LIST_COLUMNS)
            records = [_record(row) for row in [row async for row in pages]]
        except ResourceNotFoundError:
            return []
        epoch = datetime.min.replace(tzinfo=timezone.utc)
        return sorted(records, key=lambda r: (r.set_aside_at or epoch, r.message_id))

    async def get(self, message_id: str) -> PoisonRecord | None:
        """The record with id ``message_id``, its body included, or ``None``."""
        try:
            rows = [row async for row in self._table.query_entities(f"RowKey eq {odata_string(message_id)}")]
        except ResourceNotFoundError:
            return None
        if not rows:
            return None
        record = _record(rows[0])
        if record.body is None and record.body_blob_name:
            try:
                body = await self._payloads.download(record.body_blob_name)
            except ResourceNotFoundError:
                body = ""
            record = dataclasses.replace(record, body=body)
        return record

    async def delete(self, record: PoisonRecord) -> None:
        """Forget a record (and its body blob); a record already gone is fine."""
        try:
            await self._table.delete_entity(record.queue, record.message_id)
        except ResourceNotFoundError:
            pass
        if record.body_blob_name:
            await self._payloads.delete_prefix(record.body_blob_name)

    async def count(self) -> int:
        try:
            rows = self._table.list_entities(select=["PartitionKey"], results_per_page=1000)
            return sum([1 async for _ in rows])
        except ResourceNotFoundError:
            return 0

    async def delete_table(self) -> None:
        try:
            await self._table.delete_table()
        except ResourceNotFoundError:
            pass


def _record(row: Any) -> PoisonRecord:
    return PoisonRecord(
        message_id=str(row["RowKey"]),
        queue=str(row["PartitionKey"]),
        reason=str(row.get("Reason") or ""),
        dequeue_count=read_int(row.get("DequeueCount"), 0),
        set_aside_at=read_datetime(row.get("SetAsideAt")),
        instance_id=row.get("InstanceId") or None,
        event_type=row.get("EventType") or None,
        body=row.get("Body"),
        body_blob_name=row.get("BodyBlobName") or None,
    )
