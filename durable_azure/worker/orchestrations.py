"""The orchestration dispatcher: control-queue batches → replay → checkpoint.

Per owned partition one loop receives up to 32 messages, groups them by instance and runs one
episode per instance. Checkpoint order (ARCHITECTURE.md): send outbound messages, append
history guarded by the sentinel ETag, merge the Instances row when something users see changed,
delete the inbound messages. Nothing is deleted before the history that consumed it is durable.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from typing import Any, Protocol

from ..config import Settings
from ..errors import FunctionNotFoundError, SplitBrainError
from ..orchestration import serialization
from ..orchestration.context import DurableOrchestrationContext
from ..orchestration.entity_request import EntityRequest, release_payload
from ..orchestration.executor import Completion, OrchestrationResult, ReplaySession
from ..orchestration.history import (
    EventRaised,
    EventSent,
    ExecutionResumed,
    ExecutionStarted,
    ExecutionSuspended,
    ExecutionTerminated,
    GenericEvent,
    HistoryEvent,
    OrchestrationStatus,
    OrchestratorCompleted,
    OrchestratorStarted,
    TimerFired,
)
from ..registry import DurableRegistry
from ..storage.messages import TaskMessage, encode_message
from ..storage.payloads import table_property_too_large
from ..storage.queues import ReceivedMessage
from ..storage.status_rows import load_for_checkpoint, write_status_row
from ..storage.taskhub import TaskHubStorage
from .instance_state import InstanceCache, InstanceState, completion_id, execution_columns, row_repair
from .outbound import Outbound, new_execution_id, outbound_messages, parent_notification
from .polling import Poller
from .result_hold import ResultHold
from .timers import is_early, visibility_delay

log = logging.getLogger(__name__)

MAX_CONTINUE_AS_NEW_PER_EPISODE = 20
OUT_OF_ORDER_RETRY_SECONDS = 2.0
MAX_DEQUEUE_FOR_UNKNOWN_INSTANCE = 10
COALESCE_SECONDS = 0.02
#: Longest a finished activity's result waits in the inbox for its ``task_all`` siblings.
MAX_HOLD_SECONDS = 0.5
LOCAL_TIMER_HORIZON_SECONDS = 300.0
MAX_PARALLEL_SENDS = 32  # a fan-out of thousands must not monopolise the event loop


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


def _stamp_end(result: OrchestrationResult) -> OrchestrationResult:
    """Stamp the episode's OrchestratorCompleted with the wall-clock end (the pure core has no clock)."""
    events = result.new_events
    if events and isinstance(events[-1], OrchestratorCompleted):
        events[-1] = dataclasses.replace(events[-1], timestamp=datetime.now(timezone.utc))
    return result


async def _gather_limited(coroutines: list[Awaitable[bool]], limit: int) -> list[bool]:
    """``asyncio.gather`` with at most ``limit`` awaitables in flight, results in order."""
    if len(coroutines) <= limit:
        return list(await asyncio.gather(*coroutines))
    gate = asyncio.Semaphore(limit)

    async def run(coroutine: Awaitable[bool]) -> bool:
        async with gate:
            return await coroutine

    return list(await asyncio.gather(*(run(c) for c in coroutines)))


EntityHandler = Callable[[int, str, list[ReceivedMessage]], Awaitable[None]]


class LocalActivities(Protocol):
    """The activity dispatcher's in-process entry: reserve a slot, then run a sent work item."""

    def reserve(self) -> bool: ...

    def run(self, received: ReceivedMessage) -> None: ...

    def pending_for(self, instance_id: str) -> int: ...


def _missing_orchestrator(name: str, known: list[str]) -> Callable[[DurableOrchestrationContext], Any]:
    def orchestrator(context: DurableOrchestrationContext) -> Any:
        raise FunctionNotFoundError(
            f"No orchestrator named '{name}' is registered in this app "
            f"(registered: {', '.join(sorted(known)) or 'none'}). Check the name given to start_new or "
            "call_sub_orchestrator, and that the function is decorated with @app.orchestration_trigger."
        )

    return orchestrator


class OrchestrationDispatcher:
    """Runs orchestration episodes for the partitions this worker owns."""

    def __init__(
        self,
        storage: TaskHubStorage,
        registry: DurableRegistry,
        settings: Settings,
        *,
        on_work_items_sent: Callable[[], None],
        entity_handler: EntityHandler | None = None,
    ) -> None:
        self._storage = storage
        self._registry = registry
        self._settings = settings
        self._on_work_items_sent = on_work_items_sent
        self._entity_handler = entity_handler
        self.cache = InstanceCache()
        self._loops: dict[int, tuple[asyncio.Task[None], asyncio.Event]] = {}
        self._pollers: dict[int, Poller] = {}
        self._inboxes: dict[int, list[ReceivedMessage]] = {}
        self._settling: set[asyncio.Task[None]] = set()
        self.local_activities: LocalActivities | None = None
        self._limit = asyncio.Semaphore(max(1, settings.max_concurrent_orchestrations))
        self.episodes = 0

    # ---- partition loops ----------------------------------------------------------------
    def owns(self, index: int) -> bool:
        return index in self._loops

    def wake(self, index: int) -> None:
        poller = self._pollers.get(index)
        if poller is not None:
            poller.wake()

    def wake_instance(self, instance_id: str) -> None:
        self.wake(self._storage.partition_of(instance_id))

    async def start_partition(self, index: int) -> None:
        if index in self._loops:
            return
        stop = asyncio.Event()
        self._pollers[index] = Poller(self._settings.max_queue_polling_interval)
        self._inboxes[index] = []
        task = asyncio.create_task(self._partition_loop(index, stop), name=f"control-queue-{index:02d}")
        self._loops[index] = (task, stop)

    async def stop_partition(self, index: int) -> None:
        entry = self._loops.pop(index, None)
        if entry is None:
            return
        task, stop = entry
        stop.set()
        self._pollers[index].wake()
        await task
        self._pollers.pop(index, None)
        leftovers = self._inboxes.pop(index, [])
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

    async def _partition_loop(self, index: int, stop: asyncio.Event) -> None:
        queue = self._storage.control_queue(index)
        poller = self._pollers[index]
        inbox = self._inboxes[index]  # deliver_local appends to this very list
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
        local = self.local_activities
        return local is not None and any(local.pending_for(m.message.instance_id) for m in inbox)

    def deliver_local(self, received: ReceivedMessage) -> bool:
        """Hand a message this process just sent (kept invisible) to its partition loop, skipping a receive.

        Returns False when this worker does not own the partition; the caller then leaves the
        message to the queue. If the worker dies first, the message reappears after its visibility
        timeout and the partition's next owner processes it.
        """
        index = self._storage.partition_of(received.message.instance_id)
        inbox = self._inboxes.get(index)
        if inbox is None or index not in self._loops:
            return False
        inbox.append(received)
        self._pollers[index].nudge()
        return True

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
        await self._send_all(rearm)

        if new_start is None and not state.history:
            await self._no_such_instance(instance_id, consumed, incoming)
            await self._finish_messages(to_delete, to_abandon)
            return
        if new_start is None and state.is_terminal:
            await self._repair_row(instance_id, state)
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

        await self._run_episode(index, instance_id, state, new_start, incoming, now)
        await self._finish_messages(to_delete + consumed, to_abandon)

    async def _run_episode(
        self,
        index: int,
        instance_id: str,
        state: InstanceState,
        new_start: ExecutionStarted | None,
        incoming: list[HistoryEvent],
        now: datetime,
    ) -> None:
        started = new_start or state.started
        assert started is not None
        past: list[HistoryEvent] = [] if new_start else state.history
        start_index = 0 if new_start else len(state.history)
        execution_id = started.execution_id
        episode = 1 if new_start else state.episodes + 1
        orchestrator = self._orchestrator(started.name)
        new_events: list[HistoryEvent] = [OrchestratorStarted(timestamp=now), *incoming]
        outbound: list[Outbound] = []
        continued = False
        session = None if new_start else state.session
        for _ in range(MAX_CONTINUE_AS_NEW_PER_EPISODE):
            if session is None:
                session = ReplaySession(orchestrator, past)  # replay once; cached sessions skip this
            result = _stamp_end(session.run_episode(new_events))
            self.episodes += 1
            outbound += outbound_messages(
                result.actions,
                instance_id=instance_id,
                execution_id=execution_id,
                name=started.name,
                episode=episode,
                now=now,
            )
            completion = result.completion
            if completion is None or completion.status is not OrchestrationStatus.ContinuedAsNew:
                break
            continued = True
            session = None
            started = ExecutionStarted(
                name=started.name,
                instance_id=instance_id,
                execution_id=new_execution_id(),
                input=completion.output,
                version=started.version,
                parent=started.parent,
                generation=started.generation,
                timestamp=now,
            )
            execution_id = started.execution_id
            past, start_index, episode = [], 0, 1
            new_events = [OrchestratorStarted(timestamp=now), started, *completion.carryover_events]
        if completion is not None:
            notice = parent_notification(
                started, completion, execution_id=execution_id, episode=episode, now=now
            )
            if notice is not None:
                outbound.append(notice)

        log.debug(
            "episode %d of %s: %d new event(s), %d message(s) out%s",
            episode,
            started.name,
            len(result.new_events),
            len(outbound),
            f", {completion.status.name}" if completion else "",
            extra={
                "instance_id": instance_id,
                "execution_id": execution_id,
                "event": "Episode",
                "partition": index,
            },
        )
        # 1. outbound messages
        await self._send_all(outbound)
        # 2. history, guarded by the sentinel ETag
        try:
            etag = await self._storage.history.append(
                instance_id, execution_id, result.new_events, start_index=start_index, etag=state.etag
            )
        except SplitBrainError:
            log.warning(
                "another worker wrote this instance; abandoning the episode",
                extra={"instance_id": instance_id},
            )
            self.cache.drop(instance_id)
            raise
        # 3. the Instances row, only when something users see changed
        columns = self._instance_columns(
            state,
            started,
            result.new_events,
            completion,
            result.custom_status,
            now,
            new_execution=bool(new_start) or continued,
            client_started=new_start is not None and not continued and new_start.parent is None,
        )
        if state.row_repair and not new_start:
            columns = {**state.row_repair, **columns}
        row_etag = state.row_etag
        if columns:
            row_etag = await write_status_row(
                self._storage, instance_id, columns, row_etag=state.row_etag, history_etag=etag
            )
            if row_etag is None:  # a newer owner has the instance; our cached state is stale
                self.cache.drop(instance_id)
                return
        # update the cached state (4. the caller deletes the inbound messages)
        if new_start or continued:
            fresh = InstanceState(etag=etag, row_etag=row_etag)
            fresh.extend(result.new_events)
            fresh.custom_status = result.custom_status
            fresh.session = session
            self.cache.put(instance_id, fresh)
        else:
            state.etag = etag
            state.row_etag = row_etag
            state.row_repair = {}
            state.extend(result.new_events)
            state.custom_status = result.custom_status
            state.session = session

    def _instance_columns(
        self,
        state: InstanceState,
        started: ExecutionStarted,
        new_events: list[HistoryEvent],
        completion: Completion | None,
        custom_status: str | None,
        now: datetime,
        *,
        new_execution: bool,
        client_started: bool = False,
    ) -> dict[str, Any]:
        columns: dict[str, Any] = {}
        if new_execution:
            columns.update(execution_columns(started), CustomStatus=custom_status or "null")
            if client_started and started.input and table_property_too_large(started.input):
                del columns[
                    "Input"
                ]  # the client's start already stored it (as a blob); do not upload it twice
        for event in new_events:
            if isinstance(event, ExecutionSuspended):
                columns["RuntimeStatus"] = OrchestrationStatus.Suspended
            elif isinstance(event, ExecutionResumed):
                columns["RuntimeStatus"] = OrchestrationStatus.Running
        if completion is not None and completion.status is not OrchestrationStatus.ContinuedAsNew:
            log.info(
                "%s %s",
                started.name,
                completion.status.name,
                extra={
                    "instance_id": started.instance_id,
                    "execution_id": started.execution_id,
                    "event": "ExecutionCompleted",
                },
            )
            columns.update(RuntimeStatus=completion.status, Output=completion.output, CompletedTime=now)
        if custom_status != state.custom_status or (new_execution and custom_status):
            columns["CustomStatus"] = custom_status or "null"
        if columns:
            columns["LastUpdatedTime"] = now
            columns.setdefault("ExecutionId", started.execution_id)
        return columns

    async def _repair_row(self, instance_id: str, state: InstanceState) -> None:
        """Bring the Instances row of a finished instance in line with its history, if a worker
        died (or stalled and was replaced) between the final checkpoint and its row write."""
        if not state.row_repair or state.etag is None:
            return
        log.warning(
            "the status row of %s missed its last update; repairing it from history",
            instance_id,
            extra={"instance_id": instance_id, "event": "StatusRowRepaired"},
        )
        row_etag = await write_status_row(
            self._storage, instance_id, state.row_repair, row_etag=state.row_etag, history_etag=state.etag
        )
        if row_etag is None:
            self.cache.drop(instance_id)
        else:
            state.row_etag, state.row_repair = row_etag, {}

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
            await self._send_all(releases)

    def _orchestrator(self, name: str) -> Callable[[DurableOrchestrationContext], Any]:
        fn = self._registry.orchestrators.get(name)
        return fn if fn is not None else _missing_orchestrator(name, list(self._registry.orchestrators))

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
                    {
                        "RuntimeStatus": OrchestrationStatus.Terminated,
                        "Output": event.input,
                        "CompletedTime": now,
                        "LastUpdatedTime": now,
                    },
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
    async def _send_all(self, outbound: list[Outbound]) -> None:
        if not outbound:
            return
        went_local = await _gather_limited([self._send(item) for item in outbound], MAX_PARALLEL_SENDS)
        if any(item.to_work_items and not local for item, local in zip(outbound, went_local, strict=True)):
            self._on_work_items_sent()
        for item in outbound:
            if not item.to_work_items and item.delay == 0:
                self.wake_instance(item.message.instance_id)

    async def _send(self, item: Outbound) -> bool:
        """Send one message; True when a work item was handed to this process's activity dispatcher."""
        if item.to_work_items:
            local = self.local_activities
            if local is not None and local.reserve():
                # Hidden from other workers while this one runs it; visible again if we die first.
                sent = await self._storage.workitems.send(
                    item.message, visibility_delay=self._settings.work_item_visibility_timeout
                )
                local.run(sent)
                return True
            await self._storage.workitems.send(item.message)
            return False
        queue = self._storage.control_queue_for(item.message.instance_id)
        sent = await queue.send(item.message, visibility_delay=item.delay)
        if 0 < item.delay <= LOCAL_TIMER_HORIZON_SECONDS and self.owns(
            self._storage.partition_of(sent.message.instance_id)
        ):
            # Queue delays are whole seconds; deliver a short timer on time from this process instead.
            asyncio.get_running_loop().call_later(item.delay, self.deliver_local, sent)
        return False

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


__all__ = ["OrchestrationDispatcher", "TaskMessage"]
