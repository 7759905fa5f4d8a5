"""W3C trace context as DTFx stores it (``DistributedTraceContext``): parse and format, no OpenTelemetry.

A ``traceparent`` is ``00-{trace id: 32 hex}-{span id: 16 hex}-{flags: 2 hex}``
(https://www.w3.org/TR/trace-context/#traceparent-header).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from ..orchestration.history import TraceContext

_TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(?:-.*)?$")
#: DTFx truncates a longer ``tracestate`` to nothing rather than editing it (W3C allows dropping it).
MAX_TRACE_STATE = 513


@dataclass(frozen=True, slots=True)
class SpanRef:
    """A span's identity: enough to make it a parent, or to emit it with a known id."""

    trace_id: int
    span_id: int
    flags: int = 1
    trace_state: str | None = None

    @property
    def traceparent(self) -> str:
        return format_traceparent(self.trace_id, self.span_id, self.flags)


def format_traceparent(trace_id: int, span_id: int, flags: int = 1) -> str:
    return f"00-{trace_id:032x}-{span_id:016x}-{flags:02x}"


def parse_traceparent(value: str | None, trace_state: str | None = None) -> SpanRef | None:
    """The span a ``traceparent`` names, or ``None`` when it is absent or malformed."""
    if not value:
        return None
    match = _TRACEPARENT.match(value.strip().lower())
    if match is None or match.group(1) == "ff":
        return None
    trace_id, span_id = int(match.group(2), 16), int(match.group(3), 16)
    if trace_id == 0 or span_id == 0:
        return None
    return SpanRef(trace_id, span_id, int(match.group(4), 16), trace_state)


def trace_context_of(span: SpanRef) -> TraceContext:
    """The ``DistributedTraceContext`` that makes ``span`` the parent of what it is attached to."""
    state = span.trace_state if span.trace_state and len(span.trace_state) <= MAX_TRACE_STATE else None
    return TraceContext(trace_parent=span.traceparent, trace_state=state)


def continued_trace(tc: TraceContext | None) -> TraceContext | None:
    """The trace context of the next generation after ``continue_as_new``: same parent, a new span.

    DTFx copies the parent trace context to the new ``ExecutionStarted``; the orchestration span of
    the new generation is a new one (its own id and start time).
    """
    if tc is None:
        return None
    return replace(tc, id=None, span_id=None, activity_start_time=None)
