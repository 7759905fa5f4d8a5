"""Turn an episode's actions and completion into the queue messages DTFx would send."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

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
from .timers import visibility_delay


@dataclass(frozen=True, slots=True)
class Outbound:
    """One message to send: to the work-item queue (``to_work_items``) or to an instance's control queue."""

    message: TaskMessage
    to_work_items: bool = False
    delay: float = 0.0


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
                Outbound(
                    message(fired, instance_id, execution_id), delay=visibility_delay(action.fire_at, now)
                )
            )
        elif isinstance(action, SubOrchestrationInstanceCreated):
            child_execution = new_execution_id()
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
