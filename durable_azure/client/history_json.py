"""History as the Durable Functions HTTP API shows it (``historyEvents``)."""

from __future__ import annotations

from typing import Any

from ..orchestration import serialization
from ..orchestration.history import (
    EventRaised,
    EventSent,
    ExecutionCompleted,
    ExecutionStarted,
    ExecutionTerminated,
    HistoryEvent,
    OrchestratorCompleted,
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
from ..storage.values import format_iso_micros


def history_to_json(
    events: list[HistoryEvent], *, show_output: bool = False, show_input: bool = True
) -> list[dict[str, Any]]:
    """Fold scheduling rows into their completions and drop episode markers, as DF's HTTP API does."""
    scheduled = {
        e.event_id: e for e in events if isinstance(e, (TaskScheduled, SubOrchestrationInstanceCreated))
    }
    answered = {
        e.task_scheduled_id
        for e in events
        if isinstance(
            e, (TaskCompleted, TaskFailed, SubOrchestrationInstanceCompleted, SubOrchestrationInstanceFailed)
        )
    }
    out: list[dict[str, Any]] = []
    for event in events:
        if isinstance(event, (OrchestratorStarted, OrchestratorCompleted)):
            continue
        if isinstance(event, (TaskScheduled, SubOrchestrationInstanceCreated)) and event.event_id in answered:
            continue
        row: dict[str, Any] = {
            "EventType": event.EVENT_TYPE.name,
            "Timestamp": format_iso_micros(event.timestamp),
        }
        if isinstance(event, ExecutionStarted):
            row["FunctionName"] = event.name
            if show_input:
                row["Input"] = serialization.loads_stored(event.input)
        elif isinstance(event, ExecutionCompleted):
            row["OrchestrationStatus"] = event.orchestration_status.name
            if show_output:
                row["Result"] = serialization.loads_stored(event.result)
            if event.failure_details:
                row["FailureDetails"] = event.failure_details.to_json_dict()
        elif isinstance(
            event,
            (TaskCompleted, TaskFailed, SubOrchestrationInstanceCompleted, SubOrchestrationInstanceFailed),
        ):
            origin = scheduled.get(event.task_scheduled_id)
            if origin is not None:
                row["FunctionName"] = origin.name
                row["ScheduledTime"] = format_iso_micros(origin.timestamp)
                if show_input:
                    row["Input"] = serialization.loads_stored(origin.input)
            if isinstance(event, (TaskCompleted, SubOrchestrationInstanceCompleted)):
                if show_output:
                    row["Result"] = serialization.loads_stored(event.result)
            else:
                row["Reason"] = event.reason
                row["Details"] = event.details
        elif isinstance(event, (TaskScheduled, SubOrchestrationInstanceCreated)):
            row["Name"] = event.name
            if show_input:
                row["Input"] = serialization.loads_stored(event.input)
        elif isinstance(event, (TimerCreated, TimerFired)):
            row["FireAt"] = format_iso_micros(event.fire_at)
        elif isinstance(event, (EventRaised, EventSent)):
            row["Name"] = event.name
            if show_input:
                row["Input"] = serialization.loads_stored(event.input)
        elif isinstance(event, ExecutionTerminated):
            row["Input"] = serialization.loads_stored(event.input)
        out.append(row)
    return out
