"""The hub at a glance: instance counts, the last hour's throughput, partitions, queues, poison, workers.

Counts by status read two columns of every instance row (as ``durable-azure hub describe`` does);
the per-minute series read only the rows created or completed in the last hour (filtered on the
service). Queue depths are the queues' approximate counts; the age of the oldest message is that of
the message at the head of each queue (a peek: it changes nothing).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from azure.core.exceptions import ResourceNotFoundError

from ..errors import StorageError
from ..storage.instance_table import odata_datetime
from ..storage.leases import PartitionLease
from ..storage.poison import PoisonRecord
from ..storage.taskhub import TaskHubStorage
from ..storage.values import assume_utc, read_datetime

__all__ = ["MINUTES", "Overview", "PartitionView", "QueueView", "read_overview"]

MINUTES = 60
_EXCLUDE_ENTITIES = "(PartitionKey lt '@' or PartitionKey ge 'A')"
_POISON_SHOWN = 20


@dataclass(frozen=True, slots=True)
class QueueView:
    name: str
    depth: int
    oldest_age: float | None  # seconds since the head message was enqueued (None: empty)


@dataclass(frozen=True, slots=True)
class PartitionView:
    queue: QueueView
    owner: str | None
    leased: bool
    epoch: int


@dataclass(slots=True)
class Overview:
    hub: str
    now: datetime
    counts: dict[str, int]
    created_per_minute: list[int]  # oldest minute first; the last entry is the current minute
    completed_per_minute: list[int]
    partitions: list[PartitionView]
    workitems: QueueView
    poison_count: int
    poison: list[PoisonRecord]
    workers: dict[str, list[str]] = field(default_factory=dict)  # lease owner → partitions

    @property
    def total(self) -> int:
        return sum(self.counts.values())


async def _queue(storage: TaskHubStorage, name: str, depth: int, now: datetime) -> QueueView:
    client = storage.clients.queues.get_queue_client(name)
    try:
        peeked = await client.peek_messages(max_messages=1)
    except ResourceNotFoundError:
        return QueueView(name, 0, None)
    oldest = None
    if peeked and peeked[0].inserted_on is not None:
        oldest = max((now - assume_utc(peeked[0].inserted_on)).total_seconds(), 0.0)
    return QueueView(name, depth, oldest)


async def _per_minute(storage: TaskHubStorage, column: str, now: datetime) -> list[int]:
    since = now - timedelta(minutes=MINUTES - 1, seconds=now.second, microseconds=now.microsecond)
    table = storage.clients.tables.get_table_client(storage.instances.table_name)
    query = f"({column} ge {odata_datetime(since)}) and {_EXCLUDE_ENTITIES}"
    buckets = [0] * MINUTES
    async for entity in table.query_entities(query, select=["PartitionKey", column], results_per_page=1000):
        moment = read_datetime(entity.get(column))
        if moment is None:
            continue
        index = int((assume_utc(moment) - since).total_seconds() // 60)
        if 0 <= index < MINUTES:
            buckets[index] += 1
    return buckets


async def read_overview(storage: TaskHubStorage, *, now: datetime | None = None) -> Overview:
    """Everything the overview page shows, read concurrently. Raises :class:`StorageError` when the
    task hub does not exist."""
    now = now or datetime.now(timezone.utc)
    queues = [*storage.control_queues, storage.workitems]
    try:
        leases, depths, counts, created, completed, poison_count = await asyncio.gather(
            storage.leases.list(),
            asyncio.gather(*(q.approximate_count() for q in queues)),
            storage.instances.count_by_status(),
            _per_minute(storage, "CreatedTime", now),
            _per_minute(storage, "CompletedTime", now),
            storage.poison.count(),
        )
        views = await asyncio.gather(
            *(_queue(storage, q.name, d, now) for q, d in zip(queues, depths, strict=True))
        )
        poison = (await storage.poison.list())[:_POISON_SHOWN] if poison_count else []
    except ResourceNotFoundError as e:
        raise StorageError(
            f"task hub {storage.hub_name!r} does not exist or is incomplete: {e.reason}"
        ) from e
    by_queue: dict[str, PartitionLease] = {lease.partition_id: lease for lease in leases}
    partitions = []
    workers: dict[str, list[str]] = {}
    for view in views[:-1]:
        lease = by_queue.get(view.name)
        owner = lease.owner if lease and lease.leased else None
        partitions.append(
            PartitionView(view, owner, bool(lease and lease.leased), lease.epoch if lease else 0)
        )
        if owner:
            workers.setdefault(owner, []).append(view.name)
    return Overview(
        hub=storage.hub_name,
        now=now,
        counts=dict(sorted(counts.items())),
        created_per_minute=created,
        completed_per_minute=completed,
        partitions=partitions,
        workitems=views[-1],
        poison_count=poison_count,
        poison=poison,
        workers=workers,
    )
