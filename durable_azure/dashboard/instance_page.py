"""One orchestration instance: status, payloads, failure, relatives, actions, timeline and history."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from ..errors import FailureDetails
from ..orchestration.history import (
    ExecutionCompleted,
    ExecutionStarted,
    HistoryEvent,
    SubOrchestrationInstanceCreated,
)
from ..views.rows import format_duration, task_spans
from ..views.timeline import TIMELINE_CSS, history_table_html, timeline_fragment
from .html import Links, attr, badge, json_block, stamp, text

__all__ = ["ACTIONS", "Relatives", "failure_of", "relatives_of", "render_confirm", "render_instance"]

#: The instance page's actions: name → (button label, confirmation question).
ACTIONS: dict[str, tuple[str, str]] = {
    "raise-event": ("Raise event", "Raise this event on instance {id}?"),
    "terminate": ("Terminate", "Terminate instance {id}? It stops for good."),
    "suspend": ("Suspend", "Suspend instance {id}? Its events wait until it is resumed."),
    "resume": ("Resume", "Resume instance {id}?"),
    "rewind": ("Rewind", "Rewind instance {id}? Its failed work runs again."),
    "restart": ("Restart", "Restart instance {id} with its original input?"),
    "purge": ("Purge", "Purge instance {id}? Its history and status are deleted for good."),
}


#: The timeline's stylesheet without its page-wide rules (the dashboard's own stylesheet has those).
_EMBEDDED_CSS = "\n".join(
    line
    for line in TIMELINE_CSS.splitlines()
    if not line.startswith(("body ", "h1 ", "h2 ", "* ", "code,", ".badge ", ":root"))
).replace("var(--label)", "260px")


@dataclass(slots=True)
class Relatives:
    """The parent that started this instance and the sub-orchestrations it started."""

    parent: tuple[str, str] | None = None  # (name, instance id)
    children: list[tuple[str, str, str | None]] = field(default_factory=list)  # (name, id, status)


def relatives_of(events: list[HistoryEvent]) -> Relatives:
    found = Relatives()
    for event in events:
        if isinstance(event, ExecutionStarted) and event.parent is not None:
            found.parent = (event.parent.name, event.parent.instance_id)
        elif isinstance(event, SubOrchestrationInstanceCreated):
            found.children.append((event.name, event.instance_id, None))
    return found


def failure_of(events: list[HistoryEvent]) -> FailureDetails | None:
    for event in reversed(events):
        if isinstance(event, ExecutionCompleted) and event.failure_details is not None:
            return event.failure_details
    return None


def _failure_html(failure: FailureDetails | None, status_json: dict[str, Any]) -> str:
    if failure is None:
        if status_json.get("runtimeStatus") != "Failed":
            return ""
        return (
            '<section class="failure" id="failure"><h2>Failure</h2>'
            f"<p>{text(status_json.get('output'))}</p></section>"
        )
    parts = []
    depth = 0
    current: FailureDetails | None = failure
    while current is not None and depth < 10:
        heading = "Failure" if depth == 0 else "Caused by"
        stack = (
            f'<pre class="stack">{text(current.stack_trace)}</pre>'
            if current.stack_trace
            else '<p class="muted">No stack trace was recorded.</p>'
        )
        parts.append(
            f'<h2>{heading}</h2><p><code class="error-type">{text(current.error_type)}</code>: '
            f'<span class="error-message">{text(current.error_message)}</span></p>{stack}'
        )
        current, depth = current.inner_failure, depth + 1
    return f'<section class="failure" id="failure">{"".join(parts)}</section>'


def _relatives_html(relatives: Relatives, links: Links) -> str:
    items = []
    if relatives.parent is not None:
        name, parent_id = relatives.parent
        items.append(
            f'<li>Started by <a class="mono" id="parent-link" href="{attr(links.instance(parent_id))}">'
            f"{text(parent_id)}</a> ({text(name)})</li>"
        )
    for name, child_id, status in relatives.children:
        shown = f" {badge(status)}" if status else ""
        items.append(
            f'<li>Started <a class="mono child-link" href="{attr(links.instance(child_id))}">'
            f"{text(child_id)}</a> ({text(name)}){shown}</li>"
        )
    if not items:
        return ""
    return f'<section id="relatives"><h2>Related orchestrations</h2><ul>{"".join(items)}</ul></section>'


def _pending_html(events: list[HistoryEvent], status: str, now: datetime) -> str:
    """Work scheduled and not answered yet (activities, timers, sub-orchestrations), oldest first."""
    if status not in ("Running", "Suspended", "Pending"):
        return ""
    pending = [s for s in task_spans(events) if s.end is None and s.outcome == "pending"]
    if not pending:
        return (
            '<section id="pending"><h2>Pending work</h2><p class="muted">Nothing scheduled: the '
            "orchestration waits for an external event (or its next episode).</p></section>"
        )
    rows = "".join(
        f'<tr><td>{text(s.kind)}</td><td>{text(s.name)}</td><td class="num">{text(s.task_id)}</td>'
        f"<td>{text(stamp(s.start))}</td><td>{text(format_duration(s.duration(now)))}</td>"
        f'<td class="mono wrap">{text(s.detail)}</td></tr>'
        for s in pending
    )
    return (
        f'<section id="pending"><h2>Pending work <span class="pill">{len(pending)}</span></h2>'
        '<table class="grid"><thead><tr><th>Kind</th><th>Name</th><th>Task</th><th>Scheduled</th>'
        f"<th>Waiting</th><th>Details</th></tr></thead><tbody>{rows}</tbody></table></section>"
    )


def _form(links: Links, instance_id: str, action: str, csrf: str, fields: str, primary: bool = False) -> str:
    label, question = ACTIONS[action]
    cls = "danger" if action in ("terminate", "purge") else ("primary" if primary else "")
    return (
        f'<form method="post" class="action" data-action="{action}" '
        f'action="{attr(links.url("/instances/" + _path_id(instance_id) + "/" + action))}" '
        f'data-confirm="{attr(question.format(id=instance_id))}">'
        f'<input type="hidden" name="csrf" value="{attr(csrf)}">'
        f'<input type="hidden" name="confirmed" value="0">{fields}'
        f'<button type="submit" class="{cls}">{text(label)}</button></form>'
    )


def _path_id(instance_id: str) -> str:
    from urllib.parse import quote

    return quote(instance_id, safe="")


def _actions_html(links: Links, instance_id: str, csrf: str) -> str:
    reason = '<input name="reason" placeholder="reason (optional)" maxlength="1000">'
    return (
        '<section id="actions"><h2>Actions</h2><div class="actions">'
        + _form(
            links,
            instance_id,
            "raise-event",
            csrf,
            '<input name="event" placeholder="event name" required>'
            '<textarea name="data" rows="1" placeholder="JSON body, e.g. {&quot;approved&quot;: true}"></textarea>',
            primary=True,
        )
        + "".join(
            _form(links, instance_id, a, csrf, reason) for a in ("terminate", "suspend", "resume", "rewind")
        )
        + _form(
            links,
            instance_id,
            "restart",
            csrf,
            '<label class="check"><input type="checkbox" name="new_id" value="1" checked> new instance ID</label>',
        )
        + _form(links, instance_id, "purge", csrf, "")
        + "</div></section>"
    )


def render_instance(
    status_json: dict[str, Any],
    events: list[HistoryEvent],
    relatives: Relatives,
    links: Links,
    csrf: str,
) -> tuple[str, str]:
    """The page body and its extra stylesheet (the timeline's)."""
    instance_id = str(status_json.get("instanceId") or "")
    name = str(status_json.get("name") or "")
    status = str(status_json.get("runtimeStatus") or "Unknown")
    fragment, _ = timeline_fragment(status_json, events)
    summary = "".join(
        f"<dt>{label}</dt><dd{ident}>{value}</dd>"
        for label, ident, value in (
            ("Instance ID", ' class="mono" id="instance-id"', text(instance_id)),
            ("Name", ' id="instance-name"', text(name)),
            *(
                [("Version", ' id="instance-version"', text(status_json["version"]))]
                if status_json.get("version")
                else []
            ),
            ("Status", ' id="instance-status"', badge(status)),
            ("Created", "", text(status_json.get("createdTime"))),
            ("Last updated", ' id="last-updated"', text(status_json.get("lastUpdatedTime"))),
        )
    )
    payloads = "".join(
        f'<section class="payload"><h2>{label}</h2>{json_block(status_json.get(key), element_id=key)}</section>'
        for key, label in (("input", "Input"), ("output", "Output"), ("customStatus", "Custom status"))
    )
    body = (
        f'<div id="live" data-live><h1><span class="muted">{text(name or "orchestration")}</span> '
        f'<span class="mono">{text(instance_id)}</span> {badge(status)}</h1>'
        f'<dl class="summary">{summary}</dl>'
        f"{_failure_html(failure_of(events), status_json)}"
        f"{_pending_html(events, status, datetime.now(timezone.utc))}"
        f"{_relatives_html(relatives, links)}"
        f'<div class="payloads">{payloads}</div></div>'
        f"{_actions_html(links, instance_id, csrf)}"
        f'<section id="timeline-section" data-live><h2>Timeline</h2>{fragment}</section>'
        f'<section id="history" data-live><h2>History <span class="pill">{len(events)}</span></h2>'
        f"{history_table_html(events)}</section>"
    )
    return body, _EMBEDDED_CSS


def render_confirm(links: Links, instance_id: str, action: str, form: dict[str, str], csrf: str) -> str:
    """The confirmation step for a browser without scripts (the script asks with ``confirm()``)."""
    label, question = ACTIONS[action]
    hidden = "".join(
        f'<input type="hidden" name="{attr(k)}" value="{attr(v)}">'
        for k, v in form.items()
        if k not in ("csrf", "confirmed")
    )
    return (
        f"<h1>{text(label)}</h1><p>{text(question.format(id=instance_id))}</p>"
        f'<form method="post" action="{attr(links.url("/instances/" + _path_id(instance_id) + "/" + action))}">'
        f'<input type="hidden" name="csrf" value="{attr(csrf)}"><input type="hidden" name="confirmed" value="1">'
        f'{hidden}<button type="submit" class="danger">Yes, {text(label.lower())}</button> '
        f'<a href="{attr(links.instance(instance_id))}">Cancel</a></form>'
    )
