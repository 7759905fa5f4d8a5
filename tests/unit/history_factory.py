"""Builders for replay-core history events (one factory per event type) and a tiny episode driver.

Payload arguments are Python values, encoded with :func:`json.dumps` (independently of the engine's
own serializer); pass ``raw=`` to store exact JSON text instead. Test files import this module
with a ``sys.path`` insert, so it works with ``--import-mode=importlib``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from durable_azure.orchestration.executor import OrchestrationResult, execute
from durable_azure.orchestration.history import (
    ContinueAsNew,
    EventRaised,
    EventSent,
    ExecutionCompleted,
    ExecutionResumed,
    ExecutionStarted,
    ExecutionSuspended,
    ExecutionTerminated,
    FailureDetails,
    GenericEvent,
    HistoryEvent,
    OrchestrationStatus,
    OrchestratorCompleted,
    OrchestratorStarted,
    ParentInstance,
    SubOrchestrationInstanceCompleted,
    SubOrchestrationInstanceCreated,
    SubOrchestrationInstanceFailed,
    TaskCompleted,
    TaskFailed,
    TaskScheduled,
    TimerCreated,
    TimerFired,
)

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=timezone.utc)
INSTANCE_ID = "inst-1"
EXECUTION_ID = "exec-1"
ORCHESTRATOR_NAME = "Orch"

_UNSET: Any = object()


def at(seconds: float = 0) -> datetime:
    """``T0`` plus ``seconds``."""
    return T0 + timedelta(seconds=seconds)


def _payload(value: Any, raw: str | None) -> str | None:
    if raw is not None:
        return raw
    if value is _UNSET or value is None:
        return None
    return json.dumps(value)


# ---- one factory per event type --------------------------------------------------------------
def execution_started(
    input: Any = _UNSET,
    *,
    raw: str | None = None,
    name: str = ORCHESTRATOR_NAME,
    instance_id: str = INSTANCE_ID,
    execution_id: str = EXECUTION_ID,
    version: str = "",
    parent_instance_id: str | None = None,
    timestamp: datetime = T0,
) -> ExecutionStarted:
    parent = None
    if parent_instance_id is not None:
        parent = ParentInstance(
            name="ParentOrch", instance_id=parent_instance_id, execution_id="parent-exec", task_schedule_id=3
        )
    return ExecutionStarted(
        name=name,
        instance_id=instance_id,
        execution_id=execution_id,
        input=_payload(input, raw),
        version=version,
        parent=parent,
        timestamp=timestamp,
    )


def orchestrator_started(timestamp: datetime = T0) -> OrchestratorStarted:
    return OrchestratorStarted(timestamp=timestamp)


def orchestrator_completed(timestamp: datetime = T0) -> OrchestratorCompleted:
    return OrchestratorCompleted(timestamp=timestamp)


def execution_completed(
    status: OrchestrationStatus = OrchestrationStatus.Completed,
    result: Any = _UNSET,
    *,
    event_id: int = 1,
    timestamp: datetime = T0,
) -> ExecutionCompleted:
    return ExecutionCompleted(
        event_id=event_id,
        orchestration_status=status,
        result=_payload(result, None),
        timestamp=timestamp,
    )


def execution_terminated(reason: Any = _UNSET, *, timestamp: datetime = T0) -> ExecutionTerminated:
    return ExecutionTerminated(input=_payload(reason, None), timestamp=timestamp)


def execution_suspended(reason: str | None = None, *, timestamp: datetime = T0) -> ExecutionSuspended:
    return ExecutionSuspended(reason=reason, timestamp=timestamp)


def execution_resumed(reason: str | None = None, *, timestamp: datetime = T0) -> ExecutionResumed:
    return ExecutionResumed(reason=reason, timestamp=timestamp)


def task_scheduled(
    event_id: int, name: str, input: Any = _UNSET, *, timestamp: datetime = T0
) -> TaskScheduled:
    return TaskScheduled(event_id=event_id, name=name, input=_payload(input, None), timestamp=timestamp)


def task_completed(
    task_id: int, result: Any = _UNSET, *, raw: str | None = None, timestamp: datetime = T0
) -> TaskCompleted:
    return TaskCompleted(task_scheduled_id=task_id, result=_payload(result, raw), timestamp=timestamp)


def failure_details(
    error_type: str = "ValueError",
    message: str = "boom",
    stack_trace: str
    | None = 'Traceback (most recent call last):\n  File "act.py", line 3\nValueError: boom\n',
    *,
    non_retriable: bool = False,
) -> FailureDetails:
    return FailureDetails(
        error_type=error_type, error_message=message, stack_trace=stack_trace, is_non_retriable=non_retriable
    )


def task_failed(
    task_id: int,
    details: FailureDetails | None = None,
    *,
    reason: str | None = None,
    timestamp: datetime = T0,
) -> TaskFailed:
    details = details if details is not None else failure_details()
    return TaskFailed(
        task_scheduled_id=task_id,
        reason=reason if reason is not None else details.error_message,
        details=details.stack_trace,
        failure_details=details,
        timestamp=timestamp,
    )


def sub_orchestration_created(
    event_id: int,
    name: str,
    instance_id: str | None = None,
    input: Any = _UNSET,
    *,
    timestamp: datetime = T0,
) -> SubOrchestrationInstanceCreated:
    return SubOrchestrationInstanceCreated(
        event_id=event_id,
        name=name,
        instance_id=instance_id if instance_id is not None else f"{INSTANCE_ID}:{event_id}",
        input=_payload(input, None),
        timestamp=timestamp,
    )


def sub_orchestration_completed(
    task_id: int, result: Any = _UNSET, *, timestamp: datetime = T0
) -> SubOrchestrationInstanceCompleted:
    return SubOrchestrationInstanceCompleted(
        task_scheduled_id=task_id, result=_payload(result, None), timestamp=timestamp
    )


def sub_orchestration_failed(
    task_id: int, details: FailureDetails | None = None, *, timestamp: datetime = T0
) -> SubOrchestrationInstanceFailed:
    details = details if details is not None else failure_details()
    return SubOrchestrationInstanceFailed(
        task_scheduled_id=task_id,
        reason=details.error_message,
        details=details.stack_trace,
        failure_details=details,
        timestamp=timestamp,
    )


def timer_created(event_id: int, fire_at: datetime, *, timestamp: datetime = T0) -> TimerCreated:
    return TimerCreated(event_id=event_id, fire_at=fire_at, timestamp=timestamp)


def timer_fired(timer_id: int, fire_at: datetime, *, timestamp: datetime | None = None) -> TimerFired:
    return TimerFired(timer_id=timer_id, fire_at=fire_at, timestamp=timestamp or fire_at)


def event_raised(
    name: str, data: Any = _UNSET, *, raw: str | None = None, timestamp: datetime = T0
) -> EventRaised:
    return EventRaised(name=name, input=_payload(data, raw), timestamp=timestamp)


def event_sent(
    event_id: int,
    instance_id: str,
    name: str = "op",
    input: Any = _UNSET,
    *,
    raw: str | None = None,
    timestamp: datetime = T0,
) -> EventSent:
    return EventSent(
        event_id=event_id, instance_id=instance_id, name=name, input=_payload(input, raw), timestamp=timestamp
    )


def continue_as_new_event(result: Any = _UNSET, *, timestamp: datetime = T0) -> ContinueAsNew:
    return ContinueAsNew(result=_payload(result, None), timestamp=timestamp)


def generic_event(data: str | None = None, *, event_id: int = -1, timestamp: datetime = T0) -> GenericEvent:
    return GenericEvent(event_id=event_id, data=data, timestamp=timestamp)


def entity_response(request_id: str, result: Any = _UNSET, *, timestamp: datetime = T0) -> EventRaised:
    """The EventRaised an entity sends back for a ``call_entity`` request (success)."""
    body: dict[str, Any] = {"result": _payload(result, None)}
    return EventRaised(name=request_id, input=json.dumps(body), timestamp=timestamp)


def entity_failure_response(
    request_id: str, error_type: str, message: str, *, timestamp: datetime = T0
) -> EventRaised:
    """The EventRaised an entity sends back when the operation raised."""
    body = {"result": json.dumps(message), "exceptionType": error_type}
    return EventRaised(name=request_id, input=json.dumps(body), timestamp=timestamp)


# ---- episode driver ---------------------------------------------------------------------------
@dataclass
class Episodes:
    """Drives an orchestrator episode by episode, recording every episode's new events as history."""

    orchestrator: Callable[..., Any]
    history: list[HistoryEvent] = field(default_factory=list)
    results: list[OrchestrationResult] = field(default_factory=list)

    def run(self, *new_events: HistoryEvent) -> OrchestrationResult:
        result = execute(self.orchestrator, list(self.history), list(new_events))
        self.history.extend(result.new_events)
        self.results.append(result)
        return result

    def start(self, input: Any = _UNSET, *, timestamp: datetime = T0, **kwargs: Any) -> OrchestrationResult:
        """First episode: OrchestratorStarted + ExecutionStarted."""
        return self.run(
            orchestrator_started(timestamp), execution_started(input, timestamp=timestamp, **kwargs)
        )

    def step(self, *events: HistoryEvent, timestamp: datetime) -> OrchestrationResult:
        """A later episode: OrchestratorStarted at ``timestamp`` followed by ``events``."""
        return self.run(orchestrator_started(timestamp), *events)


# ---- custom payload class (to_json/from_json convention) ---------------------------------------
@dataclass
class Point:
    x: int
    y: int

    @staticmethod
    def to_json(obj: Point) -> dict[str, int]:
        return {"x": obj.x, "y": obj.y}

    @staticmethod
    def from_json(data: dict[str, int]) -> Point:
        return Point(data["x"], data["y"])
