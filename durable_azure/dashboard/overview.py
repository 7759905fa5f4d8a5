"""The hub at a glance: instance counts, the last hour's throughput, partitions, queues, poison, workers.

Bounded, since the page refreshes itself every few seconds: counts by status read two columns of
at most :data:`COUNT_ROW_CAP` instance rows (in the table's order; ``durable-azure hub info``
counts them all), and each per-minute series at most that many rows created or completed in the
last hour (filtered on the service), and the poison table's rows likewise; the poison messages are
listed only up to :data:`POISON_LISTED_MAX` (then the page points at ``durable-azure poison list``).
Past a cap the page says the figures are partial. Queue depths are the queues' approximate counts;
the age of the oldest message is that of the message at the head of each queue (a peek: it changes
nothing).
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
from .queries import EXCLUDE_ENTITIES

__all__ = [
    "COUNT_ROW_CAP",
    "MINUTES",
    "POISON_LISTED_MAX",
    "Overview",
    "PartitionView",
    "QueueView",
    "read_overview",
]

MINUTES = 60
#: The most instance rows one overview reads for its counts (and for each per-minute series).
COUNT_ROW_CAP = 50_000
_POISON_SHOWN = 20
#: With more poison messages than this the overview counts them but reads none (the CLI lists them).
POISON_LISTED_MAX = 1000


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
    row_cap: int = COUNT_ROW_CAP  # the most rows each count reads
    poison_partial: bool = False  # more poison messages than the count reads
    counts_partial: bool = False  # the hub holds more instances than the counts read
    series_partial: bool = False  # more rows in the last hour than a per-minute series reads

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


async def _count_by_status(storage: TaskHubStorage, cap: int) -> tuple[dict[str, int], bool]:
    """Instances per runtime status over at most ``cap`` rows, and whether there were more."""
    table = storage.clients.tables.get_table_client(storage.instances.table_name)
    counts: dict[str, int] = {}
    seen = 0
    select = ["PartitionKey", "RuntimeStatus"]
    async for entity in table.query_entities(EXCLUDE_ENTITIES, select=select, results_per_page=1000):
        if seen == cap:
            return counts, True
        seen += 1
        status = str(entity.get("RuntimeStatus") or "")
        counts[status] = counts.get(status, 0) + 1
    return counts, False


async def _count_poison(storage: TaskHubStorage, cap: int) -> tuple[int, bool]:
    """Poison messages, counted up to ``cap``, and whether there were more (no table yet: none)."""
    table = storage.clients.tables.get_table_client(storage.poison.table_name)
    seen = 0
    try:
        async for _ in table.list_entities(select=["PartitionKey"], results_per_page=1000):
            if seen == cap:
                return seen, True
            seen += 1
    except ResourceNotFoundError:  # created with the first poison message
        return 0, False
    return seen, False


async def _per_minute(
    storage: TaskHubStorage, column: str, now: datetime, cap: int
) -> tuple[list[int], bool]:
    since = now - timedelta(minutes=MINUTES - 1, seconds=now.second, microseconds=now.microsecond)
    table = storage.clients.tables.get_table_client(storage.instances.table_name)
    query = f"({column} ge {odata_datetime(since)}) and {EXCLUDE_ENTITIES}"
    buckets = [0] * MINUTES
    seen = 0
    async for entity in table.query_entities(query, select=["PartitionKey", column], results_per_page=1000):
        if seen == cap:
            return buckets, True
        seen += 1
        moment = read_datetime(entity.get(column))
        if moment is None:
            continue
        index = int((assume_utc(moment) - since).total_seconds() // 60)
        if 0 <= index < MINUTES:
            buckets[index] += 1
    return buckets, False


async def read_overview(
    storage: TaskHubStorage, *, now: datetime | None = None, row_cap: int = COUNT_ROW_CAP
) -> Overview:
    """Everything the overview page shows, read concurrently (at most ``row_cap`` instance rows per
    count). Raises :class:`StorageError` when the task hub does not exist."""
    now = now or datetime.now(timezone.utc)
    queues = [*storage.control_queues, storage.workitems]
    try:
        leases, depths, counts, created, completed, poison_count = await asyncio.gather(
            storage.partition_leases(),  # {Hub}Partitions rows or lease blobs
            asyncio.gather(*(q.approximate_count() for q in queues)),
            _count_by_status(storage, row_cap),
            _per_minute(storage, "CreatedTime", now, row_cap),
            _per_minute(storage, "CompletedTime", now, row_cap),
            _count_poison(storage, row_cap),
        )
        views = await asyncio.gather(
            *(_queue(storage, q.name, d, now) for q, d in zip(queues, depths, strict=True))
        )
        listed = 0 < poison_count[0] <= POISON_LISTED_MAX and not poison_count[1]
        poison = (await storage.poison.list())[:_POISON_SHOWN] if listed else []
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
        counts=dict(sorted(counts[0].items())),
        created_per_minute=created[0],
        completed_per_minute=completed[0],
        partitions=partitions,
        workitems=views[-1],
        poison_count=poison_count[0],
        poison=poison,
        workers=workers,
        row_cap=row_cap,
        poison_partial=poison_count[1],
        counts_partial=counts[1],
        series_partial=created[1] or completed[1],
    )
