"""An episode's outgoing messages: built from its actions and completion as DTFx would send them, and sent.

Work items go to the work-item queue, or straight to this process's activity dispatcher when it
has a free slot (still written to the queue, hidden, so a crash re-runs them). Messages to control
queues wake the partition's loop when it runs here; a short timer is delivered on time from this
process rather than after the queue's whole-second delay.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from ..config import Settings
from ..orchestration.executor import Completion
from ..orchestration.history import (
    EventRaised,
    EventSent,
    ExecutionStarted,
    HistoryEvent,
    OrchestrationStatus,
    ParentInstance,
    SubOrchestrationInstanceCompleted,
    SubOrchestrationInstanceCreated,
    SubOrchestrationInstanceFailed,
    TaskScheduled,
    TimerCreated,
    TimerFired,
)
from ..storage.messages import TaskMessage
from ..storage.queues import ReceivedMessage
from ..storage.taskhub import TaskHubStorage
from .inboxes import PartitionInboxes
from .starts import child_execution_id
from .timers import time_until

#: Sends in flight at once: a fan-out of thousands must not monopolise the event loop.
MAX_PARALLEL_SENDS = 32
#: Timers due within this many seconds are delivered from this process, on time.
LOCAL_TIMER_HORIZON_SECONDS = 300.0


@dataclass(frozen=True, slots=True)
class Outbound:
    """One message to send: to the work-item queue (``to_work_items``) or to an instance's control queue."""

    message: TaskMessage
    to_work_items: bool = False
    delay: float = 0.0  #: seconds until a timer fires; the sender hides it at most ``max_timer_delay``


def new_execution_id() -> str:
    return uuid.uuid4().hex


def outbound_messages(
    actions: list[HistoryEvent],
    *,
    instance_id: str,
    execution_id: str,
    name: str,
    episode: int,
    now: datetime,
) -> list[Outbound]:
    """Messages for the actions an episode scheduled."""
    out: list[Outbound] = []

    def message(event: HistoryEvent, target: str, target_execution: str | None) -> TaskMessage:
        return TaskMessage(
            event=event,
            instance_id=target,
            execution_id=target_execution,
            episode=episode,
            sender_instance_id=instance_id,
            sender_execution_id=execution_id,
        )

    for action in actions:
        if isinstance(action, TaskScheduled):
            out.append(Outbound(message(action, instance_id, execution_id), to_work_items=True))
        elif isinstance(action, TimerCreated):
            fired = TimerFired(timer_id=action.event_id, fire_at=action.fire_at, timestamp=now)
            out.append(
                Outbound(message(fired, instance_id, execution_id), delay=time_until(action.fire_at, now))
            )
        elif isinstance(action, SubOrchestrationInstanceCreated):
            # The same request always carries the same child execution id, so a start sent again
            # (the episode ran again after a crash) is recognised as a duplicate (worker/starts.py).
            child_execution = child_execution_id(instance_id, execution_id, action.event_id)
            started = ExecutionStarted(
                name=action.name,
                instance_id=action.instance_id,
                execution_id=child_execution,
                input=action.input,
                version=action.version,
                parent=ParentInstance(
                    name=name,
                    instance_id=instance_id,
                    execution_id=execution_id,
                    task_schedule_id=action.event_id,
                ),
                tags=action.tags,  # the parent's (DTFx MergeTags)
                timestamp=now,
            )
            out.append(Outbound(message(started, action.instance_id, child_execution)))
        elif isinstance(action, EventSent):
            raised = EventRaised(name=action.name, input=action.input, timestamp=now)
            out.append(Outbound(message(raised, action.instance_id, None)))
    return out


def parent_notification(
    started: ExecutionStarted, completion: Completion, *, execution_id: str, episode: int, now: datetime
) -> Outbound | None:
    """The message telling a parent orchestration that this sub-orchestration finished."""
    parent = started.parent
    if parent is None or completion.status is OrchestrationStatus.ContinuedAsNew:
        return None
    event: HistoryEvent
    if completion.status is OrchestrationStatus.Completed:
        event = SubOrchestrationInstanceCompleted(
            task_scheduled_id=parent.task_schedule_id, result=completion.output, timestamp=now
        )
    else:
        failure = completion.failure
        event = SubOrchestrationInstanceFailed(
            task_scheduled_id=parent.task_schedule_id,
            reason=failure.error_message if failure else f"Sub-orchestration {completion.status.name}",
            details=failure.stack_trace if failure else completion.output,
            failure_details=failure,
            timestamp=now,
        )
    message = TaskMessage(
        event=event,
        instance_id=parent.instance_id,
        execution_id=parent.execution_id,
        episode=episode,
        sender_instance_id=started.instance_id,
        sender_execution_id=execution_id,
    )
    return Outbound(message)


# ---------------------------------------------------------------------------------- sending


class SlotLoan:
    """The activity slot of a finished local activity, held for its result's episode: used if that
    episode rewrites the work item into the next step's (:meth:`OutboundSender.recycle`), else given
    back (:meth:`release`, which is idempotent)."""

    def __init__(self, give_back: Callable[[], None]) -> None:
        self._give_back = give_back
        self._held = True

    def take(self) -> bool:
        """Use the slot (True), or False if it was already taken or given back."""
        held, self._held = self._held, False
        return held

    def release(self) -> None:
        if self._held:
            self._held = False
            self._give_back()


class LocalActivities(Protocol):
    """The activity dispatcher's in-process entry: reserve a slot, then run a sent work item."""

    def reserve(self) -> bool: ...

    def release(self) -> None: ...

    def claim(self, message_id: str) -> bool: ...

    def run(self, received: ReceivedMessage) -> None: ...

    def run_rewritten(
        self,
        message: TaskMessage,
        writing: Awaitable[ReceivedMessage | None],
        on_written: Callable[[bool], None],
    ) -> None: ...

    def pending_for(self, instance_id: str) -> int: ...

    def wake(self) -> None: ...


async def _gather_limited(coroutines: list[Awaitable[bool]], limit: int) -> list[bool]:
    """``asyncio.gather`` with at most ``limit`` awaitables in flight, results in order."""
    if len(coroutines) <= limit:
        return list(await asyncio.gather(*coroutines))
    gate = asyncio.Semaphore(limit)

    async def run(coroutine: Awaitable[bool]) -> bool:
        async with gate:
            return await coroutine

    return list(await asyncio.gather(*(run(c) for c in coroutines)))


class OutboundSender:
    """Sends outbound messages and hands what this process can run itself to its own loops."""

    def __init__(
        self,
        storage: TaskHubStorage,
        settings: Settings,
        *,
        inboxes: PartitionInboxes,
        activities: LocalActivities,
    ) -> None:
        self._storage = storage
        self._settings = settings
        self._inboxes = inboxes
        self._activities = activities

    async def send_all(self, outbound: list[Outbound]) -> None:
        """Send every message (at most :data:`MAX_PARALLEL_SENDS` at once), then wake their readers."""
        if not outbound:
            return
        went_local = await _gather_limited([self._send(item) for item in outbound], MAX_PARALLEL_SENDS)
        if any(item.to_work_items and not local for item, local in zip(outbound, went_local, strict=True)):
            self._activities.wake()
        for item in outbound:
            if not item.to_work_items and item.delay == 0:
                self._inboxes.wake_instance(item.message.instance_id)

    def borrow_slot(self, spent: ReceivedMessage) -> SlotLoan | None:
        """The slot lent to ``spent``'s result by the activity dispatcher, if it still is."""
        if self._activities.claim(spent.message_id):
            return SlotLoan(self._activities.release)
        return None

    async def recycle(
        self,
        spent: ReceivedMessage,
        item: Outbound,
        on_written: Callable[[bool], None],
        loan: SlotLoan | None = None,
    ) -> bool:
        """Turn ``spent`` — the hidden work item of an activity whose result the history now holds —
        into the work item ``item`` (one Update Message instead of a send and a delete) and run it
        here, starting the activity while the rewrite is under way. True when ``spent`` was handed to
        that rewrite (the caller must not delete it; if it is found gone, ``item`` is sent as a new
        message instead); False when no activity slot is free here (``item`` was sent as usual, and
        ``spent`` needs deleting). ``on_written`` is told whether the step's work item was written;
        ``loan`` is the finished activity's own slot, used before any free one. Called only
        after the history append that scheduled ``item`` is durable (docs/architecture.md, "One
        activity step")."""
        if not ((loan is not None and loan.take()) or self._activities.reserve()):
            # No free slot here: a rewrite made visible would be received elsewhere with the old
            # message's dequeue count plus one, and a long chain would reach the poison limit, so the
            # next work item is sent as usual (and ``spent`` deleted by the caller).
            await self.send_all([item])
            return False
        writing = asyncio.ensure_future(
            self._storage.workitems.replace(
                spent, item.message, visibility_timeout=self._settings.work_item_visibility_timeout
            )
        )
        self._activities.run_rewritten(item.message, writing, on_written)
        return True

    async def _send(self, item: Outbound) -> bool:
        """Send one message; True when a work item was handed to this process's activity dispatcher."""
        if item.to_work_items:
            if self._activities.reserve():
                # Hidden from other workers while this one runs it; visible again if we die first.
                sent = await self._storage.workitems.send(
                    item.message, visibility_delay=self._settings.work_item_visibility_timeout
                )
                self._activities.run(sent)
                return True
            await self._storage.workitems.send(item.message)
            return False
        queue = self._storage.control_queue_for(item.message.instance_id)
        # A timer further out than the cap shows up early and is re-armed then (worker/timers.py).
        delay = min(item.delay, self._settings.max_timer_delay)
        sent = await queue.send(item.message, visibility_delay=delay)
        if 0 < item.delay <= LOCAL_TIMER_HORIZON_SECONDS and self._inboxes.owns_instance(
            sent.message.instance_id
        ):
            # Queue delays are whole seconds; deliver a short timer on time from this process instead.
            asyncio.get_running_loop().call_later(item.delay, self._inboxes.deliver, sent)
        return False
