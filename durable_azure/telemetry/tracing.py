"""OpenTelemetry spans with DurableTask's distributed-tracing (v2) names and attributes.

Span names and attributes follow DurableTask.Core (Azure/durabletask ``src/DurableTask.Core/Tracing/
TraceHelper.cs``, ``Schema.cs``, ``docs/telemetry/traces/semantic-conventions.md``):

* ``create_orchestration:{name}`` (producer) — a client starting an orchestration;
* ``orchestration:{name}`` (server) — the orchestration's execution, from its first episode to its
  end, emitted once when it finishes; its span id is kept in the ``ExecutionStarted`` trace
  context so every episode (any worker, after any restart) parents its children on it;
* ``activity:{name}`` (client, from the orchestration: scheduled → result) and ``activity:{name}``
  (server, the activity running, in whichever worker runs it);
* ``orchestration:{child}`` (client) — waiting for a sub-orchestration;
* ``orchestration:{name}:timer`` (internal) — a durable timer;
* ``orchestration_event:{event}`` (producer) — an event sent by a client or an orchestration.

Spans with a span id fixed in advance (DTFx sets ``Activity.SpanId`` likewise) are made through the
SDK tracer's id generator, wrapped so that a context variable can supply the next span id.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import (
    Link,
    NonRecordingSpan,
    Span,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
)
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from .context import SpanRef, parse_traceparent

#: The instrumentation scope, as DurableTask.Core's ``ActivitySource``.
SCOPE = "DurableTask.Core"

TYPE = "durabletask.type"
NAME = "durabletask.task.name"
VERSION = "durabletask.task.version"
INSTANCE_ID = "durabletask.task.instance_id"
EXECUTION_ID = "durabletask.task.execution_id"
STATUS = "durabletask.task.status"
TASK_ID = "durabletask.task.task_id"
EVENT_TARGET = "durabletask.event.target_instance_id"
FIRE_AT = "durabletask.fire_at"
OPERATION = "durabletask.task.operation"

_next_span_id: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "durable_next_span_id", default=None
)
_propagator = TraceContextTextMapPropagator()


def span_name(kind: str, name: str, version: str | None = None) -> str:
    """DTFx ``CreateSpanName``: ``kind:name``, or ``kind:name@(version)``."""
    return f"{kind}:{name}@({version})" if version else f"{kind}:{name}"


def to_ns(when: datetime | None) -> int | None:
    return None if when is None else int(when.timestamp() * 1_000_000_000)


class _PresetSpanIds:
    """An SDK id generator that hands out a preset span id when one is set for this context."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def generate_span_id(self) -> int:
        preset = _next_span_id.get()
        return preset if preset is not None else int(self._inner.generate_span_id())

    def generate_trace_id(self) -> int:
        return int(self._inner.generate_trace_id())

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def _span_context(ref: SpanRef) -> SpanContext:
    return SpanContext(
        trace_id=ref.trace_id, span_id=ref.span_id, is_remote=True, trace_flags=TraceFlags(ref.flags)
    )


def _parent_context(parent: SpanRef | None) -> otel_context.Context | None:
    if parent is None:
        return None
    return trace.set_span_in_context(NonRecordingSpan(_span_context(parent)))


def span_ref(span: Span) -> SpanRef | None:
    """The identity of ``span`` (``None`` for an invalid, never-exported span)."""
    ctx = span.get_span_context()
    if not ctx.is_valid:
        return None
    state = ctx.trace_state.to_header() if ctx.trace_state else None
    return SpanRef(ctx.trace_id, ctx.span_id, int(ctx.trace_flags), state or None)


class Spans:
    """Makes DurableTask's spans on the global tracer provider."""

    def __init__(self, tracer: trace.Tracer | None = None) -> None:
        self.tracer = tracer or trace.get_tracer(SCOPE)
        generator = getattr(self.tracer, "id_generator", None)
        self.fixed_ids = generator is not None
        if generator is not None and not isinstance(generator, _PresetSpanIds):
            self.tracer.id_generator = _PresetSpanIds(generator)  # type: ignore[attr-defined]

    def start(
        self,
        name: str,
        kind: SpanKind,
        attributes: Mapping[str, Any],
        *,
        parent: SpanRef | None = None,
        use_current: bool = False,
        span_id: int | None = None,
        start: datetime | None = None,
        links: Sequence[SpanRef] = (),
    ) -> Span:
        """Start a span under ``parent`` (or the current span, when ``use_current``), linked to ``links``."""
        ctx = None if use_current else (_parent_context(parent) or otel_context.Context())
        token = _next_span_id.set(span_id) if span_id is not None and self.fixed_ids else None
        try:
            return self.tracer.start_span(
                name,
                context=ctx,
                kind=kind,
                attributes=dict(attributes),
                start_time=to_ns(start),
                links=[Link(_span_context(ref)) for ref in links] or None,
            )
        finally:
            if token is not None:
                _next_span_id.reset(token)

    def emit(
        self,
        name: str,
        kind: SpanKind,
        attributes: Mapping[str, Any],
        *,
        parent: SpanRef | None,
        start: datetime | None,
        span_id: int | None = None,
        error: str | None = None,
        end: datetime | None = None,
        events: Sequence[tuple[str, datetime]] = (),
        links: Sequence[SpanRef] = (),
    ) -> None:
        """A span that is over: started at ``start``, ended now (or at ``end``), with ``events`` and ``links``."""
        span = self.start(name, kind, attributes, parent=parent, span_id=span_id, start=start, links=links)
        for event_name, when in events:
            span.add_event(event_name, timestamp=to_ns(when))
        finish(span, error, end=end)

    @contextmanager
    def server_span_from_headers(
        self, name: str, headers: Mapping[str, str], attributes: Mapping[str, Any]
    ) -> Iterator[Span]:
        """An incoming request's server span, continuing the caller's ``traceparent``; current inside."""
        parent_ctx = _propagator.extract(carrier=dict(headers))
        span = self.tracer.start_span(
            name, context=parent_ctx, kind=SpanKind.SERVER, attributes=dict(attributes)
        )
        with trace.use_span(span, end_on_exit=True, record_exception=True, set_status_on_exception=True):
            yield span

    @contextmanager
    def within(self, ref: SpanRef | None) -> Iterator[None]:
        """Make ``ref`` the current span (for log correlation: tracking events get its trace and span id)."""
        if ref is None:
            yield
            return
        ctx = _parent_context(ref)
        assert ctx is not None
        token = otel_context.attach(ctx)
        try:
            yield
        finally:
            otel_context.detach(token)

    @contextmanager
    def current(self, span: Span) -> Iterator[Span]:
        with trace.use_span(span, end_on_exit=False, record_exception=False, set_status_on_exception=False):
            yield span


def finish(span: Span, error: str | BaseException | None = None, *, end: datetime | None = None) -> None:
    if error is not None:
        if isinstance(error, BaseException):
            span.record_exception(error)
            error = f"{type(error).__name__}: {error}"
        span.set_status(Status(StatusCode.ERROR, error))
    span.end(end_time=to_ns(end))


def parent_of(traceparent: str | None, trace_state: str | None = None) -> SpanRef | None:
    return parse_traceparent(traceparent, trace_state)


def monotonic() -> float:
    return time.perf_counter()
