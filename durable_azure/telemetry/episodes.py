"""One orchestration episode in telemetry: its tracking events and the spans that ended in it.

Pure functions over the episode's history, called by :class:`~durable_azure.telemetry.hooks.Telemetry`
after the checkpoint (and :func:`orchestration_span`, the span an execution runs under, read from the
trace context its ``ExecutionStarted`` carries).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone

from opentelemetry.trace import SpanKind

from ..orchestration.executor import Completion, OrchestrationResult
from ..orchestration.history import (
    EventRaised,
    ExecutionStarted,
    HistoryEvent,
    OrchestrationStatus,
    SubOrchestrationInstanceCompleted,
    SubOrchestrationInstanceCreated,
    SubOrchestrationInstanceFailed,
    TaskCompleted,
    TaskFailed,
    TaskScheduled,
    TimerCreated,
    TimerFired,
)
from . import tracing as t
from .context import SpanRef, parse_traceparent
from .tracking import ACTIVITY, ORCHESTRATOR, Tracker


def new_span_id() -> int:
    return random.getrandbits(64) or 1


def orchestration_span(started: ExecutionStarted | None) -> SpanRef | None:
    """The orchestration span an execution runs under (``None``: no trace, as DTFx without a parent)."""
    tc = started.trace_context if started is not None else None
    if tc is None or tc.span_id is None:
        return None
    parent = parse_traceparent(tc.trace_parent, tc.trace_state)
    if parent is None:
        return None
    try:
        span_id = int(tc.span_id, 16)
    except ValueError:
        return None
    return SpanRef(parent.trace_id, span_id, parent.flags, tc.trace_state)


def track_episode(
    tracker: Tracker,
    instance_id: str,
    started: ExecutionStarted,
    replayed: Sequence[HistoryEvent],
    result: OrchestrationResult,
    incoming: Sequence[HistoryEvent],
    waiting_for: Sequence[str],
) -> None:
    name = started.name
    if replayed and tracker.wants(logging.INFO, is_replay=True):
        tracker.started(name, instance_id, started.input, ORCHESTRATOR, True)
        _track_events(tracker, name, instance_id, replayed, is_replay=True)
    if not tracker.wants(logging.INFO) and not tracker.wants(logging.ERROR):
        return
    tracker.started(name, instance_id, started.input, ORCHESTRATOR, False)
    _track_events(tracker, name, instance_id, incoming, is_replay=False)
    _track_events(tracker, name, instance_id, result.actions, is_replay=False)
    completion = result.completion
    if completion is None:
        for event_name in waiting_for:
            tracker.listening(name, instance_id, f"WaitForExternalEvent:{event_name}", False)
        tracker.awaited(name, instance_id, False)
    elif completion.status in (OrchestrationStatus.Completed, OrchestrationStatus.ContinuedAsNew):
        tracker.completed(
            name,
            instance_id,
            completion.output,
            ORCHESTRATOR,
            False,
            continued_as_new=completion.status is OrchestrationStatus.ContinuedAsNew,
        )
    elif completion.status is OrchestrationStatus.Terminated:
        tracker.terminated(name, instance_id, completion.output)
    else:
        tracker.failed(name, instance_id, failure_reason(completion), ORCHESTRATOR, False)


def _track_events(
    tracker: Tracker, name: str, instance_id: str, events: Iterable[HistoryEvent], *, is_replay: bool
) -> None:
    for event in events:
        if isinstance(event, TaskScheduled):
            tracker.scheduled(event.name, instance_id, name, ACTIVITY, is_replay)
        elif isinstance(event, SubOrchestrationInstanceCreated):
            tracker.scheduled(event.name, event.instance_id, name, ORCHESTRATOR, is_replay)
        elif isinstance(event, TimerCreated):
            tracker.listening(name, instance_id, f"CreateTimer:{_iso(event.fire_at)}", is_replay)
        elif isinstance(event, TimerFired):
            tracker.timer_expired(name, instance_id, _iso(event.fire_at), is_replay)
        elif isinstance(event, EventRaised):
            tracker.external_event_raised(name, instance_id, event.name, event.input, is_replay)


def episode_spans(
    spans: t.Spans,
    orchestration: SpanRef,
    started: ExecutionStarted,
    past: Sequence[HistoryEvent],
    incoming: Sequence[HistoryEvent],
    completion: Completion | None,
) -> None:
    name = started.name
    scheduled: dict[int, HistoryEvent] | None = None
    for event in incoming:
        if not isinstance(
            event,
            (
                TaskCompleted,
                TaskFailed,
                SubOrchestrationInstanceCompleted,
                SubOrchestrationInstanceFailed,
                TimerFired,
            ),
        ):
            continue
        if scheduled is None:
            scheduled = {
                e.event_id: e
                for e in past
                if isinstance(e, (TaskScheduled, SubOrchestrationInstanceCreated, TimerCreated))
            }
        key = event.timer_id if isinstance(event, TimerFired) else event.task_scheduled_id
        origin = scheduled.get(key)
        error = (
            event.reason or "failed"
            if isinstance(event, (TaskFailed, SubOrchestrationInstanceFailed))
            else None
        )
        if isinstance(origin, TaskScheduled):
            client = origin.trace_context and parse_traceparent(origin.trace_context.trace_parent)
            attributes = {
                t.TYPE: "activity",
                t.NAME: origin.name,
                t.INSTANCE_ID: started.instance_id,
                t.TASK_ID: origin.event_id,
            }
            if origin.version:
                attributes[t.VERSION] = origin.version
            spans.emit(
                t.span_name("activity", origin.name, origin.version),
                SpanKind.CLIENT,
                attributes,
                parent=orchestration,
                span_id=client.span_id if client else None,
                start=origin.timestamp,
                error=error,
            )
        elif isinstance(origin, SubOrchestrationInstanceCreated):
            attributes = {
                t.TYPE: "orchestration",
                t.NAME: origin.name,
                t.INSTANCE_ID: started.instance_id,
            }
            if origin.version:
                attributes[t.VERSION] = origin.version
            spans.emit(
                t.span_name("orchestration", origin.name, origin.version),
                SpanKind.CLIENT,
                attributes,
                parent=orchestration,
                span_id=int(origin.client_span_id, 16) if origin.client_span_id else None,
                start=origin.timestamp,
                error=error,
            )
        elif isinstance(event, TimerFired):
            spans.emit(
                f"orchestration:{name}:timer",
                SpanKind.INTERNAL,
                {
                    t.TYPE: "timer",
                    t.NAME: name,
                    t.INSTANCE_ID: started.instance_id,
                    t.FIRE_AT: _iso(event.fire_at),
                    t.TASK_ID: event.timer_id,
                },
                parent=orchestration,
                start=origin.timestamp if origin is not None else event.timestamp,
            )
    if completion is None:
        return
    tc = started.trace_context
    assert tc is not None
    attributes = {t.TYPE: "orchestration", t.NAME: name, t.INSTANCE_ID: started.instance_id}
    if started.version:
        attributes[t.VERSION] = started.version
    attributes[t.STATUS] = completion.status.name
    error = None
    if completion.status is OrchestrationStatus.Failed:
        error = failure_reason(completion)
    elif completion.status is OrchestrationStatus.Terminated:
        error = "Terminated"
    spans.emit(
        t.span_name("orchestration", name, started.version),
        SpanKind.SERVER,
        attributes,
        parent=parse_traceparent(tc.trace_parent, tc.trace_state),
        span_id=orchestration.span_id,
        start=tc.activity_start_time,
        error=error,
        # DTFx: "Events: received events – name of the event, and timestamp"
        events=[(e.name, e.timestamp) for e in (*past, *incoming) if isinstance(e, EventRaised)],
    )


def swap(events: list[HistoryEvent], old: HistoryEvent, new: HistoryEvent) -> None:
    for index, event in enumerate(events):
        if event is old:
            events[index] = new
            return


def _iso(when: datetime) -> str:
    return when.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def failure_reason(completion: Completion) -> str:
    failure = completion.failure
    if failure is not None:
        return f"{failure.error_type}: {failure.error_message}"
    return completion.output or completion.status.name
