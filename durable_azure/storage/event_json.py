"""History events <-> DTFx JSON: the ``DurableTask.Core.History.*Event`` objects queue messages carry.

Newtonsoft's shape, as DurableTask.AzureStorage writes it:

* ``$type`` is the **first** property of every object (assembly-less .NET full names), except
  ``Tags`` (a plain JSON object, which Newtonsoft reads fine);
* ``EventType`` and ``OrchestrationStatus`` are integers; nulls are written out;
* times are ISO-8601 UTC with up to 7 fractional digits, trailing zeros trimmed, and ``Z``.

Reading is strict about what it needs and says what is wrong: every failure is a
:class:`~durable_azure.errors.CorruptMessageError`. The ``as_*`` readers are shared with the
envelope codec (:mod:`durable_azure.storage.messages`).
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from ..errors import CorruptMessageError, FailureDetails
from ..orchestration.history import (
    EVENT_CLASSES,
    EventType,
    HistoryEvent,
    OrchestrationStatus,
    ParentInstance,
    TraceContext,
)
from .values import format_timestamp, parse_timestamp, to_json

__all__ = [
    "as_int",
    "as_object",
    "as_str",
    "event_from_json_dict",
    "event_to_json_dict",
    "event_type_name",
    "instance_json",
    "trace_context_from_json",
    "trace_context_json",
]

INSTANCE_TYPE = "DurableTask.Core.OrchestrationInstance"
PARENT_INSTANCE_TYPE = "DurableTask.Core.ParentInstance"
FAILURE_DETAILS_TYPE = "DurableTask.Core.FailureDetails"
TRACE_CONTEXT_TYPE = "DurableTask.Core.Tracing.DistributedTraceContext"
EVENT_TYPE_PREFIX = "DurableTask.Core.History."


# Per event type: (JSON member, dataclass attribute, kind). Members DTFx has but we do not model
# are written as null (kind "null"; a bool: "false") so the JSON carries every member a .NET writer would.
_Spec = tuple[tuple[str, str, str], ...]
_FAILED: _Spec = (
    ("TaskScheduledId", "task_scheduled_id", "int"),
    ("Reason", "reason", "str"),
    ("Details", "details", "str"),
    ("FailureDetails", "failure_details", "failure"),
)
_SPECS: dict[EventType, _Spec] = {
    EventType.ExecutionStarted: (
        ("OrchestrationInstance", "", "instance"),
        ("ParentInstance", "parent", "parent"),
        ("Name", "name", "str"),
        ("Version", "version", "str"),
        ("Input", "input", "str"),
        ("Tags", "tags", "tags"),
        ("Correlation", "", "null"),
        ("ParentTraceContext", "trace_context", "trace"),
        ("ScheduledStartTime", "scheduled_start_time", "time"),
        ("Generation", "generation", "int"),
        ("GenerateNewTrace", "", "false"),
    ),
    EventType.ExecutionCompleted: (
        ("OrchestrationStatus", "orchestration_status", "status"),
        ("Result", "result", "str"),
        ("FailureDetails", "failure_details", "failure"),
    ),
    EventType.ExecutionTerminated: (("Input", "input", "str"),),
    EventType.TaskScheduled: (
        ("Name", "name", "str"),
        ("Version", "version", "str"),
        ("Input", "input", "str"),
        ("Tags", "", "null"),
        ("ParentTraceContext", "trace_context", "trace"),
    ),
    EventType.TaskCompleted: (("TaskScheduledId", "task_scheduled_id", "int"), ("Result", "result", "str")),
    EventType.TaskFailed: _FAILED,
    EventType.SubOrchestrationInstanceCreated: (
        ("Name", "name", "str"),
        ("Version", "version", "str"),
        ("InstanceId", "instance_id", "str"),
        ("Input", "input", "str"),
        ("Tags", "tags", "tags"),
    ),
    EventType.SubOrchestrationInstanceCompleted: (
        ("TaskScheduledId", "task_scheduled_id", "int"),
        ("Result", "result", "str"),
    ),
    EventType.SubOrchestrationInstanceFailed: _FAILED,
    EventType.TimerCreated: (("FireAt", "fire_at", "time"),),
    EventType.TimerFired: (("TimerId", "timer_id", "int"), ("FireAt", "fire_at", "time")),
    EventType.OrchestratorStarted: (),
    EventType.OrchestratorCompleted: (),
    EventType.EventSent: (
        ("InstanceId", "instance_id", "str"),
        ("Name", "name", "str"),
        ("Input", "input", "str"),
    ),
    EventType.EventRaised: (
        ("Name", "name", "str"),
        ("Input", "input", "str"),
        ("ParentTraceContext", "trace_context", "trace"),
    ),
    EventType.ContinueAsNew: (
        ("OrchestrationStatus", "", "continued"),
        ("Result", "result", "str"),
        ("FailureDetails", "", "null"),
    ),
    EventType.GenericEvent: (("Data", "data", "str"),),
    EventType.HistoryState: (("State", "state", "json"),),
    EventType.ExecutionSuspended: (("Reason", "reason", "str"),),
    EventType.ExecutionResumed: (("Reason", "reason", "str"),),
    EventType.ExecutionRewound: (
        ("Reason", "reason", "str"),
        ("ParentExecutionId", "", "null"),
        ("InstanceId", "", "null"),
        ("ParentTraceContext", "", "null"),
    ),
}


def event_type_name(event_type: EventType) -> str:
    """The .NET class of an event type, e.g. ``DurableTask.Core.History.TaskScheduledEvent``."""
    name = event_type.name
    return EVENT_TYPE_PREFIX + (name if name == "GenericEvent" else name + "Event")


_CLASS_TO_TYPE = {event_type_name(t): t for t in _SPECS}


def instance_json(instance_id: str, execution_id: str | None) -> dict[str, Any]:
    """The ``OrchestrationInstance`` object of an instance and execution."""
    return {"$type": INSTANCE_TYPE, "InstanceId": instance_id, "ExecutionId": execution_id}


def _failure_json(fd: FailureDetails | None) -> dict[str, Any] | None:
    if fd is None:
        return None
    data = fd.to_json_dict()
    data["InnerFailure"] = _failure_json(fd.inner_failure)
    return {"$type": FAILURE_DETAILS_TYPE, **data}


def trace_context_json(tc: TraceContext | None, *, typed: bool = True) -> dict[str, Any] | None:
    """DTFx ``DistributedTraceContext`` as Newtonsoft writes it (``$type`` first in messages)."""
    if tc is None:
        return None
    out: dict[str, Any] = {"$type": TRACE_CONTEXT_TYPE} if typed else {}
    out["TraceParent"] = tc.trace_parent
    out["TraceState"] = tc.trace_state
    out["Id"] = tc.id
    out["SpanId"] = tc.span_id
    out["ActivityStartTime"] = (
        None if tc.activity_start_time is None else format_timestamp(tc.activity_start_time)
    )
    return out


def trace_context_from_json(value: Any) -> TraceContext | None:
    """A ``DistributedTraceContext`` object, leniently: trace context never makes a message unreadable."""
    if not isinstance(value, dict) or not isinstance(value.get("TraceParent"), str):
        return None

    def text(key: str) -> str | None:
        item = value.get(key)
        return item if isinstance(item, str) else None

    started = text("ActivityStartTime")
    try:
        start_time = parse_timestamp(started) if started else None
    except ValueError:
        start_time = None
    return TraceContext(
        trace_parent=value["TraceParent"],
        trace_state=text("TraceState"),
        id=text("Id"),
        span_id=text("SpanId"),
        activity_start_time=start_time,
    )


def _encode_value(event: HistoryEvent, attr: str, kind: str) -> Any:
    if kind == "null":
        return None
    if kind == "false":
        return False
    if kind == "instance":
        return instance_json(event.instance_id, event.execution_id)  # type: ignore[attr-defined]
    if kind == "continued":
        return int(OrchestrationStatus.ContinuedAsNew)
    value = getattr(event, attr)
    if value is None:
        return None
    if kind == "time":
        return format_timestamp(value)
    if kind == "status":
        return int(value)
    if kind == "failure":
        return _failure_json(value)
    if kind == "tags":
        return dict(value)
    if kind == "trace":
        return trace_context_json(value)
    if kind == "parent":
        p: ParentInstance = value
        return {
            "$type": PARENT_INSTANCE_TYPE,
            "Name": p.name,
            "OrchestrationInstance": instance_json(p.instance_id, p.execution_id),
            "TaskScheduleId": p.task_schedule_id,
            "Version": p.version,
        }
    if kind == "json":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def event_to_json_dict(event: HistoryEvent) -> dict[str, Any]:
    """The Newtonsoft JSON object of a history event, ``$type`` first."""
    event_type = event.EVENT_TYPE
    out: dict[str, Any] = {"$type": event_type_name(event_type), "EventType": int(event_type)}
    for member, attr, kind in _SPECS[event_type]:
        out[member] = _encode_value(event, attr, kind)
    out["EventId"] = event.event_id
    out["IsPlayed"] = event.is_played
    out["Timestamp"] = format_timestamp(event.timestamp)
    return out


def as_int(value: Any, what: str) -> int:
    """``value`` as an integer (integral floats and digit strings too), else :class:`CorruptMessageError`."""
    if isinstance(value, bool):
        raise CorruptMessageError(f"{what} is a boolean, expected an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        return int(value)
    raise CorruptMessageError(f"{what} is {value!r}, expected an integer")


def as_str(value: Any, what: str) -> str:
    """``value`` if it is a string, else :class:`CorruptMessageError` naming ``what``."""
    if not isinstance(value, str):
        raise CorruptMessageError(f"{what} is {type(value).__name__}, expected a string")
    return value


def _as_time(value: Any, what: str) -> datetime:
    try:
        return parse_timestamp(as_str(value, what))
    except ValueError as e:
        raise CorruptMessageError(f"{what}: {e}") from None


def as_object(value: Any, what: str) -> dict[str, Any]:
    """``value`` if it is a JSON object, else :class:`CorruptMessageError` naming ``what``."""
    if not isinstance(value, dict):
        raise CorruptMessageError(f"{what} is {type(value).__name__}, expected an object")
    return value


def _as_status(value: Any, what: str) -> OrchestrationStatus:
    try:
        if isinstance(value, str) and not value.strip().lstrip("-").isdigit():
            return OrchestrationStatus[value.strip()]
        return OrchestrationStatus(as_int(value, what))
    except (KeyError, ValueError):
        raise CorruptMessageError(f"{what} is not an OrchestrationStatus: {value!r}") from None


def _as_parent(value: Any, what: str) -> ParentInstance:
    data = as_object(value, what)
    inst = as_object(data.get("OrchestrationInstance"), f"{what}.OrchestrationInstance")
    return ParentInstance(
        name=as_str(data.get("Name") or "", f"{what}.Name"),
        instance_id=as_str(inst.get("InstanceId"), f"{what}.OrchestrationInstance.InstanceId"),
        execution_id=as_str(inst.get("ExecutionId") or "", f"{what}.OrchestrationInstance.ExecutionId"),
        task_schedule_id=as_int(data.get("TaskScheduleId", -1), f"{what}.TaskScheduleId"),
        version=as_str(data.get("Version") or "", f"{what}.Version"),
    )


def _as_json_text(value: Any, what: str) -> str:
    return value if isinstance(value, str) else to_json(value)


_DECODERS: dict[str, Callable[[Any, str], Any]] = {
    "str": as_str,
    "int": as_int,
    "time": _as_time,
    "status": _as_status,
    "failure": lambda v, w: FailureDetails.from_json_dict(as_object(v, w)),
    "tags": lambda v, w: {str(k): str(x) for k, x in as_object(v, w).items() if k != "$type"},
    "parent": _as_parent,
    "json": _as_json_text,
    "trace": lambda v, w: trace_context_from_json(v),
}

_REQUIRED: dict[EventType, frozenset[str]] = {
    t: frozenset(
        f.name
        for f in dataclasses.fields(cls)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    )
    for t, cls in EVENT_CLASSES.items()
}


_MEMBER_OF: dict[EventType, dict[str, str]] = {
    t: {attr: member for member, attr, _ in spec if attr}
    | (
        {"instance_id": "OrchestrationInstance", "execution_id": "OrchestrationInstance"}
        if t is EventType.ExecutionStarted
        else {}
    )
    for t, spec in _SPECS.items()
}


def _event_type_of(d: dict[str, Any]) -> EventType:
    raw = d.get("EventType")
    try:
        if raw is None:
            type_name = str(d.get("$type") or "").split(",")[0].strip()
            return _CLASS_TO_TYPE[type_name]
        if isinstance(raw, str) and not raw.strip().isdigit():
            return EventType[raw.strip()]
        return EventType(as_int(raw, "EventType"))
    except (KeyError, ValueError):
        raise CorruptMessageError(
            f"unknown event type (EventType={raw!r}, $type={d.get('$type')!r})"
        ) from None


def event_from_json_dict(d: dict[str, Any]) -> HistoryEvent:
    """Parse a history event's JSON object; raises :class:`CorruptMessageError` when unusable."""
    d = as_object(d, "Event")
    event_type = _event_type_of(d)
    cls = EVENT_CLASSES.get(event_type)
    if cls is None:
        raise CorruptMessageError(f"event type {event_type.name} cannot be carried by a message")
    kwargs: dict[str, Any] = {}
    for member, attr, kind in _SPECS[event_type]:
        value = d.get(member)
        if value is None or kind in ("null", "continued", "false"):
            continue
        what = f"{cls.__name__}.{member}"
        if kind == "instance":
            inst = as_object(value, what)
            if inst.get("InstanceId") is not None:
                kwargs["instance_id"] = as_str(inst["InstanceId"], what + ".InstanceId")
            if inst.get("ExecutionId") is not None:
                kwargs["execution_id"] = as_str(inst["ExecutionId"], what + ".ExecutionId")
            continue
        decoded = _DECODERS[kind](value, what)
        if decoded is not None:
            kwargs[attr] = decoded
    missing = _REQUIRED[event_type] - kwargs.keys()
    if missing:
        names = sorted({_MEMBER_OF[event_type].get(a, a) for a in missing})
        raise CorruptMessageError(f"{event_type.name} event is missing {', '.join(names)}")
    if d.get("EventId") is not None:
        kwargs["event_id"] = as_int(d["EventId"], "EventId")
    if d.get("IsPlayed") is not None:
        kwargs["is_played"] = bool(d["IsPlayed"])
    if d.get("Timestamp") is not None:
        kwargs["timestamp"] = _as_time(d["Timestamp"], "Timestamp")
    return cls(**kwargs)
