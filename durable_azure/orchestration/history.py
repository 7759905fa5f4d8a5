"""History events: the DurableTask (DTFx) event types as frozen dataclasses.

Payload fields (``input``, ``result``, ``reason``…) hold JSON *text*, exactly as DTFx stores
them; decoding happens once, in the orchestration context, when a task completes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from enum import IntEnum
from typing import ClassVar

from ..errors import FailureDetails

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


class EventType(IntEnum):
    """DurableTask.Core ``EventType`` (names in tables, numbers in queue messages)."""

    ExecutionStarted = 0
    ExecutionCompleted = 1
    ExecutionFailed = 2
    ExecutionTerminated = 3
    TaskScheduled = 4
    TaskCompleted = 5
    TaskFailed = 6
    SubOrchestrationInstanceCreated = 7
    SubOrchestrationInstanceCompleted = 8
    SubOrchestrationInstanceFailed = 9
    TimerCreated = 10
    TimerFired = 11
    OrchestratorStarted = 12
    OrchestratorCompleted = 13
    EventSent = 14
    EventRaised = 15
    ContinueAsNew = 16
    GenericEvent = 17
    HistoryState = 18
    ExecutionSuspended = 19
    ExecutionResumed = 20
    ExecutionRewound = 21


class OrchestrationStatus(IntEnum):
    """DurableTask.Core ``OrchestrationStatus`` (names in tables, numbers in JSON)."""

    Running = 0
    Completed = 1
    ContinuedAsNew = 2
    Failed = 3
    Canceled = 4
    Terminated = 5
    Pending = 6
    Suspended = 7

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL


_TERMINAL = frozenset(
    {
        OrchestrationStatus.Completed,
        OrchestrationStatus.Failed,
        OrchestrationStatus.Canceled,
        OrchestrationStatus.Terminated,
    }
)


@dataclass(frozen=True, slots=True)
class ParentInstance:
    """The orchestration that started a sub-orchestration (DTFx ``ParentInstance``)."""

    name: str
    instance_id: str
    execution_id: str
    task_schedule_id: int
    version: str = ""


@dataclass(frozen=True, slots=True)
class TraceContext:
    """DTFx ``DistributedTraceContext``: the W3C trace context an event continues.

    ``trace_parent`` is the W3C ``traceparent`` of the span that scheduled the work (the client's
    ``create_orchestration`` span, the orchestration's ``activity`` client span, ...). On an
    ``ExecutionStarted`` the worker also records the orchestration span it runs under (``id``: its
    traceparent, ``span_id``, ``activity_start_time``), so every episode — on any worker, after
    any restart — continues the same span.
    """

    trace_parent: str
    trace_state: str | None = None
    id: str | None = None
    span_id: str | None = None
    activity_start_time: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class HistoryEvent:
    """Base of every history event (DTFx ``HistoryEvent``)."""

    event_id: int = -1
    timestamp: datetime = _EPOCH
    is_played: bool = False

    EVENT_TYPE: ClassVar[EventType]


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutionStarted(HistoryEvent):
    EVENT_TYPE: ClassVar[EventType] = EventType.ExecutionStarted
    name: str
    instance_id: str
    execution_id: str
    input: str | None = None
    version: str = ""
    parent: ParentInstance | None = None
    tags: dict[str, str] | None = None
    generation: int | None = None
    scheduled_start_time: datetime | None = None
    trace_context: TraceContext | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutionCompleted(HistoryEvent):
    EVENT_TYPE: ClassVar[EventType] = EventType.ExecutionCompleted
    orchestration_status: OrchestrationStatus
    result: str | None = None
    failure_details: FailureDetails | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutionTerminated(HistoryEvent):
    EVENT_TYPE: ClassVar[EventType] = EventType.ExecutionTerminated
    input: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskScheduled(HistoryEvent):
    EVENT_TYPE: ClassVar[EventType] = EventType.TaskScheduled
    name: str
    input: str | None = None
    version: str = ""
    trace_context: TraceContext | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskCompleted(HistoryEvent):
    EVENT_TYPE: ClassVar[EventType] = EventType.TaskCompleted
    task_scheduled_id: int
    result: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskFailed(HistoryEvent):
    EVENT_TYPE: ClassVar[EventType] = EventType.TaskFailed
    task_scheduled_id: int
    reason: str | None = None
    details: str | None = None
    failure_details: FailureDetails | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SubOrchestrationInstanceCreated(HistoryEvent):
    EVENT_TYPE: ClassVar[EventType] = EventType.SubOrchestrationInstanceCreated
    name: str
    instance_id: str
    input: str | None = None
    version: str = ""
    #: The span id of the parent's ``orchestration:{name}`` client span (DTFx ``ClientSpanId``).
    client_span_id: str | None = None
    #: The child's tags: the parent's (DTFx ``OrchestrationTags.MergeTags``), also in its start.
    tags: dict[str, str] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SubOrchestrationInstanceCompleted(HistoryEvent):
    EVENT_TYPE: ClassVar[EventType] = EventType.SubOrchestrationInstanceCompleted
    task_scheduled_id: int
    result: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SubOrchestrationInstanceFailed(HistoryEvent):
    EVENT_TYPE: ClassVar[EventType] = EventType.SubOrchestrationInstanceFailed
    task_scheduled_id: int
    reason: str | None = None
    details: str | None = None
    failure_details: FailureDetails | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TimerCreated(HistoryEvent):
    EVENT_TYPE: ClassVar[EventType] = EventType.TimerCreated
    fire_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class TimerFired(HistoryEvent):
    EVENT_TYPE: ClassVar[EventType] = EventType.TimerFired
    timer_id: int
    fire_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class OrchestratorStarted(HistoryEvent):
    EVENT_TYPE: ClassVar[EventType] = EventType.OrchestratorStarted


@dataclass(frozen=True, slots=True, kw_only=True)
class OrchestratorCompleted(HistoryEvent):
    EVENT_TYPE: ClassVar[EventType] = EventType.OrchestratorCompleted


@dataclass(frozen=True, slots=True, kw_only=True)
class EventSent(HistoryEvent):
    EVENT_TYPE: ClassVar[EventType] = EventType.EventSent
    instance_id: str
    name: str
    input: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class EventRaised(HistoryEvent):
    EVENT_TYPE: ClassVar[EventType] = EventType.EventRaised
    name: str
    input: str | None = None
    trace_context: TraceContext | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ContinueAsNew(HistoryEvent):
    EVENT_TYPE: ClassVar[EventType] = EventType.ContinueAsNew
    result: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class GenericEvent(HistoryEvent):
    EVENT_TYPE: ClassVar[EventType] = EventType.GenericEvent
    data: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class HistoryState(HistoryEvent):
    EVENT_TYPE: ClassVar[EventType] = EventType.HistoryState
    state: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutionSuspended(HistoryEvent):
    EVENT_TYPE: ClassVar[EventType] = EventType.ExecutionSuspended
    reason: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutionResumed(HistoryEvent):
    EVENT_TYPE: ClassVar[EventType] = EventType.ExecutionResumed
    reason: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutionRewound(HistoryEvent):
    EVENT_TYPE: ClassVar[EventType] = EventType.ExecutionRewound
    reason: str | None = None


EVENT_CLASSES: dict[EventType, type[HistoryEvent]] = {
    cls.EVENT_TYPE: cls
    for cls in (
        ExecutionStarted,
        ExecutionCompleted,
        ExecutionTerminated,
        TaskScheduled,
        TaskCompleted,
        TaskFailed,
        SubOrchestrationInstanceCreated,
        SubOrchestrationInstanceCompleted,
        SubOrchestrationInstanceFailed,
        TimerCreated,
        TimerFired,
        OrchestratorStarted,
        OrchestratorCompleted,
        EventSent,
        EventRaised,
        ContinueAsNew,
        GenericEvent,
        HistoryState,
        ExecutionSuspended,
        ExecutionResumed,
        ExecutionRewound,
    )
}


def event_type_of(event: HistoryEvent) -> EventType:
    """The ``EventType`` of an event instance."""
    return event.EVENT_TYPE
