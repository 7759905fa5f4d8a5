"""``TaskHubWorker``: the engine for one app and one task hub, in any asyncio process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from ..config import Settings
from ..registry import DurableRegistry, registry_of
from ..storage.clients import RequestCounter
from ..storage.taskhub import TaskHubStorage
from ..telemetry import hooks as telemetry
from .activities import ActivityDispatcher
from .app_lease import AppLeaseGate
from .entities import EntityDispatcher
from .health import StorageHealth
from .inboxes import PartitionInboxes
from .orchestrations import OrchestrationDispatcher
from .partitions import PartitionManager, partition_index
from .table_partitions import TablePartitionManager

log = logging.getLogger(__name__)


class TaskHubWorker:
    """Runs orchestrations, activities and entities of ``app`` for the task hub ``hub_name``.

    Several workers (in one or many processes) can share a hub: they divide its control-queue
    partitions between them (the ``{Hub}Partitions`` table or blob leases) and rebalance when one
    joins or leaves.
    """

    def __init__(
        self,
        app: Any,
        connection_string: str,
        *,
        hub_name: str,
        counter: RequestCounter | None = None,
        **settings: Any,
    ) -> None:
        """A worker for ``app`` (a ``DFApp`` or ``DurableRegistry``); ``settings`` override :class:`Settings` fields."""
        merged = Settings(connection_string=connection_string, hub_name=hub_name).with_overrides(**settings)
        self._compose(registry_of(app), merged, counter)

    @classmethod
    def from_settings(
        cls,
        registry_or_app: Any,
        settings: Settings,
        *,
        counter: RequestCounter | None = None,
        receive_work_items: bool = True,
    ) -> TaskHubWorker:
        """A worker for ``registry_or_app`` (a ``DurableRegistry`` or ``DFApp``) with ``settings`` as given.

        ``receive_work_items=False``: someone else receives the work-item queue (the Functions host's
        queue trigger) and hands each message to ``worker.activities.run_delivered``.
        """
        worker = cls.__new__(cls)
        worker._compose(registry_of(registry_or_app), settings, counter, receive_work_items)
        return worker

    def _compose(
        self,
        registry: DurableRegistry,
        settings: Settings,
        counter: RequestCounter | None,
        receive_work_items: bool = True,
    ) -> None:
        """Build storage and the dispatchers; each gets its collaborators when it is constructed."""
        self.settings = settings
        self.registry = registry
        self.storage = TaskHubStorage(
            settings.connection_string,
            settings.hub_name,
            partition_count=settings.partition_count,
            lease_duration=settings.lease_duration,
            max_dequeue_count=settings.max_dequeue_count,
            counter=counter,
            table_partitions=settings.use_table_partition_management,
            app_name=settings.app_name,
            app_lease_duration=settings.app_lease_duration,
        )
        self.health = StorageHealth(self.storage.ping)
        self._inboxes = PartitionInboxes(self.storage.partition_of, settings.max_queue_polling_interval)
        self.activities = ActivityDispatcher(
            self.storage,
            registry,
            settings,
            results=self._inboxes,
            health=self.health,
            receive=receive_work_items,
        )
        self.entities = EntityDispatcher(self.storage, registry, settings, wake=self._inboxes.wake_instance)
        self.orchestrations = OrchestrationDispatcher(
            self.storage,
            registry,
            settings,
            inboxes=self._inboxes,
            activities=self.activities,
            entity_handler=self.entities.process,
            health=self.health,
        )
        self.partitions = self._partition_manager(settings)
        # Storage is back after an outage: renew and take leases, and poll every queue, now.
        self.health.on_recovered(lambda: self.partitions.maintain_now())  # the manager may be replaced
        self.health.on_recovered(self.orchestrations.wake_all)
        self.health.on_recovered(self.activities.wake)
        self._started = False

    def _partition_manager(
        self, settings: Settings, *, table: bool | None = None
    ) -> PartitionManager | TablePartitionManager | AppLeaseGate:
        """The table or blob partition manager (host.json ``useTablePartitionManagement``; unset: the
        hub's own layout, see :meth:`start`), behind the app lease (``useAppLease``), as DTFx
        composes them."""
        manager: PartitionManager | TablePartitionManager
        if table is None:
            table = settings.use_table_partition_management is not False
        if table:
            manager = TablePartitionManager(
                self.storage.partition_table,
                settings.worker_id,
                on_acquired=self.orchestrations.start_partition,
                on_lost=self._partition_lost,
                lease_interval=settings.lease_duration,
                acquire_interval=min(settings.lease_acquire_interval, settings.lease_renew_interval),
                health=self.health,
            )
        else:
            manager = PartitionManager(
                self.storage.leases,
                settings.worker_id,
                on_acquired=self.orchestrations.start_partition,
                on_lost=self._partition_lost,
                renew_interval=settings.lease_renew_interval,
                acquire_interval=settings.lease_acquire_interval,
                health=self.health,
            )
        if not settings.use_app_lease:
            return manager
        return AppLeaseGate(
            self.storage.app_lease,
            manager,
            renew_interval=settings.app_lease_renew_interval,
            acquire_interval=settings.app_lease_acquire_interval,
        )

    async def _partition_lost(self, index: int) -> None:
        await self.orchestrations.stop_partition(index)
        self.entities.drop_partition(index)

    def notify(self, instance_id: str) -> None:
        """A message for ``instance_id`` was just sent from this process: poll its partition now."""
        self._inboxes.wake_instance(instance_id)

    async def start(self) -> None:
        if self._started:
            return
        await self.storage.create_if_not_exists()
        table = await self.storage.resolve_partition_layout()
        inner = self.partitions.manager if isinstance(self.partitions, AppLeaseGate) else self.partitions
        if table != isinstance(inner, TablePartitionManager):  # the hub keeps its blob leases
            self.partitions = self._partition_manager(self.settings, table=table)
        await self.activities.start()
        await self.partitions.start()
        self._started = True
        tel = telemetry.active()
        if tel is not None:  # the queue-depth gauge
            self._depths = asyncio.create_task(tel.sample_queue_depths(self._queue_depths))
        log.info(
            "worker %s started on hub %s (%d partitions, owns %s)",
            self.settings.worker_id,
            self.settings.hub_name,
            self.settings.partition_count,
            sorted(self.partitions.owned),
        )

    async def stop(self) -> None:
        """Finish in-flight work, release partition leases and close storage clients."""
        if not self._started:
            await self.storage.close()
            return
        self._started = False
        depths = getattr(self, "_depths", None)
        if depths is not None:
            depths.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await depths
        await self.partitions.halt()  # no partition is taken from here on
        await self.orchestrations.stop()  # in-flight episodes finish
        await self.partitions.stop()  # then the leases go, to whoever is next
        await self.entities.drain()
        await self.activities.stop()
        await self.health.stop()
        await self.storage.close()
        log.info("worker %s stopped", self.settings.worker_id)

    async def _queue_depths(self) -> dict[tuple[str, int | None], int]:
        """Approximate message counts: the control queues of the partitions owned here, the work items."""
        owned = sorted(partition_index(p) for p in self.partitions.owned)
        counts = await asyncio.gather(
            *(self.storage.control_queue(i).approximate_count() for i in owned),
            self.storage.workitems.approximate_count(),
        )
        depths: dict[tuple[str, int | None], int] = {
            (self.storage.control_queue(i).name, i): n for i, n in zip(owned, counts, strict=False)
        }
        depths[(self.storage.workitems.name, None)] = counts[-1]
        return depths

    async def __aenter__(self) -> TaskHubWorker:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
