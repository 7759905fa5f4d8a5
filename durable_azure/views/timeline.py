"""An orchestration instance as a picture: a self-contained HTML timeline (no scripts, no CDN).

``render_timeline_html(status_json, events)`` draws one bar per activity, timer, sub-orchestration
and external-event wait on a shared time axis, coloured by outcome (completed, failed, pending,
cancelled), with the orchestration as a whole on the first lane and the orchestrator's own
episodes (``OrchestratorStarted`` … ``OrchestratorCompleted``) on the second, repeated as dashed
guide lines across every lane. Below it, the readable history table.

Bars are absolutely positioned ``div`` elements whose ``left``/``width`` are percentages of their
track, so geometry follows the events exactly at any page width. Every bar carries
``data-kind``, ``data-name``, ``data-start-ms``, ``data-end-ms`` (milliseconds since the execution
started) and ``data-outcome``; the ``#timeline`` element carries ``data-span-ms`` (the width of the
axis in milliseconds) and ``data-origin`` (the start time, ISO 8601).
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta, timezone
from html import escape
from string import Template
from typing import Any

from ..orchestration.history import HistoryEvent
from ..orchestration.serialization import display_default
from ..storage.values import assume_utc, format_clock_ms, parse_iso
from .rows import (
    Span,
    episode_spans,
    format_duration,
    format_offset,
    history_rows,
    orchestration_span,
    origin_of,
    preview,
    task_spans,
)

__all__ = ["COLORS", "TIMELINE_CSS", "history_table_html", "render_timeline_html", "timeline_fragment"]

#: Bar colours by outcome (CSS hex); the tests compare computed colours against these.
COLORS = {
    "completed": "#2f9e44",
    "failed": "#e03131",
    "pending": "#1c7ed6",
    "cancelled": "#868e96",
}
EPISODE_COLOR = "#7048e8"

_RUNTIME_OUTCOME = {
    "Completed": "completed",
    "Failed": "failed",
    "Terminated": "cancelled",
    "Canceled": "cancelled",
    "Running": "pending",
    "Pending": "pending",
    "Suspended": "pending",
    "ContinuedAsNew": "completed",
}

_KIND_LABEL = {
    "orchestration": "orchestration",
    "episode": "episodes",
    "activity": "activity",
    "timer": "timer",
    "suborchestration": "sub-orchestration",
    "wait": "event",
    "suspended": "suspended",
}

_CSS = Template("""
:root { --label: 260px; }
* { box-sizing: border-box; }
body { font: 13px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 16px 20px; color: #212529; }
h1 { font-size: 18px; margin: 0 0 4px; }
h2 { font-size: 15px; margin: 20px 0 6px; }
code, .mono { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: 12px; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 9px; color: #fff; font-size: 12px; vertical-align: middle; }
dl.summary { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; margin: 8px 0; }
dl.summary dt { color: #868e96; }
dl.summary dd { margin: 0; overflow-wrap: anywhere; }
.legend { margin: 10px 0 6px; font-size: 12px; }
.legend span { display: inline-flex; align-items: center; margin-right: 14px; }
.legend i { display: inline-block; width: 18px; height: 10px; margin-right: 5px; border-radius: 2px; }
.timeline { position: relative; border: 1px solid #dee2e6; border-radius: 4px; overflow: hidden; }
.lane { display: flex; height: 22px; border-bottom: 1px solid #f1f3f5; }
.lane:last-of-type { border-bottom: 0; }
.lane.axis { height: 20px; background: #f8f9fa; border-bottom: 1px solid #dee2e6; }
.label { flex: 0 0 var(--label); width: var(--label); padding: 0 8px; line-height: 22px; font-size: 12px;
         white-space: nowrap; overflow: hidden; text-overflow: ellipsis; border-right: 1px solid #dee2e6; }
.label small { color: #868e96; margin-right: 4px; }
.track { position: relative; flex: 1 1 auto; min-width: 0; }
.tick { position: absolute; top: 0; bottom: 0; border-left: 1px solid #ced4da; padding-left: 3px;
        font-size: 10px; line-height: 20px; color: #495057; white-space: nowrap; }
.bar { position: absolute; top: 4px; height: 14px; min-width: 2px; border-radius: 2px; overflow: hidden;
       white-space: nowrap; font-size: 10px; line-height: 14px; color: #fff; padding: 0; text-indent: 3px; }
.bar.completed { background-color: $completed; }
.bar.failed { background-color: $failed; }
.bar.pending { background-color: $pending; }
.bar.cancelled { background-color: $cancelled; }
.bar.kind-timer { background-image: repeating-linear-gradient(135deg, rgba(255,255,255,.35) 0 3px, transparent 3px 7px); }
.bar.kind-wait { background-image: radial-gradient(rgba(255,255,255,.55) 1px, transparent 1.5px); background-size: 5px 5px; }
.bar.kind-suborchestration { box-shadow: inset 0 0 0 2px rgba(0,0,0,.3); }
.bar.kind-suspended { background-image: repeating-linear-gradient(90deg, rgba(0,0,0,.25) 0 2px, transparent 2px 6px); }
.bar.kind-orchestration { top: 3px; height: 16px; line-height: 16px; font-weight: 600; }
.bar.kind-episode { background-color: $episode; }
.overlay { position: absolute; top: 20px; bottom: 0; left: var(--label); right: 0; pointer-events: none; }
.episode-line { position: absolute; top: 0; bottom: 0; width: 0; border-left: 1px dashed rgba(112,72,232,.45); }
table.history { border-collapse: collapse; width: 100%; }
table.history th, table.history td { text-align: left; padding: 2px 8px; border-bottom: 1px solid #f1f3f5;
                                     vertical-align: top; }
table.history th { background: #f8f9fa; font-weight: 600; }
table.history td.num { text-align: right; white-space: nowrap; }
table.history tr.marker td { color: #adb5bd; }
table.history tr.failed td { color: $failed; }
.empty { color: #868e96; padding: 8px; }
""").substitute(COLORS, episode=EPISODE_COLOR)
#: The stylesheet of the timeline and history table (the dashboard's instance page embeds both).
TIMELINE_CSS = _CSS


def _ms(start: datetime, end: datetime) -> float:
    return (end - start) / timedelta(milliseconds=1)


def _num(value: float) -> str:
    """A compact decimal for attributes and CSS (no exponent)."""
    text = f"{value:.4f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def _tick_step(span_ms: float, target: int = 8) -> float:
    raw = span_ms / target
    if raw <= 0:
        return 1.0
    for unit in (1, 10, 100, 1000, 10_000, 60_000, 600_000, 3_600_000, 36_000_000, 86_400_000):
        for factor in (1, 2, 5):
            if unit * factor >= raw:
                return float(unit * factor)
    return 86_400_000.0 * math.ceil(raw / 86_400_000)


def _tick_label(ms: float, step: float) -> str:
    if ms == 0:
        return "0"
    if step < 1000:
        return f"{ms:.0f} ms" if ms < 1000 else f"{ms / 1000:g} s"
    if step < 60_000:
        return f"{ms / 1000:g} s"
    if step < 3_600_000:
        return f"{ms / 60_000:g} min"
    if step < 86_400_000:
        return f"{ms / 3_600_000:g} h"
    return f"{ms / 86_400_000:g} d"


def _pack(spans: list[Span], end_of: dict[int, datetime]) -> list[list[Span]]:
    """Greedy interval packing: as few sub-lanes as possible with no overlapping bars in one."""
    lanes: list[list[Span]] = []
    lane_ends: list[datetime] = []
    for span in spans:
        end = end_of[id(span)]
        for index, lane_end in enumerate(lane_ends):
            if lane_end <= span.start:
                lanes[index].append(span)
                lane_ends[index] = end
                break
        else:
            lanes.append([span])
            lane_ends.append(end)
    return lanes


class _Geometry:
    def __init__(self, origin: datetime, span_ms: float) -> None:
        self.origin = origin
        self.span_ms = span_ms

    def pct(self, moment: datetime) -> float:
        return max(0.0, min(100.0, _ms(self.origin, moment) / self.span_ms * 100.0))


def _bar(span: Span, end: datetime, geo: _Geometry, *, outcome: str | None = None) -> str:
    outcome = outcome or span.outcome
    start_ms = _ms(geo.origin, span.start)
    end_ms = _ms(geo.origin, end)
    left = geo.pct(span.start)
    width = max(geo.pct(end) - left, 0.0)
    duration = format_duration(max(end_ms - start_ms, 0.0) / 1000)
    title_lines = [
        f"{_KIND_LABEL.get(span.kind, span.kind)} {span.name}"
        + (f" (#{span.task_id})" if span.task_id is not None else ""),
        f"start {format_offset(start_ms / 1000)}, duration {duration}"
        + (" so far" if span.end is None else ""),
        f"outcome: {outcome}",
    ]
    if span.detail:
        title_lines.append(preview(span.detail, 300))
    text = span.name if span.kind not in ("timer", "episode") else ""
    text = f"{text} {duration}".strip() if span.kind != "episode" else ""
    attrs = {
        "class": f"bar {outcome} kind-{span.kind}",
        "data-kind": span.kind,
        "data-name": span.name,
        "data-start-ms": _num(start_ms),
        "data-end-ms": _num(end_ms),
        "data-outcome": outcome,
        "style": f"left:{_num(left)}%;width:{_num(width)}%",
        "title": "\n".join(title_lines),
    }
    if span.task_id is not None:
        attrs["data-task-id"] = str(span.task_id)
    rendered = " ".join(f'{key}="{escape(value, quote=True)}"' for key, value in attrs.items())
    return f"<div {rendered}>{escape(text)}</div>"


def _lane(label_kind: str, label: str, bars: list[str], *, lane: str) -> str:
    return (
        f'<div class="lane" data-lane="{escape(lane, quote=True)}">'
        f'<div class="label" title="{escape(label_kind + " " + label, quote=True)}">'
        f"<small>{escape(label_kind)}</small>{escape(label)}</div>"
        f'<div class="track">{"".join(bars)}</div></div>'
    )


def _summary(status_json: dict[str, Any], duration: float | None) -> str:
    fields: list[tuple[str, str]] = [
        ("Instance", str(status_json.get("instanceId") or "")),
        ("Orchestrator", str(status_json.get("name") or "")),
        *([("Version", str(status_json["version"]))] if status_json.get("version") else []),
        ("Status", str(status_json.get("runtimeStatus") or "")),
        ("Created", str(status_json.get("createdTime") or "")),
        ("Last updated", str(status_json.get("lastUpdatedTime") or "")),
    ]
    if duration is not None:
        fields.append(("Duration", format_duration(duration)))
    for key, label in (("input", "Input"), ("output", "Output"), ("customStatus", "Custom status")):
        value = status_json.get(key)
        if value is not None:
            fields.append(
                (label, preview(json.dumps(value, ensure_ascii=False, default=display_default), 400))
            )
    items = "".join(f'<dt>{escape(k)}</dt><dd class="mono">{escape(v)}</dd>' for k, v in fields)
    return f'<dl class="summary">{items}</dl>'


def history_table_html(events: list[HistoryEvent]) -> str:
    """The readable history as an HTML table (styled by :data:`TIMELINE_CSS`)."""
    rows = history_rows(events)
    if not rows:
        return '<p class="empty">No history yet.</p>'
    body = []
    for row in rows:
        cls = "failed" if row.error else ("marker" if row.event_type.startswith("Orchestrator") else "")
        body.append(
            f'<tr class="{cls}"><td class="num">{row.sequence}</td>'
            f'<td class="mono">{escape(format_clock_ms(row.timestamp))}</td>'
            f'<td class="num mono">{escape(format_offset(row.offset))}</td>'
            f"<td>{escape(row.event_type)}</td><td>{escape(row.name)}</td>"
            f'<td class="mono">{escape(preview(row.detail, 160))}</td>'
            f'<td class="num">{escape(format_duration(row.duration))}</td></tr>'
        )
    head = "".join(
        f"<th>{h}</th>" for h in ("#", "Time (UTC)", "Offset", "Event", "Name", "Details", "Duration")
    )
    return f'<table class="history"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def timeline_fragment(
    status_json: dict[str, Any],
    events: list[HistoryEvent],
    *,
    now: datetime | None = None,
) -> tuple[str, float | None]:
    """The legend and ``#timeline`` element (styled by :data:`TIMELINE_CSS`), and the instance's
    duration in seconds (``None`` before it started): the part of the page the dashboard embeds."""
    instance_id = str(status_json.get("instanceId") or "")
    name = str(status_json.get("name") or "")
    runtime_status = str(status_json.get("runtimeStatus") or "")
    origin = origin_of(events) or parse_iso(status_json.get("createdTime")) or datetime.now(timezone.utc)

    orchestration = orchestration_span(events, name or None)
    episodes = episode_spans(events)
    tasks = task_spans(events)
    all_spans = ([orchestration] if orchestration else []) + episodes + tasks

    last_recorded = max((assume_utc(e.timestamp) for e in events), default=origin)
    for span in all_spans:
        if span.end is not None:
            last_recorded = max(last_recorded, span.end)
    if now is None:
        still_open = runtime_status in ("Running", "Pending", "Suspended") or any(
            s.end is None for s in all_spans
        )
        now = datetime.now(timezone.utc) if still_open and runtime_status not in _FINAL else last_recorded
    now = max(assume_utc(now), origin)
    end_of = {id(s): (s.end if s.end is not None else max(now, s.start)) for s in all_spans}
    domain_end = max([origin, *end_of.values()])
    span_ms = max(_ms(origin, domain_end), 1.0)
    geo = _Geometry(origin, span_ms)

    lanes: list[str] = []
    if orchestration is not None:
        outcome = _RUNTIME_OUTCOME.get(runtime_status, orchestration.outcome)
        lanes.append(
            _lane(
                "orchestration",
                orchestration.name,
                [_bar(orchestration, end_of[id(orchestration)], geo, outcome=outcome)],
                lane="orchestration",
            )
        )
    if episodes:
        lanes.append(
            _lane(
                "orchestrator",
                f"episodes ({len(episodes)})",
                [_bar(s, end_of[id(s)], geo) for s in episodes],
                lane="episodes",
            )
        )
    groups: dict[tuple[str, str], list[Span]] = {}
    for span in tasks:
        groups.setdefault((span.kind, span.name), []).append(span)
    for (kind, group_name), spans in groups.items():
        for index, packed in enumerate(_pack(spans, end_of)):
            label = group_name if index == 0 else f"{group_name} ·{index + 1}"
            lanes.append(
                _lane(
                    _KIND_LABEL.get(kind, kind),
                    label,
                    [_bar(s, end_of[id(s)], geo) for s in packed],
                    lane=f"{kind}:{group_name}:{index}",
                )
            )

    step = _tick_step(span_ms)
    ticks = []
    value = 0.0
    while value <= span_ms + 1e-9:
        ticks.append(
            f'<div class="tick" style="left:{_num(value / span_ms * 100)}%">{escape(_tick_label(value, step))}</div>'
        )
        value += step
    axis = f'<div class="lane axis"><div class="label">time since start</div><div class="track">{"".join(ticks)}</div></div>'
    lines = "".join(
        f'<div class="episode-line" style="left:{_num(geo.pct(s.start))}%"></div>' for s in episodes
    )

    duration = _ms(origin, end_of[id(orchestration)]) / 1000 if orchestration else None
    legend = (
        "".join(
            f'<span><i style="background:{color}"></i>{label}</span>'
            for label, color in [*COLORS.items(), ("episode", EPISODE_COLOR)]
        )
        + "<span>▨ timer</span><span>⁘ event wait</span><span>▭ sub-orchestration</span>"
    )
    if events:
        timeline = (
            f'<div class="timeline" id="timeline" data-origin="{escape(origin.isoformat(), quote=True)}" '
            f'data-span-ms="{_num(span_ms)}" data-instance-id="{escape(instance_id, quote=True)}">'
            f'{axis}{"".join(lanes)}<div class="overlay">{lines}</div></div>'
        )
    else:
        timeline = '<div class="timeline empty" id="timeline" data-span-ms="0">No history yet: the instance has not started running.</div>'
    return f'<div class="legend">{legend}</div>{timeline}', duration


def render_timeline_html(
    status_json: dict[str, Any],
    events: list[HistoryEvent],
    *,
    now: datetime | None = None,
) -> str:
    """A complete, self-contained HTML page drawing the instance as a timeline.

    ``status_json`` is ``DurableOrchestrationStatus.to_json()``; ``events`` the raw history of the
    current execution. ``now`` ends the bars of work still pending (default: the current time for a
    running instance, the last recorded event for a finished one).
    """
    instance_id = str(status_json.get("instanceId") or "")
    name = str(status_json.get("name") or "")
    runtime_status = str(status_json.get("runtimeStatus") or "")
    badge_color = COLORS[_RUNTIME_OUTCOME.get(runtime_status, "pending")]
    fragment, duration = timeline_fragment(status_json, events, now=now)
    title = f"{name or 'orchestration'} {instance_id} – durable-azure timeline"
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="generator" content="durable-azure">'
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>"
        f'<h1>{escape(name or "orchestration")} <span class="badge" style="background:{badge_color}">'
        f"{escape(runtime_status or 'Unknown')}</span></h1>"
        f"{_summary(status_json, duration)}"
        f"{fragment}"
        f"<h2>History</h2>{history_table_html(events)}"
        "</body></html>\n"
    )


_FINAL = frozenset({"Completed", "Failed", "Terminated", "Canceled", "ContinuedAsNew"})
