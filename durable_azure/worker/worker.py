"""``TaskHubWorker``: the engine for one app and one task hub, in any asyncio process."""

from __future__ import annotations

import logging
from typing import Any

from ..config import Settings
from ..registry import registry_of
from ..storage.clients import RequestCounter
from ..storage.queues import ReceivedMessage
from ..storage.taskhub import TaskHubStorage
from .activities import ActivityDispatcher
from .entities import EntityDispatcher
from .orchestrations import OrchestrationDispatcher
from .partitions import PartitionManager

log = logging.getLogger(__name__)


class TaskHubWorker:
    """Runs orchestrations, activities and entities of ``app`` for the task hub ``hub_name``.

    Several workers (in one or many processes) can share a hub: they divide its control-queue
    partitions between them through blob leases and rebalance when one joins or leaves.
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
        self.settings = Settings(connection_string=connection_string, hub_name=hub_name).with_overrides(
            **settings
        )
        self.registry = registry_of(app)
        self.storage = TaskHubStorage(
            self.settings.connection_string,
            self.settings.hub_name,
            partition_count=self.settings.partition_count,
            lease_duration=self.settings.lease_duration,
            counter=counter,
        )
        self.activities = ActivityDispatcher(
            self.storage, self.registry, self.settings, on_result_sent=self._result_sent
        )
        self.orchestrations = OrchestrationDispatcher(
            self.storage,
            self.registry,
            self.settings,
            on_work_items_sent=self.activities.wake,
            entity_handler=self._process_entity,
        )
        self.orchestrations.local_activities = self.activities
        self.activities.deliver_result = self.orchestrations.deliver_local
        self.activities.owns_instance = lambda instance_id: self.orchestrations.owns(
            self.storage.partition_of(instance_id)
        )
        self.entities = EntityDispatcher(self.storage, self.registry, self.settings, wake=self.notify)
        self.partitions = PartitionManager(
            self.storage.leases,
            self.settings.worker_id,
            on_acquired=self.orchestrations.start_partition,
            on_lost=self._partition_lost,
            renew_interval=self.settings.lease_renew_interval,
            acquire_interval=self.settings.lease_acquire_interval,
        )
        self._started = False

    async def _process_entity(self, index: int, instance_id: str, messages: list[ReceivedMessage]) -> None:
        await self.entities.process(index, instance_id, messages)

    async def _partition_lost(self, index: int) -> None:
        await self.orchestrations.stop_partition(index)
        self.entities.drop_partition(index)

    def _result_sent(self, instance_id: str) -> None:
        self.orchestrations.wake_instance(instance_id)

    def notify(self, instance_id: str) -> None:
        """A message for ``instance_id`` was just sent from this process: poll its partition now."""
        self.orchestrations.wake_instance(instance_id)

    async def start(self) -> None:
        if self._started:
            return
        await self.storage.create_if_not_exists()
        await self.activities.start()
        await self.partitions.start()
        self._started = True
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
        await self.partitions.stop()
        await self.orchestrations.stop()
        await self.entities.drain()
        await self.activities.stop()
        await self.storage.close()
        log.info("worker %s stopped", self.settings.worker_id)

    async def __aenter__(self) -> TaskHubWorker:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
