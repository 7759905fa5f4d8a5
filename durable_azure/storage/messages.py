"""Queue message bodies in the DurableTask.AzureStorage ``MessageData`` JSON format.

A body is the Newtonsoft JSON of ``DurableTask.AzureStorage.MessageData`` wrapping a
``DurableTask.Core.TaskMessage`` whose ``Event`` is a ``DurableTask.Core.History.*Event``:

* ``$type`` is the **first** property of every object (assembly-less .NET full names), except
  ``Sender`` (no ``$type``) and ``Tags`` (a plain JSON object, which Newtonsoft reads fine);
* ``EventType`` and ``OrchestrationStatus`` are integers; nulls are written out;
* times are ISO-8601 UTC with up to 7 fractional digits, trailing zeros trimmed, and ``Z``.

**Body encoding**: we *write* raw UTF-8 JSON text (the DT.AS v2 default, readable by DT.AS v2 and
v1 >= 1.17.4). We *read* raw JSON and base64-encoded JSON (what DT.AS v1 wrote): a body that
does not start with ``{`` is base64-decoded first.

A body larger than 45 KiB (UTF-8) is stored gzipped in a blob and the queue carries a wrapper
whose ``CompressedBlobName`` names it; :func:`decode_message` returns that name for a wrapper
(:mod:`durable_azure.storage.queues` downloads the blob and decodes the full envelope in it).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import itertools
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from ..errors import CorruptMessageError
from ..orchestration.history import (
    EVENT_CLASSES,
    EventType,
    FailureDetails,
    HistoryEvent,
    OrchestrationStatus,
    ParentInstance,
)

MESSAGE_DATA_TYPE = "DurableTask.AzureStorage.MessageData"
TASK_MESSAGE_TYPE = "DurableTask.Core.TaskMessage"
INSTANCE_TYPE = "DurableTask.Core.OrchestrationInstance"
PARENT_INSTANCE_TYPE = "DurableTask.Core.ParentInstance"
FAILURE_DETAILS_TYPE = "DurableTask.Core.FailureDetails"
EVENT_TYPE_PREFIX = "DurableTask.Core.History."
EMPTY_ACTIVITY_ID = "00000000-0000-0000-0000-000000000000"


@dataclass(frozen=True, slots=True)
class TaskMessage:
    """One event addressed to one orchestration instance (DTFx ``TaskMessage`` + ``MessageData``)."""

    event: HistoryEvent
    instance_id: str
    execution_id: str | None  # None = "the current execution" (client-sent events)
    episode: int | None = None
    sender_instance_id: str = ""
    sender_execution_id: str = ""
    activity_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    sequence_number: int = 0  # MessageData.SequenceNumber; 0 = assigned when sent


_sequence = itertools.count(1)


def next_sequence_number() -> int:
    """A per-process increasing number (DTFx's static ``MessageData`` counter)."""
    return next(_sequence)


# ---------------------------------------------------------------------------------- timestamps

_TS_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:?\d{2})?$", re.IGNORECASE
)


def format_timestamp(value: datetime) -> str:
    """Newtonsoft round-trip UTC format: ``2023-04-05T03:31:23.6268922Z`` (trailing zeros trimmed)."""
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc)
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    if len(text) < 19:  # years below 1000 are not zero-padded by strftime on every platform
        text = f"{value.year:04d}" + text[text.index("-") :]
    frac = f"{value.microsecond:06d}".rstrip("0")
    return f"{text}.{frac}Z" if frac else f"{text}Z"


def parse_timestamp(text: str) -> datetime:
    """Parse an ISO-8601 time (any number of fractional digits); no offset means UTC."""
    m = _TS_RE.match(text.strip())
    if not m:
        raise ValueError(f"not an ISO-8601 timestamp: {text!r}")
    year, month, day, hour, minute, second, frac, tz = m.groups()
    micro = int((frac or "").ljust(6, "0")[:6])
    value = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), micro)
    if tz and tz.upper() != "Z":
        sign = 1 if tz[0] == "+" else -1
        digits = tz[1:].replace(":", "")
        offset = sign * (int(digits[:2]) * 60 + int(digits[2:]))
        if offset:
            aware = value.replace(tzinfo=timezone(timedelta(minutes=offset)))
            return aware.astimezone(timezone.utc)
    return value.replace(tzinfo=timezone.utc)


# ---------------------------------------------------------------------------------- events

# Per event type: (JSON member, dataclass attribute, kind). Members DTFx has but we do not model
# are written as null (kind "null") so the JSON carries every member a .NET writer would.
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
        ("ParentTraceContext", "", "null"),
        ("ScheduledStartTime", "scheduled_start_time", "time"),
        ("Generation", "generation", "int"),
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
        ("ParentTraceContext", "", "null"),
    ),
    EventType.TaskCompleted: (("TaskScheduledId", "task_scheduled_id", "int"), ("Result", "result", "str")),
    EventType.TaskFailed: _FAILED,
    EventType.SubOrchestrationInstanceCreated: (
        ("Name", "name", "str"),
        ("Version", "version", "str"),
        ("InstanceId", "instance_id", "str"),
        ("Input", "input", "str"),
        ("Tags", "", "null"),
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
        ("ParentTraceContext", "", "null"),
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


def _instance_json(instance_id: str, execution_id: str | None) -> dict[str, Any]:
    return {"$type": INSTANCE_TYPE, "InstanceId": instance_id, "ExecutionId": execution_id}


def _failure_json(fd: FailureDetails | None) -> dict[str, Any] | None:
    if fd is None:
        return None
    data = fd.to_json_dict()
    data["InnerFailure"] = _failure_json(fd.inner_failure)
    return {"$type": FAILURE_DETAILS_TYPE, **data}


def _encode_value(event: HistoryEvent, attr: str, kind: str) -> Any:
    if kind == "null":
        return None
    if kind == "instance":
        return _instance_json(event.instance_id, event.execution_id)  # type: ignore[attr-defined]
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
    if kind == "parent":
        p: ParentInstance = value
        return {
            "$type": PARENT_INSTANCE_TYPE,
            "Name": p.name,
            "OrchestrationInstance": _instance_json(p.instance_id, p.execution_id),
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


def _as_int(value: Any, what: str) -> int:
    if isinstance(value, bool):
        raise CorruptMessageError(f"{what} is a boolean, expected an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        return int(value)
    raise CorruptMessageError(f"{what} is {value!r}, expected an integer")


def _as_str(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise CorruptMessageError(f"{what} is {type(value).__name__}, expected a string")
    return value


def _as_time(value: Any, what: str) -> datetime:
    try:
        return parse_timestamp(_as_str(value, what))
    except ValueError as e:
        raise CorruptMessageError(f"{what}: {e}") from None


def _as_dict(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise CorruptMessageError(f"{what} is {type(value).__name__}, expected an object")
    return value


def _as_status(value: Any, what: str) -> OrchestrationStatus:
    try:
        if isinstance(value, str) and not value.strip().lstrip("-").isdigit():
            return OrchestrationStatus[value.strip()]
        return OrchestrationStatus(_as_int(value, what))
    except (KeyError, ValueError):
        raise CorruptMessageError(f"{what} is not an OrchestrationStatus: {value!r}") from None


def _as_parent(value: Any, what: str) -> ParentInstance:
    data = _as_dict(value, what)
    inst = _as_dict(data.get("OrchestrationInstance"), f"{what}.OrchestrationInstance")
    return ParentInstance(
        name=_as_str(data.get("Name") or "", f"{what}.Name"),
        instance_id=_as_str(inst.get("InstanceId"), f"{what}.OrchestrationInstance.InstanceId"),
        execution_id=_as_str(inst.get("ExecutionId") or "", f"{what}.OrchestrationInstance.ExecutionId"),
        task_schedule_id=_as_int(data.get("TaskScheduleId", -1), f"{what}.TaskScheduleId"),
        version=_as_str(data.get("Version") or "", f"{what}.Version"),
    )


def _as_json_text(value: Any, what: str) -> str:
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), ensure_ascii=False)


_DECODERS: dict[str, Callable[[Any, str], Any]] = {
    "str": _as_str,
    "int": _as_int,
    "time": _as_time,
    "status": _as_status,
    "failure": lambda v, w: FailureDetails.from_json_dict(_as_dict(v, w)),
    "tags": lambda v, w: {str(k): str(x) for k, x in _as_dict(v, w).items() if k != "$type"},
    "parent": _as_parent,
    "json": _as_json_text,
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
        return EventType(_as_int(raw, "EventType"))
    except (KeyError, ValueError):
        raise CorruptMessageError(
            f"unknown event type (EventType={raw!r}, $type={d.get('$type')!r})"
        ) from None


def event_from_json_dict(d: dict[str, Any]) -> HistoryEvent:
    """Parse a history event's JSON object; raises :class:`CorruptMessageError` when unusable."""
    d = _as_dict(d, "Event")
    event_type = _event_type_of(d)
    cls = EVENT_CLASSES.get(event_type)
    if cls is None:
        raise CorruptMessageError(f"event type {event_type.name} cannot be carried by a message")
    kwargs: dict[str, Any] = {}
    for member, attr, kind in _SPECS[event_type]:
        value = d.get(member)
        if value is None or kind in ("null", "continued"):
            continue
        what = f"{cls.__name__}.{member}"
        if kind == "instance":
            inst = _as_dict(value, what)
            if inst.get("InstanceId") is not None:
                kwargs["instance_id"] = _as_str(inst["InstanceId"], what + ".InstanceId")
            if inst.get("ExecutionId") is not None:
                kwargs["execution_id"] = _as_str(inst["ExecutionId"], what + ".ExecutionId")
            continue
        kwargs[attr] = _DECODERS[kind](value, what)
    missing = _REQUIRED[event_type] - kwargs.keys()
    if missing:
        names = sorted({_MEMBER_OF[event_type].get(a, a) for a in missing})
        raise CorruptMessageError(f"{event_type.name} event is missing {', '.join(names)}")
    if d.get("EventId") is not None:
        kwargs["event_id"] = _as_int(d["EventId"], "EventId")
    if d.get("IsPlayed") is not None:
        kwargs["is_played"] = bool(d["IsPlayed"])
    if d.get("Timestamp") is not None:
        kwargs["timestamp"] = _as_time(d["Timestamp"], "Timestamp")
    return cls(**kwargs)


# ---------------------------------------------------------------------------------- envelope


def _dumps(data: dict[str, Any]) -> str:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def message_to_json_dict(msg: TaskMessage, *, compressed_blob_name: str | None = None) -> dict[str, Any]:
    """The ``MessageData`` envelope of a message as a JSON-ready dict."""
    out: dict[str, Any] = {
        "$type": MESSAGE_DATA_TYPE,
        "ActivityId": msg.activity_id,
        "TaskMessage": {
            "$type": TASK_MESSAGE_TYPE,
            "Event": event_to_json_dict(msg.event),
            "SequenceNumber": 0,
            "OrchestrationInstance": _instance_json(msg.instance_id, msg.execution_id),
            "OrchestrationExecutionContext": None,
        },
        "CompressedBlobName": compressed_blob_name,
        "SequenceNumber": msg.sequence_number,
    }
    if msg.episode is not None:
        out["Episode"] = msg.episode
    out["Sender"] = {"InstanceId": msg.sender_instance_id, "ExecutionId": msg.sender_execution_id}
    out["SerializableTraceContext"] = None
    return out


def encode_message(msg: TaskMessage, *, compressed_blob_name: str | None = None) -> str:
    """The JSON text of a message (``compressed_blob_name`` is set in the copy stored in a blob)."""
    return _dumps(message_to_json_dict(msg, compressed_blob_name=compressed_blob_name))


def encode_wrapper(blob_name: str) -> str:
    """The small queue body that points at a large message stored in ``blob_name``."""
    return _dumps(
        {
            "$type": MESSAGE_DATA_TYPE,
            "ActivityId": EMPTY_ACTIVITY_ID,
            "TaskMessage": None,
            "CompressedBlobName": blob_name,
            "SequenceNumber": 0,
            "SerializableTraceContext": None,
        }
    )


def large_message_blob_name(msg: TaskMessage) -> str:
    """DTFx ``GetNewLargeMessageBlobName``: ``{instanceId}/message-{activityId:N}-{EventType}.json.gz``."""
    return f"{msg.instance_id}/message-{msg.activity_id.replace('-', '')}-{msg.event.EVENT_TYPE.name}.json.gz"


def _parse_body(text: str) -> Any:
    body = text.lstrip("\ufeff \t\r\n")
    if body[:1] not in ("{", "[", '"'):  # base64 never starts with these
        try:
            body = base64.b64decode(body, validate=True).decode("utf-8-sig")
        except (binascii.Error, ValueError):
            raise CorruptMessageError("body is neither JSON nor base64-encoded JSON") from None
    try:
        return json.loads(body)
    except ValueError as e:
        raise CorruptMessageError(f"body is not valid JSON: {e}") from None


def decode_message(text: str) -> TaskMessage | str:
    """Parse a queue body (raw or base64 JSON).

    Returns the ``CompressedBlobName`` for a large-message wrapper, else the :class:`TaskMessage`.
    Raises :class:`CorruptMessageError` saying what is wrong.
    """
    data = _parse_body(text)
    if not isinstance(data, dict):
        raise CorruptMessageError(f"body is a JSON {type(data).__name__}, expected an object")
    task = data.get("TaskMessage")
    if task is None:
        blob = data.get("CompressedBlobName")
        if isinstance(blob, str) and blob:
            return blob
        raise CorruptMessageError("body has neither TaskMessage nor CompressedBlobName")
    task = _as_dict(task, "TaskMessage")
    if task.get("Event") is None:
        raise CorruptMessageError("TaskMessage.Event is missing")
    event = event_from_json_dict(task["Event"])
    inst = _as_dict(task.get("OrchestrationInstance"), "TaskMessage.OrchestrationInstance")
    instance_id = inst.get("InstanceId")
    if not instance_id:
        raise CorruptMessageError("TaskMessage.OrchestrationInstance.InstanceId is missing")
    execution_id = inst.get("ExecutionId")
    sender = data.get("Sender") or {}
    episode = data.get("Episode")
    return TaskMessage(
        event=event,
        instance_id=_as_str(instance_id, "InstanceId"),
        execution_id=_as_str(execution_id, "ExecutionId") if execution_id else None,
        episode=_as_int(episode, "Episode") if episode is not None else None,
        sender_instance_id=str(_as_dict(sender, "Sender").get("InstanceId") or ""),
        sender_execution_id=str(sender.get("ExecutionId") or ""),
        activity_id=str(data.get("ActivityId") or EMPTY_ACTIVITY_ID),
        sequence_number=_as_int(data.get("SequenceNumber") or 0, "SequenceNumber"),
    )
