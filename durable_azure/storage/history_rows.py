"""History events <-> ``{Hub}History`` table rows, column for column as DurableTask.AzureStorage writes them.

Column names and Edm types follow ``TableEntityConverter`` (layout spec §2.3/§2.4): ``EventType`` and
``OrchestrationStatus`` as enum *names*, ids as Int32, times as DateTime, complex members as compact
Newtonsoft-style JSON (the string ``"null"`` when unset), and absent columns for ``None`` strings.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import FailureDetails, StorageError
from ..orchestration.history import (
    EVENT_CLASSES,
    ContinueAsNew,
    EventRaised,
    EventSent,
    EventType,
    ExecutionCompleted,
    ExecutionResumed,
    ExecutionRewound,
    ExecutionStarted,
    ExecutionSuspended,
    ExecutionTerminated,
    GenericEvent,
    HistoryEvent,
    HistoryState,
    OrchestrationStatus,
    ParentInstance,
    SubOrchestrationInstanceCompleted,
    SubOrchestrationInstanceCreated,
    SubOrchestrationInstanceFailed,
    TaskCompleted,
    TaskFailed,
    TaskScheduled,
    TimerCreated,
    TimerFired,
    TraceContext,
)
from .event_json import trace_context_from_json, trace_context_json
from .naming import row_key, unescape_partition_key
from .values import EPOCH, NULL_JSON, read_datetime, read_int, read_json, read_str, to_json, utc

# Columns DTFx moves to a blob when larger than 60 KiB UTF-16 (``VariableSizeEntityProperties``).
LARGE_PROPERTIES: tuple[str, ...] = (
    "Name",
    "Input",
    "Result",
    "Output",
    "Reason",
    "Details",
    "Correlation",
    "FailureDetails",
    "Tags",
)
BLOB_NAME_SUFFIX = "BlobName"


# ---------------------------------------------------------------------------- small converters


def failure_json(failure: FailureDetails | None) -> str:
    return NULL_JSON if failure is None else to_json(failure.to_json_dict())


def parent_json(parent: ParentInstance | None) -> str:
    if parent is None:
        return NULL_JSON
    return to_json(
        {
            "Name": parent.name,
            "OrchestrationInstance": {"InstanceId": parent.instance_id, "ExecutionId": parent.execution_id},
            "TaskScheduleId": parent.task_schedule_id,
            "Version": parent.version,
        }
    )


def parent_from_json(value: Any) -> ParentInstance | None:
    data = read_json(value)
    if not data:
        return None
    instance = data.get("OrchestrationInstance") or {}
    return ParentInstance(
        name=str(data.get("Name") or ""),
        instance_id=str(instance.get("InstanceId") or ""),
        execution_id=str(instance.get("ExecutionId") or ""),
        task_schedule_id=int(data.get("TaskScheduleId", -1)),
        version=str(data.get("Version") or ""),
    )


def trace_json(tc: TraceContext | None) -> str:
    """The ``ParentTraceContext`` column: DTFx's ``DistributedTraceContext`` as JSON, or ``"null"``."""
    return NULL_JSON if tc is None else to_json(trace_context_json(tc, typed=False))


def _put(entity: dict[str, Any], column: str, value: str | None) -> None:
    """Set a string column unless it is ``None`` (Table storage has no null)."""
    if value is not None:
        entity[column] = value


# ---------------------------------------------------------------------------- event -> row


def event_to_entity(
    event: HistoryEvent, *, partition_key: str, row_index: int, execution_id: str
) -> dict[str, Any]:
    """The DTFx History row of ``event`` at position ``row_index`` of execution ``execution_id``."""
    event_type = event.EVENT_TYPE
    entity: dict[str, Any] = {
        "PartitionKey": partition_key,
        "RowKey": row_key(row_index),
        "ExecutionId": execution_id,
        "EventType": event_type.name,
        "EventId": event.event_id,
        "IsPlayed": event.is_played,
        "_Timestamp": utc(event.timestamp),
    }
    writer = _WRITERS.get(type(event))
    if writer is not None:
        writer(event, entity)
    return entity


def _w_execution_started(e: ExecutionStarted, d: dict[str, Any]) -> None:
    d["OrchestrationInstance"] = to_json({"InstanceId": e.instance_id, "ExecutionId": e.execution_id})
    d["ParentInstance"] = parent_json(e.parent)
    d["Name"] = e.name
    d["Version"] = e.version
    _put(d, "Input", e.input)
    d["Tags"] = NULL_JSON if e.tags is None else to_json(e.tags)
    d["ParentTraceContext"] = trace_json(e.trace_context)
    if e.scheduled_start_time is not None:
        d["ScheduledStartTime"] = utc(e.scheduled_start_time)
    if e.generation is not None:
        d["Generation"] = e.generation
    d["GenerateNewTrace"] = False


def _w_execution_completed(e: ExecutionCompleted, d: dict[str, Any]) -> None:
    d["OrchestrationStatus"] = e.orchestration_status.name
    _put(d, "Result", e.result)
    d["FailureDetails"] = failure_json(e.failure_details)


def _w_continue_as_new(e: ContinueAsNew, d: dict[str, Any]) -> None:
    d["OrchestrationStatus"] = OrchestrationStatus.ContinuedAsNew.name
    _put(d, "Result", e.result)
    d["FailureDetails"] = NULL_JSON


def _w_input_only(e: ExecutionTerminated, d: dict[str, Any]) -> None:
    _put(d, "Input", e.input)


def _w_task_scheduled(e: TaskScheduled, d: dict[str, Any]) -> None:
    d["Name"] = e.name
    d["Version"] = e.version
    _put(d, "Input", e.input)
    # TableEntityConverter writes a null object member as "null" (v2), never leaves it out
    d["ParentTraceContext"] = trace_json(e.trace_context)
    d["Tags"] = NULL_JSON


def _w_completed(e: TaskCompleted | SubOrchestrationInstanceCompleted, d: dict[str, Any]) -> None:
    d["TaskScheduledId"] = e.task_scheduled_id
    _put(d, "Result", e.result)


def _w_failed(e: TaskFailed | SubOrchestrationInstanceFailed, d: dict[str, Any]) -> None:
    d["TaskScheduledId"] = e.task_scheduled_id
    _put(d, "Reason", e.reason)
    _put(d, "Details", e.details)
    d["FailureDetails"] = failure_json(e.failure_details)


def _w_sub_created(e: SubOrchestrationInstanceCreated, d: dict[str, Any]) -> None:
    d["Name"] = e.name
    d["Version"] = e.version
    d["InstanceId"] = e.instance_id
    _put(d, "Input", e.input)
    _put(d, "ClientSpanId", e.client_span_id)
    d["Tags"] = NULL_JSON if e.tags is None else to_json(e.tags)


def _w_timer_created(e: TimerCreated, d: dict[str, Any]) -> None:
    d["FireAt"] = utc(e.fire_at)


def _w_timer_fired(e: TimerFired, d: dict[str, Any]) -> None:
    d["TimerId"] = e.timer_id
    d["FireAt"] = utc(e.fire_at)


def _w_event_sent(e: EventSent, d: dict[str, Any]) -> None:
    d["InstanceId"] = e.instance_id
    d["Name"] = e.name
    _put(d, "Input", e.input)


def _w_event_raised(e: EventRaised, d: dict[str, Any]) -> None:
    d["Name"] = e.name
    _put(d, "Input", e.input)
    d["ParentTraceContext"] = trace_json(e.trace_context)


def _w_generic(e: GenericEvent, d: dict[str, Any]) -> None:
    _put(d, "Data", e.data)


def _w_history_state(e: HistoryState, d: dict[str, Any]) -> None:
    _put(d, "State", e.state)


def _w_reason(e: ExecutionSuspended | ExecutionResumed | ExecutionRewound, d: dict[str, Any]) -> None:
    _put(d, "Reason", e.reason)
    if isinstance(e, ExecutionRewound):
        d["ParentTraceContext"] = NULL_JSON


_WRITERS: dict[type[HistoryEvent], Any] = {
    ExecutionStarted: _w_execution_started,
    ExecutionCompleted: _w_execution_completed,
    ContinueAsNew: _w_continue_as_new,
    ExecutionTerminated: _w_input_only,
    TaskScheduled: _w_task_scheduled,
    TaskCompleted: _w_completed,
    SubOrchestrationInstanceCompleted: _w_completed,
    TaskFailed: _w_failed,
    SubOrchestrationInstanceFailed: _w_failed,
    SubOrchestrationInstanceCreated: _w_sub_created,
    TimerCreated: _w_timer_created,
    TimerFired: _w_timer_fired,
    EventSent: _w_event_sent,
    EventRaised: _w_event_raised,
    GenericEvent: _w_generic,
    HistoryState: _w_history_state,
    ExecutionSuspended: _w_reason,
    ExecutionResumed: _w_reason,
    ExecutionRewound: _w_reason,
}


# ---------------------------------------------------------------------------- row -> event


def entity_event_type(entity: Mapping[str, Any]) -> EventType:
    """The row's ``EventType`` (a name string; an integer is tolerated)."""
    raw = entity.get("EventType")
    try:
        if isinstance(raw, str):
            return EventType[raw]
        return EventType(read_int(raw, -1))
    except (KeyError, ValueError):
        raise StorageError(
            f"History row {entity.get('PartitionKey')!r}/{entity.get('RowKey')!r} has unknown EventType {raw!r}"
        ) from None


def entity_to_event(entity: Mapping[str, Any]) -> HistoryEvent:
    """The history event stored in a DTFx History row (inverse of :func:`event_to_entity`).

    ``{Prop}BlobName`` columns must already be resolved (the table reader does that).
    """
    event_type = entity_event_type(entity)
    cls = EVENT_CLASSES.get(event_type)
    if cls is None:
        raise StorageError(
            f"History row {entity.get('RowKey')!r}: EventType {event_type.name} cannot be read"
        )
    base: dict[str, Any] = {
        "event_id": read_int(entity.get("EventId"), -1),
        "timestamp": read_datetime(entity.get("_Timestamp")) or EPOCH,
        "is_played": bool(entity.get("IsPlayed", False)),
    }
    reader = _READERS.get(cls)
    if reader is not None:
        base.update(reader(entity))
    return cls(**base)


def _tags(value: Any) -> dict[str, str] | None:
    tags = read_json(value)
    return {str(k): str(v) for k, v in tags.items()} if isinstance(tags, dict) else None


def _r_execution_started(d: Mapping[str, Any]) -> dict[str, Any]:
    instance = read_json(d.get("OrchestrationInstance")) or {}
    tags = read_json(d.get("Tags"))
    generation = d.get("Generation")
    return {
        "name": d.get("Name") or "",
        "instance_id": instance.get("InstanceId") or unescape_partition_key(str(d.get("PartitionKey", ""))),
        "execution_id": instance.get("ExecutionId") or str(d.get("ExecutionId") or ""),
        "input": read_str(d.get("Input")),
        "version": d.get("Version") or "",
        "parent": parent_from_json(d.get("ParentInstance")),
        "tags": {str(k): str(v) for k, v in tags.items()} if isinstance(tags, dict) else None,
        "generation": None if generation is None else read_int(generation, 0),
        "scheduled_start_time": read_datetime(d.get("ScheduledStartTime")),
        "trace_context": _trace_column(d),
    }


def _trace_column(d: Mapping[str, Any]) -> TraceContext | None:
    try:
        return trace_context_from_json(read_json(d.get("ParentTraceContext")))
    except ValueError:  # trace context never makes history unreadable
        return None


def _status(value: Any, default: OrchestrationStatus) -> OrchestrationStatus:
    if isinstance(value, str):
        try:
            return OrchestrationStatus[value]
        except KeyError:
            return default
    if value is None:
        return default
    return OrchestrationStatus(read_int(value, int(default)))


def _r_execution_completed(d: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "orchestration_status": _status(d.get("OrchestrationStatus"), OrchestrationStatus.Completed),
        "result": read_str(d.get("Result")),
        "failure_details": FailureDetails.from_json_dict(read_json(d.get("FailureDetails"))),
    }


def _r_continue_as_new(d: Mapping[str, Any]) -> dict[str, Any]:
    return {"result": read_str(d.get("Result"))}


def _r_input_only(d: Mapping[str, Any]) -> dict[str, Any]:
    return {"input": read_str(d.get("Input"))}


def _r_task_scheduled(d: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "name": d.get("Name") or "",
        "input": read_str(d.get("Input")),
        "version": d.get("Version") or "",
        "trace_context": _trace_column(d),
    }


def _r_completed(d: Mapping[str, Any]) -> dict[str, Any]:
    return {"task_scheduled_id": read_int(d.get("TaskScheduledId"), -1), "result": read_str(d.get("Result"))}


def _r_failed(d: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "task_scheduled_id": read_int(d.get("TaskScheduledId"), -1),
        "reason": read_str(d.get("Reason")),
        "details": read_str(d.get("Details")),
        "failure_details": FailureDetails.from_json_dict(read_json(d.get("FailureDetails"))),
    }


def _r_sub_created(d: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "name": d.get("Name") or "",
        "instance_id": d.get("InstanceId") or "",
        "input": read_str(d.get("Input")),
        "version": d.get("Version") or "",
        "client_span_id": read_str(d.get("ClientSpanId")),
        "tags": _tags(d.get("Tags")),
    }


def _r_timer_created(d: Mapping[str, Any]) -> dict[str, Any]:
    return {"fire_at": read_datetime(d.get("FireAt")) or EPOCH}


def _r_timer_fired(d: Mapping[str, Any]) -> dict[str, Any]:
    return {"timer_id": read_int(d.get("TimerId"), -1), "fire_at": read_datetime(d.get("FireAt")) or EPOCH}


def _r_event_sent(d: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "instance_id": d.get("InstanceId") or "",
        "name": d.get("Name") or "",
        "input": read_str(d.get("Input")),
    }


def _r_event_raised(d: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "name": d.get("Name") or "",
        "input": read_str(d.get("Input")),
        "trace_context": _trace_column(d),
    }


def _r_generic(d: Mapping[str, Any]) -> dict[str, Any]:
    return {"data": read_str(d.get("Data"))}


def _r_history_state(d: Mapping[str, Any]) -> dict[str, Any]:
    return {"state": read_str(d.get("State"))}


def _r_reason(d: Mapping[str, Any]) -> dict[str, Any]:
    return {"reason": read_str(d.get("Reason"))}


_READERS: dict[type[HistoryEvent], Any] = {
    ExecutionStarted: _r_execution_started,
    ExecutionCompleted: _r_execution_completed,
    ContinueAsNew: _r_continue_as_new,
    ExecutionTerminated: _r_input_only,
    TaskScheduled: _r_task_scheduled,
    TaskCompleted: _r_completed,
    SubOrchestrationInstanceCompleted: _r_completed,
    TaskFailed: _r_failed,
    SubOrchestrationInstanceFailed: _r_failed,
    SubOrchestrationInstanceCreated: _r_sub_created,
    TimerCreated: _r_timer_created,
    TimerFired: _r_timer_fired,
    EventSent: _r_event_sent,
    EventRaised: _r_event_raised,
    GenericEvent: _r_generic,
    HistoryState: _r_history_state,
    ExecutionSuspended: _r_reason,
    ExecutionResumed: _r_reason,
    ExecutionRewound: _r_reason,
}
