"""One task hub's storage: every table, queue and container, created, described and deleted together.

Resources (DTFx names; ``H`` = hub name as given, ``h`` = lower-cased):
tables ``{H}History`` and ``{H}Instances``; queues ``{h}-control-NN`` and ``{h}-workitems``;
containers ``{h}-largemessages`` and ``{h}-applease`` (the app lease, :mod:`.app_lease`); partition
ownership either in the ``{H}Partitions`` table (:mod:`.partition_table`, DTFx's table partition
manager) or in ``{h}-leases`` (``taskhub.json`` + one ``default/`` lease blob per partition,
:mod:`.leases`). Ours alone: the ``{H}Poison`` table (:mod:`.poison`), created when a first message
is set aside.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from azure.core.exceptions import ResourceNotFoundError

from ..errors import CorruptMessageError, StorageError
from .app_lease import AppLeaseStore, app_name_from_env
from .clients import RequestCounter, StorageClients
from .history_table import HistoryTable
from .instance_table import InstanceTable
from .leases import LeaseStore, PartitionLease
from .local_starts import LocalStarts
from .messages import decode_message
from .naming import (
    control_queue_name,
    partition_index,
    validate_hub_name,
    validate_partition_count,
    workitem_queue_name,
)
from .partition_table import PartitionTable, utc_now
from .payloads import PayloadStore
from .poison import PoisonRecord, PoisonStore
from .queues import TaskHubQueue

#: Options for a request that must fail fast when storage is unreachable (no SDK retries).
FAST_FAIL: dict[str, Any] = {"retry_total": 0, "connection_timeout": 5, "read_timeout": 10}


class TaskHubStorage:
    """The storage of one task hub, with one set of counted SDK clients."""

    def __init__(
        self,
        connection_string: str,
        hub_name: str,
        *,
        partition_count: int = 4,
        lease_duration: int = 30,
        max_dequeue_count: int = 10,
        counter: RequestCounter | None = None,
        table_partitions: bool | None = None,
        app_name: str | None = None,
        app_lease_duration: int = 60,
    ) -> None:
        self.hub_name = validate_hub_name(hub_name)
        self.partition_count = validate_partition_count(partition_count)
        self.clients = StorageClients(connection_string, counter)
        self.payloads = PayloadStore(self.clients, hub_name)
        self.history = HistoryTable(self.clients, hub_name, self.payloads)
        self.instances = InstanceTable(self.clients, hub_name, self.payloads)
        self.leases = LeaseStore(self.clients, hub_name, partition_count, lease_duration)
        #: Which layout this process creates and runs: the ``{H}Partitions`` table or blob leases
        #: (``None``: the one the hub already has, decided by :meth:`resolve_partition_layout`).
        self.table_partitions = table_partitions
        self.partition_table = PartitionTable(self.clients, hub_name, partition_count)
        self.app_lease = AppLeaseStore(
            self.clients,
            hub_name,
            app_name if app_name is not None else app_name_from_env(),
            app_lease_duration,
        )
        self.poison = PoisonStore(self.clients, hub_name, self.payloads)
        self.max_dequeue_count = max_dequeue_count
        self.control_queues = [
            TaskHubQueue(
                self.clients,
                control_queue_name(hub_name, i),
                self.payloads,
                self.poison,
                max_dequeue_count=max_dequeue_count,
            )
            for i in range(partition_count)
        ]
        self.workitems = TaskHubQueue(
            self.clients,
            workitem_queue_name(hub_name),
            self.payloads,
            self.poison,
            max_dequeue_count=max_dequeue_count,
        )
        #: Client starts made in this process, for a worker sharing this object (issue 14).
        self.local_starts = LocalStarts()
        self._created = False
        self._create_lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"TaskHubStorage({self.hub_name!r}, partition_count={self.partition_count})"

    def control_queue(self, index: int) -> TaskHubQueue:
        return self.control_queues[index]

    def control_queue_for(self, instance_id: str) -> TaskHubQueue:
        """The control queue of an instance (FNV-1a of its id modulo the partition count)."""
        return self.control_queues[partition_index(instance_id, self.partition_count)]

    def partition_of(self, instance_id: str) -> int:
        """Index of the control queue (partition) that owns ``instance_id``."""
        return partition_index(instance_id, self.partition_count)

    def queue_by_name(self, name: str) -> TaskHubQueue:
        """The control or work-item queue called ``name``."""
        if name == self.workitems.name:
            return self.workitems
        for queue in self.control_queues:
            if queue.name == name:
                return queue
        raise KeyError(f"{name!r} is not a queue of task hub {self.hub_name!r}")

    async def resolve_partition_layout(self) -> bool:
        """Whether this process uses the ``{H}Partitions`` table (``True``) or blob leases.

        Without a setting (``table_partitions`` ``None``) the hub keeps the layout it has: the table
        if it exists, else the blob leases if ``taskhub.json`` does (a hub made before the table
        manager, or with ``useTablePartitionManagement: false``), else — a new hub — the table.
        Changing the layout of a hub whose workers are running is only safe one layout after the
        other, so it is never done by default.
        """
        if self.table_partitions is None:
            has_table, info = await asyncio.gather(
                self.partition_table.exists(), self.leases.read_taskhub_info()
            )
            self.table_partitions = has_table or info is None
        return self.table_partitions

    async def create_if_not_exists(self) -> None:
        """Create every resource of the hub that is missing; later calls on this object are free."""
        if self._created:
            return
        async with self._create_lock:
            if self._created:
                return
            await self.resolve_partition_layout()
            await asyncio.gather(
                self.history.create(),
                self.instances.create(),
                *(q.create() for q in self.control_queues),
                self.workitems.create(),
                self.partition_table.create_if_not_exists()
                if self.table_partitions
                else self.leases.create_if_not_exists(),
                self.app_lease.create_if_not_exists(),
                self.payloads.ensure_container(),
            )
            self._created = True

    async def delete(self) -> None:
        """Delete every resource of the hub: queues (all control queues, whatever the partition count),
        the tables (poison and ``{H}Partitions`` included), the lease, app-lease and large-message
        containers (an app lease another app holds is broken first)."""
        h = self.hub_name.lower()
        own_queue = re.compile(rf"^{re.escape(h)}-(control-\d{{2}}|workitems|poison)$")
        queues = [q.name async for q in self.clients.queues.list_queues(name_starts_with=f"{h}-")]
        await asyncio.gather(
            *(
                self._ignore_missing(self.clients.queues.delete_queue(q))
                for q in queues
                if own_queue.match(q)
            ),
            *(
                self._ignore_missing(self.clients.tables.delete_table(t))
                for t in (self.history.table_name, self.instances.table_name, self.poison.table_name)
            ),
            self.partition_table.delete(),
            *(
                self._ignore_missing(self.clients.blobs.delete_container(c))
                for c in (self.leases.container_name, self.payloads.container_name)
            ),
            self.app_lease.delete(break_foreign=True),
        )
        self._created = False

    @staticmethod
    async def _ignore_missing(call: Any) -> None:
        try:
            await call
        except ResourceNotFoundError:
            pass

    async def exists(self, **request_options: Any) -> bool:
        """The hub was created, in either layout: ``taskhub.json`` or the ``{H}Partitions`` table."""
        info, table = await asyncio.gather(
            self.leases.read_taskhub_info(**request_options), self.partition_table.exists(**request_options)
        )
        return info is not None or table

    async def recorded_partition_count(self) -> int | None:
        """The partition count the hub records, as DTFx's scale monitor reads it: the number of
        ``{H}Partitions`` rows if that table exists, else ``taskhub.json``'s ``PartitionCount``."""
        try:
            rows = await self.partition_table.list()
        except ResourceNotFoundError:
            rows = []
        if rows:
            return len(rows)
        info = await self.leases.read_taskhub_info()
        count = (info or {}).get("PartitionCount")
        return int(count) if count else None

    async def partition_layouts(self) -> tuple[list[str], list[PartitionLease]]:
        """Which ownership layouts the hub has (``table``; ``blob``: our/DTFx legacy ``default/``
        leases; ``safe``: DTFx's ``ownership/`` leases, read only) and each partition's owner.

        An owner is *live* (``leased``) while its table row has not expired or its lease blob is
        leased; a partition live in neither layout shows the owner last recorded, not leased.
        """
        layouts: list[str] = []
        now = utc_now()
        try:
            rows = {row.row_key: row for row in await self.partition_table.list()}
            layouts.append("table")
        except ResourceNotFoundError:
            rows = {}
        try:
            # "ownership": DTFx's "safe" manager (DF 2.x default), read only to show a .NET app's owners
            found = await self.leases.list_types("default", "ownership")
            blobs = {lease.partition_id: lease for lease in found["default"]}
            safe = {lease.partition_id: lease for lease in found["ownership"]}
        except ResourceNotFoundError:
            blobs, safe = {}, {}
        layouts += [name for name, found in (("blob", blobs), ("safe", safe)) if found]
        merged: list[PartitionLease] = []
        for queue in self.control_queues:
            row, blob, owned = rows.get(queue.name), blobs.get(queue.name), safe.get(queue.name)
            if row is not None and row.live_owner(now):
                merged.append(PartitionLease(queue.name, row.current_owner, 0, True, None))
            elif blob is not None and blob.leased:
                merged.append(blob)
            elif owned is not None and owned.leased:
                merged.append(owned)
            elif blob is not None and row is None:
                merged.append(blob)
            elif row is not None:
                merged.append(PartitionLease(queue.name, row.current_owner, 0, False, None))
        return layouts, merged

    async def partition_leases(self) -> list[PartitionLease]:
        """Each partition's owner, from the table rows and the lease blobs (see :meth:`partition_layouts`)."""
        return (await self.partition_layouts())[1]

    async def describe(self) -> dict[str, Any]:
        """Partitions (owner, lease, queue length), work items, poison messages and instance counts."""
        try:
            (layouts, leases), lengths, workitems, poison, instances, app_lease = await asyncio.gather(
                self.partition_layouts(),
                asyncio.gather(*(q.approximate_count() for q in self.control_queues)),
                self.workitems.approximate_count(),
                self.poison.count(),
                self.instances.count_by_status(),
                self.app_lease.holder(),
            )
        except ResourceNotFoundError as e:
            raise StorageError(
                f"task hub {self.hub_name!r} does not exist or is incomplete: {e.reason}"
            ) from e
        by_partition = {lease.partition_id: lease for lease in leases}
        partitions = []
        for queue, length in zip(self.control_queues, lengths, strict=True):
            lease = by_partition.get(queue.name)
            partitions.append(
                {
                    "partition": queue.name,
                    "owner": lease.owner if lease else None,
                    "leased": bool(lease and lease.leased),
                    "messages": length,
                }
            )
        return {
            "hub": self.hub_name,
            "partitionCount": self.partition_count,
            "partitionLayouts": layouts,
            "appLease": {"ownerId": app_lease[0], "leased": app_lease[1]},
            "partitions": partitions,
            "workItems": workitems,
            "poison": poison,
            "instances": instances,
        }

    async def retry_poison(self, message_id: str) -> PoisonRecord | None:
        """Put a set-aside message back on the queue it came from, then forget its record.

        The body goes back as it was recorded: a message that decodes is sent again (through a
        large-message blob when it is large), anything else exactly as received. Returns the record
        (``None`` when there is none). Raises ``KeyError`` when its queue is not one of this hub's.
        """
        record = await self.poison.get(message_id)
        if record is None:
            return None
        queue = self.queue_by_name(record.queue)
        body = record.body or ""
        try:
            message = decode_message(body)
        except (CorruptMessageError, RecursionError, ValueError, TypeError, KeyError):
            message = body
        if isinstance(message, str):
            await queue.send_text(body)
        else:
            await queue.send(message)
        await self.poison.delete(record)
        return record

    async def ping(self) -> None:
        """One quick request to each service (no retries); raises when one cannot be reached."""
        await asyncio.gather(
            self.workitems.approximate_count(**FAST_FAIL),
            self.leases.read_taskhub_info(**FAST_FAIL),
            self.history.sentinel_etag("ping", **FAST_FAIL),
        )

    async def close(self) -> None:
        await self.clients.close()

    async def __aenter__(self) -> TaskHubStorage:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
