"""What a worker remembers about one orchestration instance between episodes."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from ..orchestration.executor import ReplaySession
from ..orchestration.history import (
    EventSent,
    ExecutionCompleted,
    ExecutionResumed,
    ExecutionStarted,
    ExecutionSuspended,
    HistoryEvent,
    OrchestrationStatus,
    OrchestratorStarted,
    SubOrchestrationInstanceCompleted,
    SubOrchestrationInstanceCreated,
    SubOrchestrationInstanceFailed,
    TaskCompleted,
    TaskFailed,
    TaskScheduled,
    TimerCreated,
    TimerFired,
)
from ..storage.instance_table import InstanceUpdate, RowState, status_output, tags_json

_SCHEDULING = (TaskScheduled, TimerCreated, SubOrchestrationInstanceCreated, EventSent)
_RESULTS = (TaskCompleted, TaskFailed, SubOrchestrationInstanceCompleted, SubOrchestrationInstanceFailed)


def completion_id(event: HistoryEvent) -> int | None:
    """The task or timer id a completion event answers, else ``None``."""
    if isinstance(event, _RESULTS):
        return event.task_scheduled_id
    if isinstance(event, TimerFired):
        return event.timer_id
    return None


@dataclass
class InstanceState:
    """The current execution's history plus indexes that make each episode cheap."""

    history: list[HistoryEvent] = field(default_factory=list)
    etag: str | None = None
    row_etag: str | None = None  # the Instances row's ETag, read before our latest history append
    execution_id: str | None = None
    started: ExecutionStarted | None = None
    completed: ExecutionCompleted | None = None
    episodes: int = 0
    scheduled_ids: set[int] = field(default_factory=set)
    answered_ids: set[int] = field(default_factory=set)
    custom_status: str | None = None
    suspended: bool = False
    row_repair: InstanceUpdate = field(default_factory=InstanceUpdate)  # what a lost row write left out
    row: RowState | None = None  # the Instances row as read with the history (not kept up to date)
    session: ReplaySession | None = None  # the live orchestrator, so the next episode needs no replay
    #: History events from this index on were recorded by this process's own episodes, so it knows
    #: which of their results had their work item rewritten (before it: read from storage, unknown).
    known_from: int = 0
    #: Tasks whose work item was being rewritten into the next step's, until that is known to have
    #: worked: each future ends True (the step's work item was written) or False (the rewrite
    #: failed: a duplicate result of the task may mean the step's work item was never written).
    rewrites_in_doubt: dict[int, asyncio.Future[bool]] = field(default_factory=dict)

    @classmethod
    def from_history(
        cls, events: list[HistoryEvent], etag: str | None, execution_id: str | None
    ) -> InstanceState:
        state = cls(etag=etag, execution_id=execution_id)
        state.extend(events)
        state.known_from = len(state.history)
        return state

    def step_may_be_lost(self, answered: int) -> bool:
        """Whether a duplicate result of task ``answered`` may mean that the step its recording
        episode wrote over that task's work item was never written (docs/architecture.md, "One
        activity step"): yes for a result recorded before this process loaded the history (it
        cannot know), else only when that rewrite failed (one still under way: see
        ``rewrites_in_doubt``)."""
        for index, event in enumerate(self.history):
            if completion_id(event) == answered and isinstance(event, _RESULTS):
                if index < self.known_from:
                    return True
                pending = self.rewrites_in_doubt.get(answered)
                return pending is not None and pending.done() and not pending.result()
        return False

    def extend(self, events: list[HistoryEvent]) -> None:
        self.history.extend(events)
        for event in events:
            if isinstance(event, _SCHEDULING):
                self.scheduled_ids.add(event.event_id)
            elif isinstance(event, OrchestratorStarted):
                self.episodes += 1
            elif isinstance(event, ExecutionStarted):
                self.started = event
                self.execution_id = event.execution_id
            elif isinstance(event, ExecutionCompleted):
                self.completed = event
            elif isinstance(event, (ExecutionSuspended, ExecutionResumed)):
                self.suspended = isinstance(event, ExecutionSuspended)
            else:
                answered = completion_id(event)
                if answered is not None:
                    self.answered_ids.add(answered)

    @property
    def is_terminal(self) -> bool:
        return self.completed is not None


def recycled_task(state: InstanceState, answered: int) -> tuple[TaskScheduled, int] | None:
    """The work item the episode that recorded task ``answered``'s result wrote over that task's own
    work item (its first ``TaskScheduled``), with the episode's number, when that task is still
    unanswered; else ``None``."""
    history = state.history
    episode = 0
    at = None
    for i, event in enumerate(history):
        if isinstance(event, OrchestratorStarted):
            episode += 1
        elif isinstance(event, (TaskCompleted, TaskFailed)) and event.task_scheduled_id == answered:
            at = i
            break
    if at is None:
        return None
    for event in history[at + 1 :]:
        if isinstance(event, OrchestratorStarted):
            return None  # the next episode: this one scheduled no activity
        if isinstance(event, TaskScheduled):
            return (event, episode) if event.event_id not in state.answered_ids else None
    return None


def execution_update(started: ExecutionStarted, base: InstanceUpdate | None = None) -> InstanceUpdate:
    """``base`` with the row fields that describe one execution (written by its first checkpoint)."""
    return replace(
        base or InstanceUpdate(),
        name=started.name,
        version=started.version or "",
        created_time=started.timestamp,
        input=started.input,
        status=OrchestrationStatus.Running,
        execution_id=started.execution_id,
        generation=started.generation or 0,
        tags=tags_json(started.tags),
    )


def row_repair(state: InstanceState, row: RowState | None) -> InstanceUpdate:
    """What the Instances row lacks because a worker stopped between a history checkpoint and its
    row write (killed, or stalled and since replaced); empty when the row agrees with history.

    A row for another execution is left alone: it is a client's newer start (or restart).
    """
    started = state.started
    if started is None or (row is not None and row.execution_id != started.execution_id):
        return InstanceUpdate()
    update = InstanceUpdate()
    if row is None or row.status is OrchestrationStatus.Pending:
        update = execution_update(started)
        if state.suspended:
            update = replace(update, status=OrchestrationStatus.Suspended)
    completed = state.completed
    if completed is not None and (row is None or row.status is None or not row.status.is_terminal):
        update = replace(
            update,
            status=completed.orchestration_status,
            output=status_output(completed.result, completed.failure_details),
            completed_time=completed.timestamp,
        )
    if update:
        update = replace(update, last_updated_time=state.history[-1].timestamp)
    return update


class InstanceCache:
    """A bounded LRU of instance states, one per instance id."""

    def __init__(self, capacity: int = 2000) -> None:
        self._capacity = capacity
        self._states: OrderedDict[str, InstanceState] = OrderedDict()

    def get(self, instance_id: str) -> InstanceState | None:
        state = self._states.get(instance_id)
        if state is not None:
            self._states.move_to_end(instance_id)
        return state

    def peek(self, instance_id: str) -> InstanceState | None:
        """The cached state without marking it recently used."""
        return self._states.get(instance_id)

    def put(self, instance_id: str, state: InstanceState) -> None:
        self._states[instance_id] = state
        self._states.move_to_end(instance_id)
        while len(self._states) > self._capacity:
            self._states.popitem(last=False)

    def drop(self, instance_id: str) -> None:
        self._states.pop(instance_id, None)

    def drop_where(self, predicate: Callable[[str], bool]) -> None:
        for instance_id in [i for i in self._states if predicate(i)]:
            del self._states[instance_id]

    def __len__(self) -> int:
        return len(self._states)
