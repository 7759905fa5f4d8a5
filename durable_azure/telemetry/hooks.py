"""The engine's telemetry hooks: what the worker, the client and the host call, when telemetry is on.

Callers fetch :func:`active` once and do nothing when it is ``None`` — no span objects, no string
formatting, no attribute dictionaries. The hooks never raise into the engine: telemetry that fails
is logged and dropped.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from opentelemetry.trace import Span, SpanKind

from ..orchestration.executor import OrchestrationResult
from ..orchestration.history import (
    EventRaised,
    ExecutionStarted,
    HistoryEvent,
    SubOrchestrationInstanceCreated,
    TaskCompleted,
    TaskFailed,
    TaskScheduled,
    TraceContext,
)
from . import tracing as t
from .context import format_traceparent, parse_traceparent, trace_context_of
from .episodes import episode_spans, new_span_id, orchestration_span, swap, track_episode
from .metrics import Metrics
from .options import TelemetryOptions
from .tracking import ACTIVITY, ORCHESTRATOR, Tracker

if TYPE_CHECKING:
    from opentelemetry.metrics import Meter
    from opentelemetry.trace import Tracer

log = logging.getLogger(__name__)


class _Outbound(Protocol):
    """``worker.outbound.Outbound`` as far as telemetry reads it (the worker is a layer above)."""

    @property
    def message(self) -> Any: ...


_O = TypeVar("_O", bound=_Outbound)


@dataclasses.dataclass(frozen=True, slots=True)
class Generation:
    """An execution that ended in an episode by continuing as new: what its telemetry needs."""

    started: ExecutionStarted
    past: Sequence[HistoryEvent]
    replayed: bool
    result: OrchestrationResult
    incoming: Sequence[HistoryEvent]


class Telemetry:
    """Tracking events, spans and metrics of one process, for one task hub's options."""

    def __init__(
        self, options: TelemetryOptions, *, tracer: Tracer | None = None, meter: Meter | None = None
    ) -> None:
        self.options = options
        self.tracking = Tracker(options)
        self.spans = t.Spans(tracer)
        self.metrics = Metrics(meter)

    # ---- client ----------------------------------------------------------------------------------
    @contextmanager
    def client_start(self, started: ExecutionStarted) -> Iterator[ExecutionStarted]:
        """``create_orchestration:{name}`` around a client's start; yields the start carrying its context."""
        attributes = {
            t.TYPE: "orchestration",
            t.NAME: started.name,
            t.INSTANCE_ID: started.instance_id,
            t.EXECUTION_ID: started.execution_id,
        }
        if started.version:
            attributes[t.VERSION] = started.version
        span = self.spans.start(
            t.span_name("create_orchestration", started.name, started.version),
            SpanKind.PRODUCER,
            attributes,
            use_current=True,
        )
        ref = t.span_ref(span)
        if ref is not None:
            started = dataclasses.replace(started, trace_context=trace_context_of(ref))
        try:
            yield started
        except BaseException as error:
            t.finish(span, error)
            raise
        t.finish(span)
        self.tracking.scheduled(started.name, started.instance_id, "NewInstance", ORCHESTRATOR, False)

    @contextmanager
    def client_event(self, instance_id: str, event: EventRaised) -> Iterator[EventRaised]:
        """``orchestration_event:{name}`` around a client raising an event."""
        span = self.spans.start(
            t.span_name("orchestration_event", event.name),
            SpanKind.PRODUCER,
            {t.TYPE: "event", t.NAME: event.name, t.EVENT_TARGET: instance_id},
            use_current=True,
        )
        ref = t.span_ref(span)
        if ref is not None:
            event = dataclasses.replace(event, trace_context=trace_context_of(ref))
        try:
            yield event
        except BaseException as error:
            t.finish(span, error)
            raise
        t.finish(span)

    # ---- HTTP host -------------------------------------------------------------------------------
    def http_request(
        self, method: str, route: str, path: str, headers: Mapping[str, str], function_name: str
    ) -> AbstractContextManager[Span]:
        """The server span of an HTTP-triggered function: the parent of what it starts."""
        return self.spans.server_span_from_headers(
            f"{method} /{route}",
            headers,
            {
                "http.request.method": method,
                "http.route": f"/{route}",
                "url.path": path,
                "faas.trigger": "http",
                "faas.name": function_name,
            },
        )

    # ---- orchestration episodes ------------------------------------------------------------------
    def stamp_episode(
        self, result: OrchestrationResult, started: ExecutionStarted, now: datetime
    ) -> ExecutionStarted:
        """:meth:`_stamp_episode`; a failure leaves the episode without trace context, never fails it."""
        try:
            return self._stamp_episode(result, started, now)
        except Exception:
            log.warning("could not add trace context to an episode of %s", started.instance_id, exc_info=True)
            return started

    def _stamp_episode(
        self, result: OrchestrationResult, started: ExecutionStarted, now: datetime
    ) -> ExecutionStarted:
        """Give the episode's new events their trace context before they are written and sent.

        The first episode records the orchestration span (id, start) in the ``ExecutionStarted``;
        each ``TaskScheduled`` gets the traceparent of its ``activity`` client span and each
        ``SubOrchestrationInstanceCreated`` its client span id, as DTFx does. Returns ``started``
        as written.
        """
        tc = started.trace_context
        if tc is None:
            return started
        if tc.span_id is None:
            parent = parse_traceparent(tc.trace_parent, tc.trace_state)
            if parent is None:
                return started
            span_id = new_span_id()
            stamped = dataclasses.replace(
                started,
                trace_context=dataclasses.replace(
                    tc,
                    id=format_traceparent(parent.trace_id, span_id, parent.flags),
                    span_id=f"{span_id:016x}",
                    activity_start_time=now,
                ),
            )
            swap(result.new_events, started, stamped)
            started = stamped
        orchestration = orchestration_span(started)
        if orchestration is None:
            return started
        for action in list(result.actions):
            replacement: HistoryEvent | None = None
            if isinstance(action, TaskScheduled) and action.trace_context is None:
                client = dataclasses.replace(orchestration, span_id=new_span_id())
                replacement = dataclasses.replace(action, trace_context=trace_context_of(client))
            elif isinstance(action, SubOrchestrationInstanceCreated) and action.client_span_id is None:
                replacement = dataclasses.replace(action, client_span_id=f"{new_span_id():016x}")
            if replacement is not None:
                swap(result.actions, action, replacement)
                swap(result.new_events, action, replacement)
        return started

    def stamp_outbound(
        self, outbound: list[_O], started: ExecutionStarted, actions: Sequence[HistoryEvent]
    ) -> list[_O]:
        """:meth:`_stamp_outbound`; a failure sends the messages as they are."""
        try:
            return self._stamp_outbound(outbound, started, actions)
        except Exception:
            log.warning("could not add trace context to messages of %s", started.instance_id, exc_info=True)
            return outbound

    def _stamp_outbound(
        self, outbound: list[_O], started: ExecutionStarted, actions: Sequence[HistoryEvent]
    ) -> list[_O]:
        """Trace context for sub-orchestration starts and events this episode sends."""
        orchestration = orchestration_span(started)
        if orchestration is None:
            return outbound
        clients = {
            a.event_id: a.client_span_id
            for a in actions
            if isinstance(a, SubOrchestrationInstanceCreated) and a.client_span_id
        }
        out: list[_O] = []
        for item in outbound:
            message = item.message
            event = message.event
            tc: TraceContext | None = None
            if (
                isinstance(event, ExecutionStarted)
                and event.parent is not None
                and event.trace_context is None
            ):
                client = clients.get(event.parent.task_schedule_id)
                ref = dataclasses.replace(orchestration, span_id=int(client, 16)) if client else orchestration
                tc = trace_context_of(ref)
            elif (
                isinstance(event, EventRaised)
                and event.trace_context is None
                and not message.instance_id.startswith("@")  # not for entities, as DTFx
            ):
                span = self.spans.start(
                    t.span_name("orchestration_event", event.name),
                    SpanKind.PRODUCER,
                    {
                        t.TYPE: "event",
                        t.NAME: event.name,
                        t.INSTANCE_ID: started.instance_id,
                        t.EXECUTION_ID: started.execution_id,
                        t.EVENT_TARGET: message.instance_id,
                    },
                    parent=orchestration,
                )
                ref2 = t.span_ref(span)
                t.finish(span)
                tc = trace_context_of(ref2) if ref2 is not None else None
            if tc is not None:
                event = dataclasses.replace(event, trace_context=tc)
                item = dataclasses.replace(item, message=dataclasses.replace(message, event=event))  # type: ignore[type-var]
            out.append(item)
        return out

    def episode_done(
        self,
        *,
        instance_id: str,
        started: ExecutionStarted,
        past: Sequence[HistoryEvent],
        replayed: bool,
        result: OrchestrationResult,
        incoming: Sequence[HistoryEvent],
        episode_seconds: float,
        checkpoint_seconds: float,
        waiting_for: Sequence[str] = (),
        ended: Sequence[Generation] = (),
    ) -> None:
        """After a checkpoint: tracking events, the spans that ended, the episode's metrics.

        ``ended`` are the generations that continued as new earlier in the episode (each gets its
        tracking events and its orchestration span); the arguments describe the last one.
        """
        try:
            for generation in ended:
                self._generation_done(generation)
            self._episode_done(
                instance_id,
                started,
                past,
                replayed,
                result,
                incoming,
                episode_seconds,
                checkpoint_seconds,
                waiting_for,
            )
        except Exception:  # telemetry never breaks an episode
            log.warning("telemetry of an episode of %s failed", instance_id, exc_info=True)

    def _generation_done(self, generation: Generation) -> None:
        started, result = generation.started, generation.result
        orchestration = orchestration_span(started)
        replayed = generation.past if generation.replayed else ()
        with self.spans.within(orchestration):
            track_episode(
                self.tracking, started.instance_id, started, replayed, result, generation.incoming, ()
            )
        if orchestration is not None:
            episode_spans(
                self.spans, orchestration, started, generation.past, generation.incoming, result.completion
            )

    def _episode_done(
        self,
        instance_id: str,
        started: ExecutionStarted,
        past: Sequence[HistoryEvent],
        replayed: bool,
        result: OrchestrationResult,
        incoming: Sequence[HistoryEvent],
        episode_seconds: float,
        checkpoint_seconds: float,
        waiting_for: Sequence[str],
    ) -> None:
        name = started.name
        completion = result.completion
        status = completion.status.name if completion is not None else "Running"
        self.metrics.episodes.add(1, {t.NAME: name, t.STATUS: status})
        self.metrics.episode_duration.record(episode_seconds, {t.NAME: name})
        self.metrics.checkpoint_duration.record(checkpoint_seconds, {t.NAME: name})
        orchestration = orchestration_span(started)
        with self.spans.within(orchestration):  # tracking events carry the orchestration's trace
            track_episode(
                self.tracking, instance_id, started, past if replayed else (), result, incoming, waiting_for
            )
        if orchestration is not None:
            episode_spans(self.spans, orchestration, started, past, incoming, completion)

    # ---- entities ---------------------------------------------------------------------------------
    def entity_operations(self, entity_name: str, instance_id: str, records: Sequence[Any]) -> None:
        """DF's ``OperationCompleted``/``OperationFailed`` for each operation of a checkpointed batch."""
        for record in records:
            self.tracking.operation(
                entity_name,
                instance_id,
                record.operation,
                record.request_id,
                record.seconds * 1000,
                record.input,
                record.output,
                record.error,
            )

    # ---- activities ------------------------------------------------------------------------------
    async def run_activity(
        self, scheduled: TaskScheduled, instance_id: str, invoke: Callable[[], Awaitable[HistoryEvent]]
    ) -> HistoryEvent:
        """Run an activity inside its ``activity:{name}`` server span; track and time it."""
        tc = scheduled.trace_context
        parent = parse_traceparent(tc.trace_parent, tc.trace_state) if tc is not None else None
        span: Span | None = None
        if parent is not None:
            attributes: dict[str, Any] = {
                t.TYPE: "activity",
                t.NAME: scheduled.name,
                t.INSTANCE_ID: instance_id,
                t.TASK_ID: scheduled.event_id,
            }
            if scheduled.version:
                attributes[t.VERSION] = scheduled.version
            span = self.spans.start(
                t.span_name("activity", scheduled.name, scheduled.version),
                SpanKind.SERVER,
                attributes,
                parent=parent,
            )
        tracker = self.tracking
        began = t.monotonic()
        try:
            with self.spans.current(span) if span is not None else nullcontext():  # events carry its trace
                tracker.started(
                    scheduled.name, instance_id, scheduled.input, ACTIVITY, False, scheduled.event_id
                )
                result = await invoke()
                seconds = t.monotonic() - began
                if isinstance(result, TaskFailed):
                    reason = result.reason or ""
                    tracker.failed(scheduled.name, instance_id, reason, ACTIVITY, False, scheduled.event_id)
                else:
                    output = result.result if isinstance(result, TaskCompleted) else None
                    tracker.completed(
                        scheduled.name, instance_id, output, ACTIVITY, False, task_event_id=scheduled.event_id
                    )
        except BaseException as error:
            if span is not None:
                t.finish(span, error)
            raise
        outcome = "Failed" if isinstance(result, TaskFailed) else "Succeeded"
        self.metrics.activity_duration.record(seconds, {t.NAME: scheduled.name, "outcome": outcome})
        if span is not None:
            t.finish(span, (result.reason or "failed") if isinstance(result, TaskFailed) else None)
        return result

    # ---- queues ----------------------------------------------------------------------------------
    def received(self, queue: str, partition: int | None, inserted: Iterable[datetime | None]) -> None:
        """Message ages of a batch just received."""
        now = datetime.now(timezone.utc)
        attributes: dict[str, Any] = {"queue": queue}
        if partition is not None:
            attributes["partition"] = partition
        for when in inserted:
            if when is not None:
                self.metrics.message_age.record(max(0.0, (now - when).total_seconds()), attributes)

    def poisoned(self, queue: str) -> None:
        self.metrics.poison.add(1, {"queue": queue})

    async def sample_queue_depths(
        self, depths: Callable[[], Awaitable[Mapping[tuple[str, int | None], int]]], interval: float = 10.0
    ) -> None:
        """Refresh the queue-depth gauge every ``interval`` seconds until cancelled."""
        while True:
            try:
                self.metrics.depths = dict(await depths())
            except asyncio.CancelledError:
                raise
            except Exception:
                log.debug("could not sample queue depths", exc_info=True)
            await asyncio.sleep(interval)


# ---- the process's telemetry ------------------------------------------------------------------------

_active: Telemetry | None = None


def active() -> Telemetry | None:
    """This process's telemetry, or ``None`` when it is off (the common case: then do nothing)."""
    return _active


def install(telemetry: Telemetry) -> Telemetry:
    global _active
    _active = telemetry
    return telemetry


def uninstall() -> None:
    global _active
    _active = None


def client_start(started: ExecutionStarted) -> AbstractContextManager[ExecutionStarted]:
    tel = _active
    return nullcontext(started) if tel is None else tel.client_start(started)


def client_event(instance_id: str, event: EventRaised) -> AbstractContextManager[EventRaised]:
    tel = _active
    return nullcontext(event) if tel is None else tel.client_event(instance_id, event)
