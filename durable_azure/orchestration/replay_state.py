"""``ReplayState``: the replay bookkeeping the orchestration context and the executor share.

The context records what the code asks for (actions under sequence numbers, tasks awaiting a
result, event waiters); the executor matches recorded history against it, completes tasks and
collects the unmatched actions. Neither touches the other's private fields: they meet here.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any, TypeVar

from .entity_request import release_payload
from .entity_sorter import MessageSorter
from .history import EventSent, HistoryEvent, TimerCreated
from .long_timers import TimerLimits
from .tasks import AtomicTask, TaskBase, TimerTask

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

_Task = TypeVar("_Task", bound=AtomicTask)


@dataclass(frozen=True, slots=True)
class ContinueAsNewRequest:
    """A ``continue_as_new`` call: the next input, and from which sequence number actions are dropped."""

    input: Any
    preserve_unprocessed_events: bool
    sequence: int


class EntityLock:
    """Entities locked by :meth:`DurableOrchestrationContext.lock`; a context manager that releases them."""

    def __init__(self, state: ReplayState, owner: str, instance_ids: list[str], request_id: str) -> None:
        self._state = state
        self.owner = owner
        self.instance_ids = instance_ids
        self.request_id = request_id

    def __enter__(self) -> EntityLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def release(self) -> None:
        if self._state.locks is self:
            self._state.release_locks()


class ReplayState:
    """Mutable state of one orchestration execution while its history is replayed and extended.

    Public attributes: ``now`` (deterministic time), ``is_replaying``, ``input_text`` and
    ``input_type`` (the execution input), ``custom_status``, ``continue_as_new``, ``locks`` and
    ``timer_limits`` (when a timer is split: :mod:`.long_timers`).
    """

    def __init__(self, timer_limits: TimerLimits | None = None) -> None:
        self.now = EPOCH
        self.timer_limits = timer_limits or TimerLimits()
        self.is_replaying = False
        self.input_text: str | None = None
        self.input_type: type | None = None
        self.custom_status: Any = None
        self.continue_as_new: ContinueAsNewRequest | None = None
        self.locks: EntityLock | None = None
        #: Stamps entity requests as DTFx's orchestration-side ``MessageSorter`` does (at ``now``,
        #: so a replay stamps them the same way again).
        self.entity_sorter = MessageSorter()
        self._sequence = 0
        self._pending: dict[int, HistoryEvent] = {}  # actions asked for, by sequence number
        self._open: dict[int | str, AtomicTask] = {}  # tasks awaiting a result, by id or request id
        self._waiters: dict[str, deque[AtomicTask]] = {}
        self._buffered: dict[str, deque[str | None]] = {}

    # ---- execution ----------------------------------------------------------------------
    def start_execution(self, input_text: str | None, input_type: type | None, timestamp: datetime) -> None:
        """Take the execution's input; the clock starts at ``timestamp`` unless already set."""
        self.input_text = input_text
        self.input_type = input_type
        if self.now.year == 1970:
            self.now = timestamp

    def advance_clock(self, timestamp: datetime) -> None:
        """Move ``now`` forward to ``timestamp`` (never backwards)."""
        if timestamp > self.now:
            self.now = timestamp

    def request_continue_as_new(self, input_: Any, preserve_unprocessed_events: bool) -> None:
        """Record a ``continue_as_new``; actions scheduled after the first such call are dropped, as in DF."""
        previous = self.continue_as_new
        if previous is not None:
            self.continue_as_new = replace(
                previous, input=input_, preserve_unprocessed_events=preserve_unprocessed_events
            )
        else:
            self.continue_as_new = ContinueAsNewRequest(input_, preserve_unprocessed_events, self._sequence)

    # ---- actions ------------------------------------------------------------------------
    def next_id(self) -> int:
        """The next sequence number."""
        seq = self._sequence
        self._sequence = seq + 1
        return seq

    def record_action(self, event: HistoryEvent) -> None:
        """Record an action the code asked for under its sequence number (``event.event_id``)."""
        self._pending[event.event_id] = event

    def pending_action(self, seq: int) -> HistoryEvent | None:
        """The action the code asked for at ``seq`` and history has not matched yet."""
        return self._pending.get(seq)

    def match_action(self, seq: int) -> None:
        """History recorded the action at ``seq``: it is no longer new."""
        self._pending.pop(seq, None)

    def drain_actions(self, before: int | None = None) -> list[HistoryEvent]:
        """Remove and return the unmatched actions (only those numbered below ``before``, if given)."""
        if before is None:
            actions = list(self._pending.values())
        else:
            actions = [a for seq, a in self._pending.items() if seq < before]
        self._pending.clear()
        return actions

    def schedule(self, event: HistoryEvent, decode: Callable[[Any], Any] | None = None) -> AtomicTask:
        """Record ``event`` as an action and return a task its result completes."""
        task = AtomicTask(event.event_id, decode, getattr(event, "name", ""))
        self.record_action(event)
        self._open[event.event_id] = task
        return task

    def create_timer(self, fire_at: datetime) -> TimerTask:
        """Schedule one durable timer firing at ``fire_at`` (naive datetimes are taken as UTC)."""
        if fire_at.tzinfo is None:
            fire_at = fire_at.replace(tzinfo=timezone.utc)
        seq = self.next_id()
        task = TimerTask(seq, fire_at)
        self.record_action(TimerCreated(event_id=seq, timestamp=self.now, fire_at=fire_at))
        self._open[seq] = task
        return task

    def timer_recorded(self, seq: int, fire_at: datetime) -> None:
        """History recorded the timer at ``seq`` firing at ``fire_at``: its task takes that time (a
        long timer's parts are computed from the clock, and history is what they were)."""
        task = self._open.get(seq)
        if isinstance(task, TimerTask):
            task.fire_at = fire_at

    # ---- results ------------------------------------------------------------------------
    def expect(self, key: int | str, task: _Task) -> _Task:
        """Register ``task`` to be completed by the result that arrives under ``key``."""
        self._open[key] = task
        return task

    def rekey(self, old: str, new: str) -> None:
        """The result awaited under ``old`` arrives under ``new`` (an entity request id another
        engine recorded); a held lock's request id follows."""
        task = self._open.pop(old, None)
        if task is not None:
            self._open[new] = task
        if self.locks is not None and self.locks.request_id == old:
            self.locks.request_id = new

    def take_task(self, key: int | str) -> AtomicTask | None:
        """Remove and return the task awaiting the result under ``key``, if any."""
        return self._open.pop(key, None) if self._open else None

    # ---- external events ----------------------------------------------------------------
    def add_waiter(self, name: str, task: AtomicTask) -> None:
        """Complete ``task`` with the oldest buffered ``name`` event, or queue it for the next one."""
        buffered = self._buffered.get(name)
        if buffered:
            task._complete_with_json(buffered.popleft())
        else:
            self._waiters.setdefault(name, deque()).append(task)

    def waiting_for(self) -> list[str]:
        """Names of events with a waiter that has not completed."""
        return [name for name, waiters in self._waiters.items() if any(not w.is_completed for w in waiters)]

    def deliver_event(self, name: str, payload: str | None, awaited: TaskBase | None) -> None:
        """Complete the oldest live waiter for ``name`` with ``payload``, or buffer it.

        A waiter is skipped when every ``task_any`` it belongs to already finished without it,
        unless it is the task the code awaits right now.
        """
        waiters = self._waiters.get(name)
        waiter = _take_live_waiter(waiters, awaited) if waiters else None
        if waiter is not None:
            waiter._complete_with_json(payload)
        else:
            self._buffered.setdefault(name, deque()).append(payload)

    def buffered_events(self) -> list[tuple[str, str | None]]:
        """Raised events no waiter consumed, as ``(name, payload)`` in arrival order per name."""
        return [(name, p) for name, payloads in self._buffered.items() for p in payloads]

    # ---- entity locks -------------------------------------------------------------------
    def release_locks(self) -> None:
        """Send release messages for the held entity locks, if any."""
        handle, self.locks = self.locks, None
        if handle is None:
            return
        payload = release_payload(handle.owner, handle.request_id)
        for target in handle.instance_ids:
            seq = self.next_id()
            self.record_action(
                EventSent(event_id=seq, timestamp=self.now, instance_id=target, name="release", input=payload)
            )


def _take_live_waiter(waiters: deque[AtomicTask], awaited: TaskBase | None) -> AtomicTask | None:
    for waiter in waiters:
        parents = waiter._parents or []
        abandoned = bool(parents) and all(p.is_completed for p in parents) and waiter is not awaited
        if not abandoned:
            waiters.remove(waiter)
            return waiter
    return None
