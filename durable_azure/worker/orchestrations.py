"""The orchestration dispatcher: control-queue batches in, one episode per instance, messages settled.

Per owned partition one loop receives up to 32 messages (plus what this process handed its inbox),
groups them by instance and takes each group in: duplicates and messages for older executions are
dropped, early timers re-armed, completions whose scheduling is not durable yet deferred. What is
left runs as one episode (:mod:`durable_azure.worker.episode`, which checkpoints it); only then are
the inbound messages deleted, off the critical path.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from typing import Any

from ..config import Settings
from ..orchestration import serialization
from ..orchestration.entity_request import EntityRequest, release_payload
from ..orchestration.history import (
    EventRaised,
    EventSent,
    ExecutionStarted,
    ExecutionTerminated,
    GenericEvent,
    HistoryEvent,
    OrchestrationStatus,
    TimerFired,
)
from ..registry import DurableRegistry
from ..storage.instance_table import InstanceUpdate
from ..storage.messages import TaskMessage, encode_message
from ..storage.queues import ReceivedMessage
from ..storage.status_rows import load_for_checkpoint
from ..storage.taskhub import TaskHubStorage
from .episode import EpisodeRunner
from .inboxes import Inbox, PartitionInboxes
from .instance_state import InstanceCache, InstanceState, completion_id, row_repair
from .outbound import LocalActivities, Outbound, OutboundSender
from .result_hold import ResultHold
from .timers import is_early, visibility_delay

log = logging.getLogger(__name__)

OUT_OF_ORDER_RETRY_SECONDS = 2.0
MAX_DEQUEUE_FOR_UNKNOWN_INSTANCE = 10
COALESCE_SECONDS = 0.02
#: Longest a finished activity's result waits in the inbox for its ``task_all`` siblings.
MAX_HOLD_SECONDS = 0.5

EntityHandler = Callable[[int, str, list[ReceivedMessage]], Awaitable[None]]


def _answers_unknown_task(state: InstanceState, messages: list[ReceivedMessage]) -> bool:
    """True when a message refers to a task or an execution the cached history does not know."""
    for received in messages:
        event = received.message.event
        execution = received.message.execution_id
        if (
            execution
            and state.execution_id
            and execution != state.execution_id
            and not isinstance(event, ExecutionStarted)
        ):
            return True
        answered = completion_id(event)
        if (
            answered is not None
            and answered not in state.scheduled_ids
            and answered not in state.answered_ids
        ):
            return True
    return False


class OrchestrationDispatcher:
    """Runs orchestration episodes for the partitions this worker owns."""

    def __init__(
        self,
        storage: TaskHubStorage,
        registry: DurableRegistry,
        settings: Settings,
        *,
        inboxes: PartitionInboxes,
        activities: LocalActivities,
        entity_handler: EntityHandler | None = None,
    ) -> None:
        self._storage = storage
        self._settings = settings
        self._inboxes = inboxes
        self._activities = activities
        self._entity_handler = entity_handler
        self.cache = InstanceCache()
        self._sender = OutboundSender(storage, settings, inboxes=inboxes, activities=activities)
        self._episodes = EpisodeRunner(storage, registry, self.cache, self._sender)
        self._loops: dict[int, tuple[asyncio.Task[None], asyncio.Event]] = {}
        self._settling: set[asyncio.Task[None]] = set()
        self._limit = asyncio.Semaphore(max(1, settings.max_concurrent_orchestrations))

    @property
    def episodes(self) -> int:
        """Episodes run so far (each continue-as-new counts)."""
        return self._episodes.episodes

    # ---- partition loops ----------------------------------------------------------------
    async def start_partition(self, index: int) -> None:
        if index in self._loops:
            return
        stop = asyncio.Event()
        inbox = self._inboxes.open(index)
        task = asyncio.create_task(
            self._partition_loop(index, inbox, stop), name=f"control-queue-{index:02d}"
        )
        self._loops[index] = (task, stop)

    async def stop_partition(self, index: int) -> None:
        entry = self._loops.pop(index, None)
        if entry is None:
            return
        inbox = self._inboxes.close(index)  # nothing is delivered to it from here on
        task, stop = entry
        stop.set()
        if inbox is not None:
            inbox.poller.wake()
        await task
        leftovers = inbox.messages if inbox is not None else []
        if leftovers:  # hand hidden messages (and work items) back to the queue for the next owner
            await self._abandon(leftovers, 0)
        partitions = self._storage.partition_count
        self.cache.drop_where(lambda instance_id: self._storage.partition_of(instance_id) == index)
        log.info("stopped partition %02d of %d", index, partitions, extra={"partition": index})

    async def stop(self) -> None:
        for index in list(self._loops):
            await self.stop_partition(index)
        if self._settling:
            await asyncio.gather(*self._settling, return_exceptions=True)

    async def _partition_loop(self, index: int, opened: Inbox, stop: asyncio.Event) -> None:
        queue = self._storage.control_queue(index)
        poller = opened.poller
        inbox = opened.messages  # PartitionInboxes.deliver appends to this very list
        batch_size = self._settings.control_queue_batch_size
        held = ResultHold(self.cache, batch_size, MAX_HOLD_SECONDS)
        clock = asyncio.get_running_loop().time
        while not stop.is_set():
            if inbox and len(inbox) < batch_size and self._more_results_coming(inbox):
                await asyncio.sleep(COALESCE_SECONDS)  # fan-in: gather results into fewer episodes
            local, kept = held.take_ready(inbox, clock())
            inbox[:] = kept
            polled: list[ReceivedMessage] = []
            if poller.poll_due(bool(local) or bool(held)):
                try:
                    polled = await queue.receive(batch_size, self._settings.control_queue_visibility_timeout)
                except Exception:
                    log.exception("receive from %s failed", queue.name, extra={"partition": index})
                    await asyncio.sleep(1.0)
                poller.polled(len(polled))
            released = held.release({m.message.instance_id for m in polled}) if polled else set()
            if released:  # another message for a held instance: one episode for all of them
                local += [m for m in inbox if m.message.instance_id in released]
                inbox[:] = [m for m in inbox if m.message.instance_id not in released]
            if local or polled:
                await self.process_batch(index, local + polled)
            if len(polled) >= batch_size or any(m.message.instance_id not in held for m in inbox):
                continue
            await poller.wait(held.deadline)

    def _more_results_coming(self, inbox: list[ReceivedMessage]) -> bool:
        return any(self._activities.pending_for(m.message.instance_id) for m in inbox)

    async def process_batch(self, index: int, batch: list[ReceivedMessage]) -> None:
        groups: dict[str, list[ReceivedMessage]] = {}
        for received in batch:
            groups.setdefault(received.message.instance_id, []).append(received)
        await asyncio.gather(*(self._guarded(index, iid, msgs) for iid, msgs in groups.items()))

    async def _guarded(self, index: int, instance_id: str, messages: list[ReceivedMessage]) -> None:
        async with self._limit:
            try:
                if instance_id.startswith("@") and self._entity_handler is not None:
                    await self._entity_handler(index, instance_id, messages)
                else:
                    await self._process_instance(index, instance_id, messages)
            except Exception:
                log.exception(
                    "episode failed; its messages will be retried", extra={"instance_id": instance_id}
                )
                self.cache.drop(instance_id)
                await self._abandon(messages, OUT_OF_ORDER_RETRY_SECONDS)

    # ---- one instance -------------------------------------------------------------------
    async def _state(self, instance_id: str, messages: list[ReceivedMessage]) -> InstanceState:
        if any(isinstance(m.message.event, GenericEvent) for m in messages):
            self.cache.drop(instance_id)  # a rewind rewrote history under us
        state = self.cache.get(instance_id)
        if state is not None and _answers_unknown_task(state, messages):
            # Another writer (say, the previous owner of a stolen partition) may have advanced the
            # instance since we cached it: re-read history before treating the message as early.
            self.cache.drop(instance_id)
            state = None
        if state is None:
            loaded, row = await load_for_checkpoint(self._storage, instance_id)
            state = InstanceState.from_history(list(loaded.events), loaded.etag, loaded.execution_id)
            state.row_etag = row.etag if row is not None else None
            state.row_repair = row_repair(state, row)
            self.cache.put(instance_id, state)
        return state

    async def _process_instance(self, index: int, instance_id: str, messages: list[ReceivedMessage]) -> None:
        now = datetime.now(timezone.utc)
        state = await self._state(instance_id, messages)
        to_delete: list[ReceivedMessage] = []
        to_abandon: list[ReceivedMessage] = []
        incoming: list[HistoryEvent] = []
        new_start: ExecutionStarted | None = None
        rearm: list[Outbound] = []

        for received in messages:
            event = received.message.event
            if isinstance(event, TimerFired) and is_early(event.fire_at, now):
                rearm.append(Outbound(received.message, delay=visibility_delay(event.fire_at, now)))
                to_delete.append(received)
                continue
            if isinstance(event, ExecutionStarted):
                if new_start is None and (
                    not state.history or state.is_terminal or state.execution_id != event.execution_id
                ):
                    if state.history and not state.is_terminal:
                        log.warning(
                            "ignoring a start of %s while execution %s is running",
                            instance_id,
                            state.execution_id,
                            extra={"instance_id": instance_id},
                        )
                        to_delete.append(received)
                        continue
                    new_start = event
                    incoming.append(event)
                else:
                    to_delete.append(received)  # duplicate start
                continue
            target_execution = new_start.execution_id if new_start else state.execution_id
            if (
                received.message.execution_id
                and target_execution
                and received.message.execution_id != target_execution
            ):
                log.info(
                    "dropping a %s for an older execution",
                    type(event).__name__,
                    extra={"instance_id": instance_id},
                )
                to_delete.append(received)
                continue
            answered = completion_id(event)
            if answered is not None and new_start is None:
                if answered in state.answered_ids or any(completion_id(e) == answered for e in incoming):
                    to_delete.append(received)  # duplicate delivery
                    continue
                if answered not in state.scheduled_ids:
                    to_abandon.append(received)  # its scheduling is not durable yet
                    continue
            incoming.append(event)

        consumed = [m for m in messages if m not in to_delete and m not in to_abandon]
        await self._sender.send_all(rearm)

        if new_start is None and not state.history:
            await self._no_such_instance(instance_id, consumed, incoming)
            await self._finish_messages(to_delete, to_abandon)
            return
        if new_start is None and state.is_terminal:
            await self._episodes.repair_row(instance_id, state)
            await self._release_orphaned_locks(instance_id, state, incoming)
            if incoming:
                log.info(
                    "instance already finished; discarding %d message(s)",
                    len(incoming),
                    extra={"instance_id": instance_id},
                )
            await self._finish_messages(to_delete + consumed, to_abandon)
            return
        if not incoming:
            await self._finish_messages(to_delete, to_abandon)
            return

        await self._episodes.run(index, instance_id, state, new_start, incoming, now)
        await self._finish_messages(to_delete + consumed, to_abandon)

    async def _release_orphaned_locks(
        self, instance_id: str, state: InstanceState, incoming: list[HistoryEvent]
    ) -> None:
        """A lock granted to an instance that already finished (say, terminated while waiting) is released."""
        grants = {e.name for e in incoming if isinstance(e, EventRaised)}
        if not grants:
            return
        releases: list[Outbound] = []
        for event in state.history:
            if not isinstance(event, EventSent) or event.name != "op":
                continue
            data = serialization.loads(event.input)
            if not isinstance(data, dict):
                continue
            request = EntityRequest.from_json(data)
            if request.id not in grants or not request.lockset:
                continue
            payload = release_payload(instance_id, request.id)
            for entity_id in request.lockset:
                release = EventRaised(name="release", input=payload, timestamp=datetime.now(timezone.utc))
                message = TaskMessage(
                    event=release,
                    instance_id=entity_id,
                    execution_id=None,
                    sender_instance_id=instance_id,
                    sender_execution_id=state.execution_id or "",
                )
                releases.append(Outbound(message))
        if releases:
            log.info(
                "releasing %d entity lock(s) granted after the instance finished",
                len(releases),
                extra={"instance_id": instance_id},
            )
            await self._sender.send_all(releases)

    async def _no_such_instance(
        self, instance_id: str, consumed: list[ReceivedMessage], incoming: list[HistoryEvent]
    ) -> None:
        """Messages for an instance with no history and no start message in this batch."""
        now = datetime.now(timezone.utc)
        for received in consumed:
            event = received.message.event
            if isinstance(event, ExecutionTerminated):
                # A Pending instance terminated before it ran: record it, as DTFx does.
                await self._storage.instances.merge(
                    instance_id,
                    InstanceUpdate(
                        status=OrchestrationStatus.Terminated,
                        output=event.input,
                        completed_time=now,
                        last_updated_time=now,
                    ),
                )
                await self._storage.control_queue_for(instance_id).delete(received)
            elif received.dequeue_count < MAX_DEQUEUE_FOR_UNKNOWN_INSTANCE:
                await self._storage.control_queue_for(instance_id).abandon(
                    received, min(2**received.dequeue_count, 60)
                )
            else:
                await self._storage.poison.put(
                    source_queue=self._storage.control_queue_for(instance_id).name,
                    message_id=received.message_id,
                    reason=f"instance '{instance_id}' does not exist (no start message arrived)",
                    body=encode_message(received.message),
                    dequeue_count=received.dequeue_count,
                )
                await self._storage.control_queue_for(instance_id).delete(received)

    # ---- queue helpers ------------------------------------------------------------------
    async def _finish_messages(self, delete: list[ReceivedMessage], abandon: list[ReceivedMessage]) -> None:
        """Delete consumed messages and abandon deferred ones, off the critical path.

        The history that consumed them is already durable, so the next episode need not wait; a
        message whose delete is lost is a harmless duplicate later (completions are de-duplicated).
        """
        tasks = [self._queue_of(m).delete(m) for m in delete]
        tasks += [self._queue_of(m).abandon(m, OUT_OF_ORDER_RETRY_SECONDS) for m in abandon]
        if tasks:
            task = asyncio.create_task(self._settle(tasks))
            self._settling.add(task)
            task.add_done_callback(self._settling.discard)

    async def _settle(self, tasks: list[Awaitable[Any]]) -> None:
        results = await asyncio.gather(*tasks, return_exceptions=True)
        for result in results:
            if isinstance(result, Exception):
                log.warning("could not delete or abandon a processed message: %s", result)

    async def _abandon(self, messages: list[ReceivedMessage], delay: float) -> None:
        try:
            await asyncio.gather(*(self._queue_of(m).abandon(m, delay) for m in messages))
        except Exception:
            log.warning(
                "could not abandon messages; they reappear after their visibility timeout", exc_info=True
            )

    def _queue_of(self, received: ReceivedMessage) -> Any:
        return self._storage.queue_by_name(received.queue_name)


__all__ = ["EntityHandler", "OrchestrationDispatcher"]
