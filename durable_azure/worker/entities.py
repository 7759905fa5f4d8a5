"""Runs entity batches for the worker: load state, apply the batch, checkpoint, delete messages.

Each batch is one checkpoint in the DTFx entity layout: history rows 0.. rewritten as a fresh
execution whose ``ExecutionStarted.Input`` is the scheduler state, guarded by the sentinel ETag,
then the Instances row (``Input`` = scheduler state, ``CustomStatus`` = entity status).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

from ..config import Settings
from ..entities.executor import SchedulerState, run_batch
from ..entities.messages import delivery_time
from ..errors import SplitBrainError
from ..orchestration.entity_id import EntityId
from ..orchestration.history import (
    EventRaised,
    EventSent,
    ExecutionStarted,
    HistoryEvent,
    OrchestrationStatus,
    OrchestratorCompleted,
    OrchestratorStarted,
)
from ..registry import DurableRegistry
from ..storage.instance_table import InstanceUpdate
from ..storage.messages import TaskMessage
from ..storage.queues import ReceivedMessage
from ..storage.status_rows import load_for_checkpoint, write_status_row
from ..storage.taskhub import TaskHubStorage
from ..telemetry import hooks as telemetry
from .settle import MessageSettler

log = logging.getLogger(__name__)


@dataclass
class _EntityState:
    scheduler: SchedulerState
    etag: str | None
    created: datetime | None
    row_etag: str | None  # the Instances row's ETag, read before our latest history append


class EntityDispatcher:
    """Processes the messages of one entity instance per call, as one batch and one checkpoint."""

    def __init__(
        self,
        storage: TaskHubStorage,
        registry: DurableRegistry,
        settings: Settings,
        *,
        wake: Callable[[str], None],
    ) -> None:
        self._storage = storage
        self._registry = registry
        self._settings = settings
        self._wake = wake
        self._settler = MessageSettler(storage, max_dequeue_count=settings.max_dequeue_count)
        self._cache: dict[str, _EntityState] = {}
        self._deleting: set[asyncio.Task[None]] = set()
        self.batches = 0
        self.operations = 0

    async def _load(self, instance_id: str) -> _EntityState:
        cached = self._cache.get(instance_id)
        if cached is not None:
            return cached
        loaded, row = await load_for_checkpoint(self._storage, instance_id)
        row_etag = row.etag if row is not None else None
        started = next((e for e in loaded.events if isinstance(e, ExecutionStarted)), None)
        scheduler = SchedulerState.from_json(started.input if started else None)
        return _EntityState(scheduler, loaded.etag, started.timestamp if started else None, row_etag)

    async def process(self, index: int, instance_id: str, messages: list[ReceivedMessage]) -> None:
        now = datetime.now(timezone.utc)
        try:
            entity = EntityId.get_entity_id(instance_id)
        except ValueError:
            await self._set_aside(messages, f"'{instance_id}' is not a valid entity id")
            return
        events = [m.message.event for m in messages if isinstance(m.message.event, EventRaised)]
        others = [m for m in messages if not isinstance(m.message.event, EventRaised)]
        if others:
            await self._set_aside(others, "entities only accept operation, lock and release messages")
        if not events:
            return
        try:
            await self._run(index, instance_id, entity, messages, others, events, now)
        except BaseException:
            self._cache.pop(instance_id, None)  # the batch did not commit: start again from storage
            raise

    async def _run(
        self,
        index: int,
        instance_id: str,
        entity: EntityId,
        messages: list[ReceivedMessage],
        others: list[ReceivedMessage],
        events: list[EventRaised],
        now: datetime,
    ) -> None:
        state = await self._load(instance_id)
        fn = self._registry.entity(entity.name)
        scheduler = SchedulerState.from_json(state.scheduler.to_json())  # the cache changes only on commit
        tel = telemetry.active()
        result = run_batch(fn, entity, scheduler, events, now, record=tel is not None)
        self.batches += 1
        self.operations += result.operations

        sends = [
            self._storage.control_queue_for(out.instance_id).send(
                TaskMessage(
                    event=out.event,
                    instance_id=out.instance_id,
                    execution_id=out.execution_id,
                    sender_instance_id=instance_id,
                    sender_execution_id="",
                ),
                visibility_delay=_delay(out.event.name, now),
            )
            for out in result.outgoing
        ]
        if sends:
            await asyncio.gather(*sends)
            for out in result.outgoing:
                self._wake(out.instance_id)

        execution_id = uuid.uuid4().hex
        scheduler_json = result.scheduler.to_json()
        created = state.created or now
        rows: list[HistoryEvent] = [
            OrchestratorStarted(timestamp=now),
            ExecutionStarted(
                name=instance_id,
                instance_id=instance_id,
                execution_id=execution_id,
                input=scheduler_json,
                timestamp=created,
            ),
        ]
        rows += [
            EventSent(
                event_id=i,
                instance_id=out.instance_id,
                name=out.event.name,
                input=out.event.input,
                timestamp=now,
            )
            for i, out in enumerate(result.outgoing)
        ]
        rows.append(OrchestratorCompleted(timestamp=now))
        try:
            etag = await self._storage.history.append(
                instance_id, execution_id, rows, start_index=0, etag=state.etag
            )
        except SplitBrainError:
            self._cache.pop(instance_id, None)
            raise
        row_etag = await write_status_row(
            self._storage,
            instance_id,
            InstanceUpdate(
                name=instance_id,
                version="",
                input=scheduler_json,
                custom_status=result.scheduler.status_json(),
                status=OrchestrationStatus.Running,
                last_updated_time=now,
                created_time=created,
                execution_id=execution_id,
            ),
            row_etag=state.row_etag,
            history_etag=etag,
        )
        if row_etag is None:  # another worker has run a newer batch; our cache is stale
            self._cache.pop(instance_id, None)
        else:
            self._cache[instance_id] = _EntityState(result.scheduler, etag, created, row_etag)
        if tel is not None:
            tel.entity_operations(entity.name, instance_id, result.records)
        # The batch is durable: delete its messages off the critical path, so the next batch starts now.
        consumed = [m for m in messages if m not in others]
        task = asyncio.create_task(self._delete(index, instance_id, consumed, result.applied))
        self._deleting.add(task)
        task.add_done_callback(self._deleting.discard)

    async def _delete(
        self, index: int, instance_id: str, messages: list[ReceivedMessage], applied: list[str]
    ) -> None:
        queue = self._storage.control_queue(index)
        deleted = await asyncio.gather(*(queue.delete(m) for m in messages), return_exceptions=True)
        if all(d is True for d in deleted):  # no copy can come back: forget this batch's request ids
            cached = self._cache.get(instance_id)
            if cached is not None:
                cached.scheduler.confirm(applied)

    async def drain(self) -> None:
        """Wait for background deletes (on shutdown)."""
        if self._deleting:
            await asyncio.gather(*self._deleting, return_exceptions=True)

    async def _set_aside(self, messages: list[ReceivedMessage], reason: str) -> None:
        for received in messages:
            await self._settler.set_aside(received, reason)

    def drop_partition(self, index: int) -> None:
        """Forget cached state of every entity in a partition this worker no longer owns."""
        for instance_id in [i for i in self._cache if self._storage.partition_of(i) == index]:
            del self._cache[instance_id]


def _delay(event_name: str, now: datetime) -> float:
    """Seconds to hide an ``op@<time>`` message (DTFx's ``TaskHubQueue.GetVisibilityDelay``), else 0."""
    due = delivery_time(event_name)
    return max(0.0, (due - now).total_seconds()) if due is not None else 0.0
