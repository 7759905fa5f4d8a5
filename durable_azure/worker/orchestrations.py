"""The orchestration dispatcher: control-queue batches in, one episode per instance, messages settled.

Per owned partition one loop receives up to 32 messages (plus what this process handed its inbox),
groups them by instance and takes each group in: start messages are matched to their execution
(:mod:`durable_azure.worker.starts`), duplicates and messages for older executions are dropped,
timers that arrived before their ``FireAt`` held or re-armed (:mod:`.timers`), completions whose
scheduling is not durable yet retried later. What is left runs as one episode
(:mod:`durable_azure.worker.episode`, which checkpoints it); only then are the inbound messages
deleted, off the critical path. Every message that is not consumed is retried a
bounded number of times or set aside in the poison store (:mod:`durable_azure.worker.settle`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from ..config import Settings
from ..orchestration.history import (
    ExecutionStarted,
    GenericEvent,
    HistoryEvent,
    TimerFired,
)
from ..orchestration.versioning import VersionPolicy
from ..registry import DurableRegistry
from ..storage.history_table import LoadedHistory
from ..storage.instance_table import RowState
from ..storage.local_starts import LocalStart
from ..storage.poison import is_permanent_error
from ..storage.queues import ReceivedMessage
from ..storage.status_rows import load_for_checkpoint
from ..storage.taskhub import FAST_FAIL, TaskHubStorage
from ..telemetry import hooks as telemetry
from .episode import EpisodeRunner, VersionRejected
from .health import RepeatedFailure, StorageHealth
from .inboxes import Inbox, PartitionInboxes
from .instance_state import InstanceCache, InstanceState, completion_id, recycled_task, row_repair
from .orphans import for_missing_instance, release_orphaned_locks
from .outbound import LocalActivities, Outbound, OutboundSender, outbound_messages
from .result_hold import ResultHold
from .settle import Disposal, MessageSettler
from .starts import Verdict, judge_start
from .timers import early_timer, hold_limit, time_until, timer_limits_of

log = logging.getLogger(__name__)

COALESCE_SECONDS = 0.02
#: A batch's episodes are awaited this long; one still running then (storage slow or away, an SDK
#: retry sleeping) goes on in the background, so the partition keeps taking in new work.
STALL_SECONDS = 2.0
#: Instances of one partition in flight at most (a stalled partition stops receiving beyond this).
MAX_IN_FLIGHT = 64
#: How long a partition whose lease was lost waits for its episodes before cancelling them (as a
#: crash would: their messages come back); a clean stop of the worker waits longer.
LOST_GRACE_SECONDS = 1.0
STOP_GRACE_SECONDS = 10.0
#: Longest a finished activity's result waits in the inbox for its ``task_all`` siblings.
MAX_HOLD_SECONDS = 0.5
#: Longest an episode waits for a client of this process to finish writing a start's row.
LOCAL_ROW_WAIT_SECONDS = 5.0
#: Pause after a failed receive that was not an outage.
RECEIVE_RETRY_SECONDS = 1.0

EntityHandler = Callable[[int, str, list[ReceivedMessage]], Awaitable[None]]

#: Seconds before the messages of an instance this worker rejected for its version come back
#: (``versionFailureStrategy`` ``Reject``): a compatible worker, or this one after a deployment,
#: takes them then. They are sent again as new messages, so rejecting never makes them poison.
VERSION_REJECT_DELAY_SECONDS = 10.0


def _needs_reload(state: InstanceState, messages: list[ReceivedMessage]) -> bool:
    """True when a message refers to an execution or a task the cached history does not know:
    another writer (the previous owner of a stolen partition, a purge, a client restart) may have
    changed the instance since it was cached, so it is read again before anything is decided."""
    for received in messages:
        execution = received.message.execution_id
        if execution and state.execution_id and execution != state.execution_id:
            return True
        answered = completion_id(received.message.event)
        if (
            answered is not None
            and answered not in state.scheduled_ids
            and answered not in state.answered_ids
        ):
            return True
    return False


def _forget(in_flight: dict[str, asyncio.Task[None]], instance_id: str, task: asyncio.Task[None]) -> None:
    if in_flight.get(instance_id) is task:
        del in_flight[instance_id]


@dataclass
class _Partition:
    """A running partition loop and the episodes it has in flight, by instance id."""

    task: asyncio.Task[None]
    stop: asyncio.Event
    in_flight: dict[str, asyncio.Task[None]] = field(default_factory=dict)


@dataclass
class _Intake:
    """One instance's messages sorted: what the episode consumes, and how the rest ends."""

    disposal: Disposal = field(default_factory=Disposal)
    consumed: list[ReceivedMessage] = field(default_factory=list)
    incoming: list[HistoryEvent] = field(default_factory=list)
    new_start: ExecutionStarted | None = None
    rearm: list[Outbound] = field(default_factory=list)
    #: Early timer messages kept hidden in the queue and handed to the loop after so many seconds.
    held: list[tuple[ReceivedMessage, float]] = field(default_factory=list)

    def consume(self, received: ReceivedMessage, event: HistoryEvent | None = None) -> None:
        self.consumed.append(received)
        self.incoming.append(event or received.message.event)


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
        health: StorageHealth | None = None,
    ) -> None:
        self._storage = storage
        self._settings = settings
        self._inboxes = inboxes
        self._activities = activities
        self._entity_handler = entity_handler
        self._health = health or StorageHealth(storage.ping)
        self.cache = InstanceCache()
        self.settler = MessageSettler(storage, max_dequeue_count=settings.max_dequeue_count)
        self._sender = OutboundSender(storage, settings, inboxes=inboxes, activities=activities)
        self._episodes = EpisodeRunner(
            storage,
            registry,
            self.cache,
            self._sender,
            versioning=VersionPolicy.of(settings),
            timer_limits=timer_limits_of(settings),
        )
        self._loops: dict[int, _Partition] = {}
        self._settling: set[asyncio.Task[None]] = set()
        self._limit = asyncio.Semaphore(max(1, settings.max_concurrent_orchestrations))
        self._hold_limit = hold_limit(settings.control_queue_visibility_timeout)
        #: Rewrite a finished local activity's work item into the next one (docs/architecture.md).
        self._recycle = settings.recycle_work_items

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
        in_flight: dict[str, asyncio.Task[None]] = {}
        task = asyncio.create_task(
            self._partition_loop(index, inbox, stop, in_flight), name=f"control-queue-{index:02d}"
        )
        self._loops[index] = _Partition(task, stop, in_flight)

    async def stop_partition(self, index: int, *, grace: float = LOST_GRACE_SECONDS) -> None:
        """Stop a partition's loop; its episodes get ``grace`` seconds to finish, then are cancelled."""
        entry = self._loops.pop(index, None)
        if entry is None:
            return
        inbox = self._inboxes.close(index)  # nothing is delivered to it from here on
        entry.stop.set()
        if inbox is not None:
            inbox.poller.wake()
        await entry.task
        episodes = list(entry.in_flight.values())
        if episodes:
            _, stuck = await asyncio.wait(episodes, timeout=grace)
            for episode in stuck:  # as if the worker had stopped here: the messages come back
                episode.cancel()
            await asyncio.gather(*stuck, return_exceptions=True)
        leftovers = inbox.messages if inbox is not None else []
        if leftovers:  # hand them back to the queue (results as results) for the next owner
            await self.settler.quietly([self.settler.hand_back(m) for m in leftovers])
        partitions = self._storage.partition_count
        self.cache.drop_where(lambda instance_id: self._storage.partition_of(instance_id) == index)
        log.info("stopped partition %02d of %d", index, partitions, extra={"partition": index})

    def wake_all(self) -> None:
        """Poll every partition now (storage is back after an outage)."""
        for index in self._loops:
            self._inboxes.wake(index)

    async def stop(self) -> None:
        """Stop every partition loop, letting in-flight episodes finish (up to a grace period)."""
        await asyncio.gather(
            *(self.stop_partition(index, grace=STOP_GRACE_SECONDS) for index in list(self._loops))
        )
        if self._settling:
            await asyncio.gather(*self._settling, return_exceptions=True)

    async def _partition_loop(
        self, index: int, opened: Inbox, stop: asyncio.Event, in_flight: dict[str, asyncio.Task[None]]
    ) -> None:
        queue = self._storage.control_queue(index)
        poller = opened.poller
        inbox = opened.messages  # PartitionInboxes.deliver appends to this very list
        batch_size = self._settings.control_queue_batch_size
        held = ResultHold(self.cache, batch_size, MAX_HOLD_SECONDS)
        clock = asyncio.get_running_loop().time
        receiving = RepeatedFailure(log, f"receive from {queue.name}")
        while not stop.is_set():
            if len(in_flight) >= MAX_IN_FLIGHT:  # stalled: take in nothing more until some finish
                await asyncio.wait(list(in_flight.values()), timeout=1.0, return_when=asyncio.FIRST_COMPLETED)
                continue
            if inbox and len(inbox) < batch_size and self._more_results_coming(inbox):
                await asyncio.sleep(COALESCE_SECONDS)  # fan-in: gather results into fewer episodes
            local, kept = held.take_ready(inbox, clock())
            inbox[:] = kept
            polled: list[ReceivedMessage] = []
            if poller.poll_due(bool(local) or bool(held)):
                try:
                    polled = await queue.receive(
                        batch_size, self._settings.control_queue_visibility_timeout, **FAST_FAIL
                    )
                    self._health.succeeded()
                    receiving.succeeded()
                    if polled and (tel := telemetry.active()) is not None:
                        tel.received(queue.name, index, [m.inserted_on for m in polled])
                except Exception as error:
                    if not self._health.failed(error):
                        receiving.failed(error)
                    await self._health.wait_reachable(RECEIVE_RETRY_SECONDS)
                poller.polled(len(polled))
            released = held.release({m.message.instance_id for m in polled}) if polled else set()
            if released:  # another message for a held instance: one episode for all of them
                local += [m for m in inbox if m.message.instance_id in released]
                inbox[:] = [m for m in inbox if m.message.instance_id not in released]
            if local or polled:
                await self.process_batch(index, local + polled, in_flight)
            if len(polled) >= batch_size or any(m.message.instance_id not in held for m in inbox):
                continue
            await poller.wait(held.deadline)

    def _more_results_coming(self, inbox: list[ReceivedMessage]) -> bool:
        return any(self._activities.pending_for(m.message.instance_id) for m in inbox)

    async def process_batch(
        self,
        index: int,
        batch: list[ReceivedMessage],
        in_flight: dict[str, asyncio.Task[None]] | None = None,
    ) -> None:
        """Run one episode per instance in ``batch``; return when they are done, or after
        :data:`STALL_SECONDS` with the rest still running (tracked in ``in_flight``). An instance
        with an episode in flight runs the new one after it, never beside it."""
        in_flight = {} if in_flight is None else in_flight
        groups: dict[str, list[ReceivedMessage]] = {}
        for received in batch:
            groups.setdefault(received.message.instance_id, []).append(received)
        started: list[asyncio.Task[None]] = []
        for instance_id, messages in groups.items():
            before = in_flight.get(instance_id)
            task = asyncio.create_task(self._after(before, index, instance_id, messages))
            in_flight[instance_id] = task
            task.add_done_callback(functools.partial(_forget, in_flight, instance_id))
            if instance_id.startswith("@") and self._entity_handler is not None:
                # An entity batch overlaps the next receive: wait only for the entity's previous
                # batch, so at most one batch per entity waits behind the one being checkpointed
                # (batches of one entity still run one after the other, in receive order).
                if before is not None:
                    started.append(before)
            else:
                started.append(task)
        if started:
            await asyncio.wait(started, timeout=STALL_SECONDS)

    async def _after(
        self, before: asyncio.Task[None] | None, index: int, instance_id: str, messages: list[ReceivedMessage]
    ) -> None:
        if before is not None:
            await asyncio.wait([before])
        await self._guarded(index, instance_id, messages)

    async def _guarded(self, index: int, instance_id: str, messages: list[ReceivedMessage]) -> None:
        async with self._limit:
            exhausted = [m for m in messages if self.settler.exhausted(m)]
            if exhausted:  # its worker kept dying on it: do not take it in once more
                messages = [m for m in messages if m not in exhausted]
                reason = "received more than max_dequeue_count times without being processed"
                await self.settler.quietly([self.settler.set_aside(m, reason) for m in exhausted])
            if not messages:
                return
            error = await self._attempt(index, instance_id, messages)
            if error is None:
                return
            if len(messages) > 1 and is_permanent_error(error):
                # One of them cannot succeed: find which, one message at a time, so that the others
                # are not set aside with it.
                for received in messages:
                    single = await self._attempt(index, instance_id, [received])
                    if single is not None:
                        await self._retry_after([received], single)
                return
            await self._retry_after(messages, error)

    async def _attempt(
        self, index: int, instance_id: str, messages: list[ReceivedMessage]
    ) -> Exception | None:
        """Process ``messages``; the error if that failed (logged, the instance's cache dropped)."""
        try:
            if instance_id.startswith("@") and self._entity_handler is not None:
                await self._entity_handler(index, instance_id, messages)
            else:
                await self._process_instance(index, instance_id, messages)
        except Exception as error:
            if self._health.failed(error):
                log.info("episode interrupted: storage is unreachable", extra={"instance_id": instance_id})
            else:
                log.exception(
                    "episode failed; its messages will be retried", extra={"instance_id": instance_id}
                )
            self.cache.drop(instance_id)
            return error
        return None

    async def _retry_after(self, messages: list[ReceivedMessage], error: Exception) -> None:
        reason = f"processing failed: {type(error).__name__}: {str(error)[:500]}"
        await self.settler.quietly([self.settler.retry_later(m, reason, error=error) for m in messages])

    # ---- one instance -------------------------------------------------------------------
    async def _state(self, instance_id: str, messages: list[ReceivedMessage]) -> InstanceState:
        if any(isinstance(m.message.event, GenericEvent) for m in messages):
            self.cache.drop(instance_id)  # a rewind rewrote history under us
        state = self.cache.get(instance_id)
        if state is not None and (not state.history or _needs_reload(state, messages)):
            self.cache.drop(instance_id)
            state = None
        if state is None:
            loaded, row = await self._load(instance_id, messages)
            state = InstanceState.from_history(list(loaded.events), loaded.etag, loaded.execution_id)
            state.row = row
            state.row_etag = row.etag if row is not None else None
            state.row_repair = row_repair(state, row)
            if state.history:
                self.cache.put(instance_id, state)
        return state

    async def _load(
        self, instance_id: str, messages: list[ReceivedMessage]
    ) -> tuple[LoadedHistory, RowState | None]:
        """The instance's history and row state: read, or — for the first delivery of a start a client
        in this process made — what that client knows (:mod:`durable_azure.storage.local_starts`)."""
        local = self._local_start(instance_id, messages)
        if local is not None:
            try:
                row = await asyncio.wait_for(asyncio.shield(local.row), LOCAL_ROW_WAIT_SECONDS)
            except asyncio.TimeoutError:
                row = None
            if row is not None:
                if local.fresh:  # a generated id: no history exists
                    return LoadedHistory(events=[], etag=None, execution_id=None), row
                return await self._storage.history.load(instance_id), row
        return await load_for_checkpoint(self._storage, instance_id)

    def _local_start(self, instance_id: str, messages: list[ReceivedMessage]) -> LocalStart | None:
        """The local start of a client start received for the first time (``dequeue_count`` 1: no
        worker anywhere has taken it in before), taken from the registry; else ``None``."""
        for received in messages:
            event = received.message.event
            if isinstance(event, ExecutionStarted) and event.parent is None and received.dequeue_count == 1:
                return self._storage.local_starts.take(instance_id, event.execution_id)
        return None

    def _take_start(
        self, instance_id: str, state: InstanceState, received: ReceivedMessage, intake: _Intake
    ) -> None:
        """Run, drop, hold back or set aside a start message (the rules: :mod:`.starts`)."""
        event = received.message.event
        assert isinstance(event, ExecutionStarted)
        if intake.new_start is not None:
            if event.execution_id == intake.new_start.execution_id:
                intake.disposal.delete.append(received)  # the same start twice in one batch
            else:
                intake.disposal.retry.append((received, "another start of the instance came first", None))
            return
        judgement = judge_start(event, state.started, running=not state.is_terminal)
        extra = {"instance_id": instance_id, "execution_id": event.execution_id}
        if judgement.verdict is Verdict.RUN:
            if state.started is not None and not state.is_terminal:
                log.warning("a new start %s", judgement.reason + " (still running)", extra=extra)
            intake.new_start = event
            intake.consume(received)
        elif judgement.verdict is Verdict.DUPLICATE:
            log.info("dropping a duplicate start: %s", judgement.reason, extra=extra)
            intake.disposal.delete.append(received)
        elif judgement.verdict is Verdict.STALE:
            intake.disposal.aside.append((received, judgement.reason))
        else:
            intake.disposal.retry.append((received, judgement.reason, None))

    def _intake(
        self, instance_id: str, state: InstanceState, messages: list[ReceivedMessage], now: datetime
    ) -> _Intake:
        intake = _Intake()
        for received in messages:
            event = received.message.event
            if isinstance(event, TimerFired):
                early = early_timer(event.fire_at, now, hold_for_at_most=self._hold_limit)
                if early is not None:
                    log.debug(
                        "timer %d arrived %.3f s before its FireAt: %s",
                        event.timer_id,
                        early.seconds,
                        "held until due" if early.hold else "re-armed",
                        extra={"instance_id": instance_id, "event": "TimerEarly"},
                    )
                if early is not None and early.hold:
                    intake.held.append((received, early.seconds))
                    continue
                if early is not None:  # sent again, hidden for the time left (capped by the sender)
                    intake.rearm.append(Outbound(received.message, delay=time_until(event.fire_at, now)))
                    intake.disposal.delete.append(received)
                    continue
                event = dataclasses.replace(event, timestamp=now)  # history records when it fired
            if isinstance(event, ExecutionStarted):
                self._take_start(instance_id, state, received, intake)
                continue
            new_start = intake.new_start
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
                intake.disposal.delete.append(received)
                continue
            answered = completion_id(event)
            if answered is not None and new_start is None and state.history:
                if answered in state.answered_ids or any(
                    completion_id(e) == answered for e in intake.incoming
                ):
                    intake.disposal.delete.append(received)  # duplicate delivery
                    if self._recycle and answered in state.answered_ids and not state.is_terminal:
                        pending = state.rewrites_in_doubt.get(answered)
                        if pending is not None and not pending.done():
                            self._resend_unless_written(instance_id, state, answered, pending, now)
                        elif state.step_may_be_lost(answered):
                            intake.rearm += self._unsent_work(instance_id, state, answered, now)
                    continue
                if answered not in state.scheduled_ids:
                    reason = f"it answers task {answered}, which the history has not scheduled (yet)"
                    intake.disposal.retry.append((received, reason, None))
                    continue
            intake.consume(received, event)
        return intake

    def _resend_unless_written(
        self,
        instance_id: str,
        state: InstanceState,
        answered: int,
        pending: asyncio.Future[bool],
        now: datetime,
    ) -> None:
        """A duplicate result of task ``answered`` came while its work item is being rewritten into
        the next step's: send that step's work item only if the rewrite fails (in the background)."""

        async def when_known() -> None:
            if await pending:
                return
            try:
                await self._sender.send_all(self._unsent_work(instance_id, state, answered, now))
            except Exception as error:  # the old work item comes back again, and so does this
                log.warning(
                    "could not re-send the work item after task %d (%s: %s)",
                    answered,
                    type(error).__name__,
                    error,
                    extra={"instance_id": instance_id},
                )

        self._in_background(when_known())

    def _unsent_work(
        self, instance_id: str, state: InstanceState, answered: int, now: datetime
    ) -> list[Outbound]:
        """The work item that may never have been written: a duplicate result of task ``answered``
        means its work item came back, so the episode that recorded the result may have died between
        its history append and rewriting that work item into its first new one (episode.py). That
        one is sent again if it is still unanswered (a second copy at worst: activities run at least
        once, and their results are matched by task id)."""
        found = recycled_task(state, answered)
        if found is None:
            return []
        scheduled, episode = found
        started = state.started
        assert started is not None
        log.info(
            "a duplicate result of task %d; sending task %d's work item again in case it was lost",
            answered,
            scheduled.event_id,
            extra={"instance_id": instance_id, "event": "WorkItemResent"},
        )
        return outbound_messages(
            [scheduled],
            instance_id=instance_id,
            execution_id=started.execution_id,
            name=started.name,
            episode=episode,
            now=now,
        )

    def _hold(self, held: list[tuple[ReceivedMessage, float]]) -> None:
        """Hand early timer messages to their partition's loop when due. They stay hidden in the
        queue meanwhile; if the partition is gone by then, the queue brings them back later."""
        loop = asyncio.get_running_loop()
        for received, seconds in held:
            loop.call_later(seconds, self._inboxes.deliver, received)

    async def _process_instance(self, index: int, instance_id: str, messages: list[ReceivedMessage]) -> None:
        now = datetime.now(timezone.utc)
        state = await self._state(instance_id, messages)
        intake = self._intake(instance_id, state, messages, now)
        self._hold(intake.held)
        await self._sender.send_all(intake.rearm)
        disposal = intake.disposal
        if intake.new_start is None and not state.history:
            await for_missing_instance(self._storage, instance_id, state, intake.consumed, disposal)
        elif intake.new_start is None and state.is_terminal:
            await self._episodes.repair_row(instance_id, state)
            await release_orphaned_locks(self._sender, instance_id, state, intake.incoming)
            if intake.incoming:
                log.info(
                    "instance already finished; discarding %d message(s)",
                    len(intake.incoming),
                    extra={"instance_id": instance_id},
                )
            disposal.delete += intake.consumed
        elif intake.incoming:
            # a local activity's hidden work item, to be rewritten into the episode's next work item
            spent = (
                next(
                    (
                        m
                        for m in intake.consumed
                        if m.carries_result and m.queue_name == self._storage.workitems.name
                    ),
                    None,
                )
                if self._recycle
                else None
            )
            loan = self._sender.borrow_slot(spent) if spent is not None else None
            try:
                recycled = await self._episodes.run(
                    index, instance_id, state, intake.new_start, intake.incoming, now, spent, loan
                )
            except VersionRejected as rejected:
                log.warning(
                    "not running this instance: %s Its messages come back in %.0f s (versionFailureStrategy "
                    "Reject).",
                    rejected,
                    VERSION_REJECT_DELAY_SECONDS,
                    extra={"instance_id": instance_id, "event": "VersionRejected"},
                )
                disposal.requeue += [(m, VERSION_REJECT_DELAY_SECONDS) for m in intake.consumed]
            else:
                disposal.delete += [m for m in intake.consumed if not (recycled and m is spent)]
            finally:
                if loan is not None:
                    loan.release()  # unless the episode ran its next work item in that slot
        self._finish(disposal)

    # ---- settling -----------------------------------------------------------------------
    def _finish(self, disposal: Disposal) -> None:
        """Delete consumed messages and retry or set aside the rest, off the critical path.

        The history that consumed them is already durable, so the next episode need not wait; a
        message whose delete is lost is a harmless duplicate later (completions are de-duplicated).
        """
        if not disposal:
            return
        self._in_background(self.settler.apply(disposal))

    def _in_background(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` off the critical path; :meth:`stop` waits for it."""
        task = asyncio.create_task(work)
        self._settling.add(task)
        task.add_done_callback(self._settling.discard)


__all__ = ["EntityHandler", "OrchestrationDispatcher"]
