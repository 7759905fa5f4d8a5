"""History you can read: rows for a table and spans for a timeline, from raw history events.

Pure functions of a list of :class:`~durable_azure.orchestration.history.HistoryEvent` (as
``DurableOrchestrationClient.get_history`` returns it, in RowKey order). Scheduling and completion
events are paired by id (``TaskScheduled.event_id`` ↔ ``TaskCompleted.task_scheduled_id``,
``TimerCreated.event_id`` ↔ ``TimerFired.timer_id``, …), which gives every activity, timer and
sub-orchestration a duration and an outcome.

Times are the ones history records: a scheduling event carries the time of the episode that
scheduled it, a completion the time the work finished (an activity's end, a timer's ``FireAt``).
An external-event wait is not recorded by Durable Task; its span here runs from the end of the
orchestrator's previous episode to the event's arrival, which is when the orchestration was
visibly waiting for it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..errors import FailureDetails
from ..orchestration import serialization
from ..orchestration.history import (
    ContinueAsNew,
    EventRaised,
    EventSent,
    ExecutionCompleted,
    ExecutionResumed,
    ExecutionRewound,
    ExecutionStarted,
    ExecutionSuspended,
    ExecutionTerminated,
    GenericEvent,
    HistoryEvent,
    OrchestrationStatus,
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
from ..storage.values import assume_utc, format_clock_ms

__all__ = [
    "OUTCOMES",
    "HistoryRow",
    "Span",
    "episode_spans",
    "format_duration",
    "format_offset",
    "history_rows",
    "orchestration_span",
    "origin_of",
    "preview",
    "task_spans",
]

#: Outcomes a span can have (also the CSS classes of the timeline).
OUTCOMES = ("completed", "failed", "pending", "cancelled")

_SCHEDULE = (TaskScheduled, SubOrchestrationInstanceCreated, TimerCreated)
_ANSWER = (TaskCompleted, TaskFailed, SubOrchestrationInstanceCompleted, SubOrchestrationInstanceFailed)


# ----------------------------------------------------------------------------- formatting


def preview(text: str | None, limit: int = 60) -> str:
    """One line of a JSON payload (or plain text), shortened to ``limit`` characters with '…'."""
    if text is None or text == "":
        return ""
    value = " ".join(str(text).split())
    if len(value) > limit:
        return value[: max(limit - 1, 1)] + "…"
    return value


def format_duration(seconds: float | None) -> str:
    """``"850 ms"``, ``"2.35 s"``, ``"3m 05s"``, ``"2h 03m"``, ``"3d 04h"``; empty for ``None``."""
    if seconds is None:
        return ""
    if seconds < 0:
        return "-" + format_duration(-seconds)
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.2f} s"
    whole = round(seconds)
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours:02d}h"


def format_offset(seconds: float) -> str:
    """Offset from the start, e.g. ``"+0.000 s"``, ``"+12.345 s"``, ``"+3m 05s"``."""
    if seconds < 60:
        return f"+{seconds:.3f} s"
    return "+" + format_duration(seconds)


def _failure_text(failure: FailureDetails | None, reason: str | None = None) -> str | None:
    if failure is not None:
        text = (
            f"{failure.error_type}: {failure.error_message}" if failure.error_type else failure.error_message
        )
        return text or reason
    return reason


def _seconds(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds()


def origin_of(events: list[HistoryEvent]) -> datetime | None:
    """Time the execution started: ``ExecutionStarted``'s timestamp, else the earliest event's."""
    for event in events:
        if isinstance(event, ExecutionStarted):
            return assume_utc(event.timestamp)
    if not events:
        return None
    return min(assume_utc(e.timestamp) for e in events)


def _decode(text: str | None) -> Any:
    return serialization.loads_stored(text) if text is not None else None


# ----------------------------------------------------------------------------- rows


@dataclass(frozen=True)
class HistoryRow:
    """One history event, made readable."""

    sequence: int
    timestamp: datetime
    offset: float  # seconds since the execution started
    event_type: str
    event_id: int
    episode: int  # 1-based number of the orchestrator episode the event belongs to (0 before the first)
    name: str = ""
    input: str | None = None  # JSON text, as stored
    result: str | None = None  # JSON text, as stored
    error: str | None = None  # "ErrorType: message" of a failure
    duration: float | None = None  # seconds, on completion rows (activity, timer, sub-orchestration)
    scheduled_id: int | None = None  # the id a completion answers (TaskScheduledId / TimerId)
    instance_id: str | None = None  # sub-orchestration or event target
    fire_at: datetime | None = None
    status: str | None = None  # ExecutionCompleted's orchestration status
    version: str | None = None  # ExecutionStarted's / SubOrchestrationInstanceCreated's version

    @property
    def detail(self) -> str:
        """What to show in one table cell: error, result, input or fire time."""
        if self.error:
            return self.error
        if self.fire_at is not None and self.event_type == "TimerCreated":
            when = format_clock_ms(self.fire_at)
            if self.fire_at.date() != self.timestamp.date():  # a long timer's part: days away
                when = f"{self.fire_at:%Y-%m-%d} {when}"
            return f"fires at {when}"
        parts = []
        if self.version:
            parts.append(f"version {self.version}")
        if self.instance_id and self.event_type in ("SubOrchestrationInstanceCreated", "EventSent"):
            parts.append(f"→ {self.instance_id}")
        if self.result is not None:
            parts.append(self.result)
        elif self.input is not None:
            parts.append(self.input)
        return " ".join(parts)

    def to_json(self) -> dict[str, Any]:
        """JSON for scripts: full decoded payloads, times in ISO 8601, durations in milliseconds
        (``version`` only on rows that carry one)."""
        data = {
            "sequence": self.sequence,
            "timestamp": self.timestamp.isoformat(),
            "offsetMs": round(self.offset * 1000, 3),
            "eventType": self.event_type,
            "eventId": self.event_id,
            "episode": self.episode,
            "name": self.name or None,
            "input": _decode(self.input),
            "result": _decode(self.result),
            "error": self.error,
            "durationMs": None if self.duration is None else round(self.duration * 1000, 3),
            "scheduledId": self.scheduled_id,
            "instanceId": self.instance_id,
            "fireAt": self.fire_at.isoformat() if self.fire_at else None,
            "status": self.status,
        }
        if self.version:
            data["version"] = self.version
        return data


def history_rows(events: list[HistoryEvent]) -> list[HistoryRow]:
    """One row per event, in history order, completions paired with what they answer."""
    origin = origin_of(events)
    scheduled: dict[int, HistoryEvent] = {e.event_id: e for e in events if isinstance(e, _SCHEDULE)}
    rows: list[HistoryRow] = []
    episode = 0
    for sequence, event in enumerate(events):
        if isinstance(event, OrchestratorStarted):
            episode += 1
        ts = assume_utc(event.timestamp)
        base: dict[str, Any] = {
            "sequence": sequence,
            "timestamp": ts,
            "offset": _seconds(origin, ts) if origin else 0.0,
            "event_type": event.EVENT_TYPE.name,
            "event_id": event.event_id,
            "episode": episode,
        }
        rows.append(HistoryRow(**base, **_row_fields(event, scheduled)))
    return rows


def _row_fields(event: HistoryEvent, scheduled: dict[int, HistoryEvent]) -> dict[str, Any]:
    if isinstance(event, ExecutionStarted):
        return {"name": event.name, "input": event.input, "version": event.version or None}
    if isinstance(event, ExecutionCompleted):
        return {
            "name": event.orchestration_status.name,
            "status": event.orchestration_status.name,
            "result": event.result if event.failure_details is None else None,
            "error": _failure_text(event.failure_details),
        }
    if isinstance(event, ExecutionTerminated):
        return {"input": event.input}
    if isinstance(event, (TaskScheduled, SubOrchestrationInstanceCreated)):
        fields: dict[str, Any] = {"name": event.name, "input": event.input}
        if isinstance(event, SubOrchestrationInstanceCreated):
            fields["instance_id"] = event.instance_id
            fields["version"] = event.version or None
        return fields
    if isinstance(event, _ANSWER):
        origin = scheduled.get(event.task_scheduled_id)
        fields = {
            "name": getattr(origin, "name", ""),
            "scheduled_id": event.task_scheduled_id,
            "duration": _seconds(assume_utc(origin.timestamp), assume_utc(event.timestamp))
            if origin
            else None,
        }
        if isinstance(origin, SubOrchestrationInstanceCreated):
            fields["instance_id"] = origin.instance_id
        if isinstance(event, (TaskCompleted, SubOrchestrationInstanceCompleted)):
            fields["result"] = event.result
        else:
            fields["error"] = _failure_text(event.failure_details, event.reason)
        return fields
    if isinstance(event, TimerCreated):
        return {"name": "timer", "fire_at": assume_utc(event.fire_at)}
    if isinstance(event, TimerFired):
        origin = scheduled.get(event.timer_id)
        return {
            "name": "timer",
            "scheduled_id": event.timer_id,
            "fire_at": assume_utc(event.fire_at),
            "duration": _seconds(assume_utc(origin.timestamp), assume_utc(event.fire_at)) if origin else None,
        }
    if isinstance(event, EventRaised):
        return {"name": event.name, "input": event.input}
    if isinstance(event, EventSent):
        return {"name": event.name, "input": event.input, "instance_id": event.instance_id}
    if isinstance(event, ContinueAsNew):
        return {"result": event.result}
    if isinstance(event, GenericEvent):
        return {"input": event.data}
    if isinstance(event, (ExecutionSuspended, ExecutionResumed, ExecutionRewound)):
        return {"input": json.dumps(event.reason) if event.reason is not None else None}
    return {}


# ----------------------------------------------------------------------------- spans


@dataclass(frozen=True)
class Span:
    """A stretch of time on the timeline: an activity, timer, sub-orchestration, wait or episode."""

    kind: str  # "activity", "timer", "suborchestration", "wait", "suspended", "episode", "orchestration"
    name: str
    start: datetime
    end: datetime | None  # None while still open (pending)
    outcome: str  # one of OUTCOMES
    task_id: int | None = None
    detail: str = ""

    def duration(self, now: datetime | None = None) -> float | None:
        end = self.end or now
        return None if end is None else max(_seconds(self.start, end), 0.0)


def _finished(events: list[HistoryEvent]) -> bool:
    return any(isinstance(e, (ExecutionCompleted, ContinueAsNew)) for e in events)


def orchestration_span(events: list[HistoryEvent], name: str | None = None) -> Span | None:
    """The execution as a whole, from ``ExecutionStarted`` to ``ExecutionCompleted``."""
    origin = origin_of(events)
    if origin is None:
        return None
    started = next((e for e in events if isinstance(e, ExecutionStarted)), None)
    done = next((e for e in events if isinstance(e, ExecutionCompleted)), None)
    label = name or (started.name if started else "orchestration")
    if done is None:
        can = next((e for e in events if isinstance(e, ContinueAsNew)), None)
        if can is not None:
            return Span(
                "orchestration",
                label,
                origin,
                assume_utc(can.timestamp),
                "completed",
                detail="ContinuedAsNew",
            )
        return Span("orchestration", label, origin, None, "pending", detail="Running")
    outcome = {
        OrchestrationStatus.Completed: "completed",
        OrchestrationStatus.ContinuedAsNew: "completed",
        OrchestrationStatus.Failed: "failed",
    }.get(done.orchestration_status, "cancelled")
    detail = _failure_text(done.failure_details) or preview(done.result, 200)
    return Span(
        "orchestration",
        label,
        origin,
        assume_utc(done.timestamp),
        outcome,
        detail=f"{done.orchestration_status.name}: {detail}" if detail else done.orchestration_status.name,
    )


def episode_spans(events: list[HistoryEvent]) -> list[Span]:
    """Each orchestrator episode, ``OrchestratorStarted`` → ``OrchestratorCompleted``."""
    spans: list[Span] = []
    start: datetime | None = None
    count = 0
    for event in events:
        if isinstance(event, OrchestratorStarted):
            start = assume_utc(event.timestamp)
        elif isinstance(event, OrchestratorCompleted) and start is not None:
            count += 1
            end = max(assume_utc(event.timestamp), start)
            spans.append(
                Span("episode", f"episode {count}", start, end, "completed", detail=f"episode {count}")
            )
            start = None
    if start is not None:  # an episode whose end is not (yet) in history
        count += 1
        spans.append(Span("episode", f"episode {count}", start, start, "pending", detail=f"episode {count}"))
    return spans


def task_spans(events: list[HistoryEvent]) -> list[Span]:
    """Activities, timers, sub-orchestrations, external-event waits and suspensions, by start time.

    Work still open when the execution finished is ``cancelled``; while it runs, ``pending``.
    """
    finished = _finished(events)
    open_outcome = "cancelled" if finished else "pending"
    answers: dict[int, HistoryEvent] = {}
    for event in events:
        if isinstance(event, _ANSWER):
            answers.setdefault(event.task_scheduled_id, event)
        elif isinstance(event, TimerFired):
            answers.setdefault(event.timer_id, event)

    spans: list[Span] = []
    episode_ends: list[datetime] = []  # end of each completed episode, in order
    current_episode_start: datetime | None = None
    origin = origin_of(events)
    suspended_at: tuple[datetime, str] | None = None
    for event in events:
        ts = assume_utc(event.timestamp)
        if isinstance(event, OrchestratorStarted):
            current_episode_start = ts
        elif isinstance(event, OrchestratorCompleted):
            episode_ends.append(max(ts, current_episode_start or ts))
            current_episode_start = None
        elif isinstance(event, (TaskScheduled, SubOrchestrationInstanceCreated)):
            kind = "activity" if isinstance(event, TaskScheduled) else "suborchestration"
            answer = answers.get(event.event_id)
            if answer is None:
                spans.append(
                    Span(kind, event.name, ts, None, open_outcome, event.event_id, preview(event.input, 200))
                )
                continue
            end = max(assume_utc(answer.timestamp), ts)
            if isinstance(answer, (TaskCompleted, SubOrchestrationInstanceCompleted)):
                spans.append(
                    Span(kind, event.name, ts, end, "completed", event.event_id, preview(answer.result, 200))
                )
            else:
                assert isinstance(answer, (TaskFailed, SubOrchestrationInstanceFailed))
                error = _failure_text(answer.failure_details, answer.reason) or "failed"
                spans.append(Span(kind, event.name, ts, end, "failed", event.event_id, error))
        elif isinstance(event, TimerCreated):
            fire_at = assume_utc(event.fire_at)
            fired = answers.get(event.event_id)
            detail = f"fires at {fire_at.isoformat()}"
            if fired is not None:
                spans.append(
                    Span("timer", "timer", ts, max(fire_at, ts), "completed", event.event_id, detail)
                )
            else:
                spans.append(Span("timer", "timer", ts, None, open_outcome, event.event_id, detail))
        elif isinstance(event, EventRaised):
            start = episode_ends[-1] if episode_ends else (origin or ts)
            spans.append(
                Span("wait", event.name, min(start, ts), ts, "completed", None, preview(event.input, 200))
            )
        elif isinstance(event, ExecutionSuspended):
            suspended_at = (ts, event.reason or "")
        elif isinstance(event, ExecutionResumed) and suspended_at is not None:
            spans.append(
                Span(
                    "suspended",
                    "suspended",
                    suspended_at[0],
                    max(ts, suspended_at[0]),
                    "completed",
                    None,
                    suspended_at[1],
                )
            )
            suspended_at = None
    if suspended_at is not None:
        spans.append(
            Span("suspended", "suspended", suspended_at[0], None, open_outcome, None, suspended_at[1])
        )
    # Cancelled work ends where the execution ended.
    if finished:
        finish = max(assume_utc(e.timestamp) for e in events)
        spans = [
            Span(
                s.kind,
                s.name,
                s.start,
                max(finish, s.start),
                s.outcome,
                s.task_id,
                s.detail,
            )
            if s.end is None
            else s
            for s in spans
        ]
    spans.sort(key=lambda s: (s.start, s.task_id if s.task_id is not None else 1 << 31))
    return spans
