"""The overview page and the instances list, rendered from :mod:`.overview` and :mod:`.queries`."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone

from ..errors import InvalidInputError
from ..orchestration.history import OrchestrationStatus
from .html import STATUS_COLORS, Links, age, attr, badge, stamp, text
from .overview import MINUTES, Overview
from .queries import PAGE_SIZES, SORTS, InstanceFilter, InstancePage

__all__ = ["parse_filter", "render_instances", "render_overview"]

_LISTED_STATUSES = ("Running", "Pending", "Suspended", "Completed", "Failed", "Terminated", "ContinuedAsNew")
_SORT_LABELS = {
    "created": "Created (newest first)",
    "updated": "Last updated (newest first)",
    "id": "Instance ID",
}


# ---------------------------------------------------------------------------- overview


def _chart(overview: Overview) -> str:
    width, height, gap = 720, 120, 2
    slot = width / MINUTES
    bar = (slot - gap) / 2
    peak = max([*overview.created_per_minute, *overview.completed_per_minute, 1])
    bars = []
    for i in range(MINUTES):
        minutes_ago = MINUTES - 1 - i
        for j, (kind, values) in enumerate(
            (("created", overview.created_per_minute), ("completed", overview.completed_per_minute))
        ):
            value = values[i]
            h = value / peak * (height - 14)
            x = i * slot + j * bar
            label = f"{minutes_ago} min ago: {value} {kind}"
            bars.append(
                f'<rect class="{kind}" data-minute="{i}" data-value="{value}" x="{x:.1f}" '
                f'y="{height - h:.1f}" width="{bar:.1f}" height="{h:.1f}"><title>{text(label)}</title></rect>'
            )
    total_created, total_completed = sum(overview.created_per_minute), sum(overview.completed_per_minute)
    return (
        f'<figure class="chart" id="throughput"><svg viewBox="0 0 {width} {height + 16}" role="img" '
        f'aria-label="instances created and completed per minute over the last hour">'
        f'<line x1="0" y1="{height}" x2="{width}" y2="{height}" class="axis"/>{"".join(bars)}'
        f'<text x="0" y="{height + 13}" class="tick">−60 min</text>'
        f'<text x="{width / 2}" y="{height + 13}" class="tick" text-anchor="middle">−30 min</text>'
        f'<text x="{width}" y="{height + 13}" class="tick" text-anchor="end">now</text></svg>'
        f'<figcaption><i class="swatch created"></i>created ({total_created} in the last hour, peak '
        f'{max(overview.created_per_minute)}/min) <i class="swatch completed"></i>completed '
        f"({total_completed})</figcaption></figure>"
    )


def render_overview(overview: Overview, links: Links) -> str:
    cards = [
        f'<a class="card" href="{attr(links.url("/instances"))}" data-status="all">'
        f'<span class="count" id="count-all">{overview.total}</span><span>instances</span></a>'
    ]
    shown = list(dict.fromkeys([*_LISTED_STATUSES, *overview.counts]))
    for status in shown:
        count = overview.counts.get(status, 0)
        color = STATUS_COLORS.get(status, "#495057")
        cards.append(
            f'<a class="card" style="border-top-color:{color}" data-status="{attr(status)}" '
            f'href="{attr(links.url("/instances", [("status", status)]))}">'
            f'<span class="count">{count}</span><span>{text(status)}</span></a>'
        )
    partition_rows = "".join(
        f'<tr data-partition="{attr(p.queue.name)}"><td class="mono">{text(p.queue.name)}</td>'
        f'<td class="mono owner">{text(p.owner or "– (no lease)")}</td><td class="num">{p.epoch}</td>'
        f'<td class="num depth">{p.queue.depth}</td><td class="num">{text(age(p.queue.oldest_age))}</td></tr>'
        for p in overview.partitions
    )
    work = overview.workitems
    partition_rows += (
        f'<tr data-partition="{attr(work.name)}"><td class="mono">{text(work.name)}</td>'
        f'<td class="muted">shared by all workers</td><td></td><td class="num depth">{work.depth}</td>'
        f'<td class="num">{text(age(work.oldest_age))}</td></tr>'
    )
    workers = (
        "".join(
            f'<li><span class="mono worker">{text(owner)}</span>: {len(parts)} partition'
            f'{"s" if len(parts) != 1 else ""} <span class="muted mono">{text(", ".join(parts))}</span></li>'
            for owner, parts in sorted(overview.workers.items())
        )
        or '<li class="muted">No worker holds a lease: nothing is processing this hub right now.</li>'
    )
    if overview.poison:
        poison = (
            '<table class="grid" id="poison"><thead><tr><th>Message</th><th>Queue</th><th>Instance</th>'
            "<th>Event</th><th>Dequeues</th><th>Set aside</th><th>Reason</th></tr></thead><tbody>"
            + "".join(
                f'<tr><td class="mono">{text(r.message_id)}</td><td class="mono">{text(r.queue)}</td>'
                f"<td>{_instance_link(links, r.instance_id)}</td><td>{text(r.event_type or '')}</td>"
                f'<td class="num">{r.dequeue_count}</td><td>{text(stamp(r.set_aside_at))}</td>'
                f'<td class="wrap">{text(r.reason)}</td></tr>'
                for r in overview.poison
            )
            + "</tbody></table>"
        )
        if overview.poison_count > len(overview.poison):
            poison += f'<p class="muted">{overview.poison_count - len(overview.poison)} more: `durable-azure poison list`.</p>'
    else:
        poison = '<p class="muted">No poison messages.</p>'
    return (
        f'<div id="live" data-live><h1>Task hub {text(overview.hub)}</h1>'
        f'<p class="muted">As of {text(stamp(overview.now))}</p>'
        f'<section class="cards" id="counts">{"".join(cards)}</section>'
        f"<h2>Created and completed per minute, last hour</h2>{_chart(overview)}"
        '<div class="columns"><section><h2>Partitions and queues</h2><table class="grid" id="partitions">'
        "<thead><tr><th>Queue</th><th>Lease owner</th><th>Epoch</th><th>Depth</th><th>Oldest message</th>"
        f'</tr></thead><tbody>{partition_rows}</tbody></table></section><section><h2>Workers</h2><ul id="workers">'
        f"{workers}</ul></section></div>"
        f'<h2>Poison messages <span class="pill" id="poison-count">{overview.poison_count}</span></h2>'
        f"{poison}</div>"
    )


def _instance_link(links: Links, instance_id: str | None) -> str:
    if not instance_id:
        return ""
    target = links.entity(instance_id) if instance_id.startswith("@") else links.instance(instance_id)
    return f'<a class="mono" href="{attr(target)}">{text(instance_id)}</a>'


# ---------------------------------------------------------------------------- instances


def _moment(value: str | None, name: str) -> datetime | None:
    if not value or not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInputError(
            f"{name} must be a date and time such as 2024-05-01T13:00 (UTC); got {value!r}."
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def parse_filter(query: Mapping[str, list[str]]) -> InstanceFilter:
    """The list's filters from the URL's query (``status`` may repeat). Raises
    :class:`InvalidInputError` with a message for the page when one is malformed."""

    def one(key: str) -> str:
        values = query.get(key) or [""]
        return values[-1].strip()

    statuses = []
    for value in query.get("status", []):
        try:
            statuses.append(OrchestrationStatus[value])
        except KeyError:
            raise InvalidInputError(f"Unknown runtime status {value!r}.") from None
    sort = one("sort") or "created"
    if sort not in SORTS:
        raise InvalidInputError(f"sort must be one of {', '.join(SORTS)}; got {sort!r}.")
    size_text = one("size") or "50"
    if not size_text.isdigit() or int(size_text) not in PAGE_SIZES:
        raise InvalidInputError(f"size must be one of {', '.join(map(str, PAGE_SIZES))}; got {size_text!r}.")
    return InstanceFilter(
        statuses=tuple(statuses),
        name=one("name"),
        id_prefix=one("prefix"),
        created_from=_moment(one("from"), "from"),
        created_to=_moment(one("to"), "to"),
        sort=sort,
        page_size=int(size_text),
    )


def filter_params(filters: InstanceFilter) -> list[tuple[str, str]]:
    """The filters as URL query pairs (the inverse of :func:`parse_filter`)."""
    pairs = [("status", s.name) for s in filters.statuses]
    pairs += [("name", filters.name), ("prefix", filters.id_prefix)]
    for key, moment in (("from", filters.created_from), ("to", filters.created_to)):
        if moment is not None:
            pairs.append((key, moment.strftime("%Y-%m-%dT%H:%M:%S")))
    if filters.sort != "created":
        pairs.append(("sort", filters.sort))
    if filters.page_size != 50:
        pairs.append(("size", str(filters.page_size)))
    return [(k, v) for k, v in pairs if v]


def _local(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S") if moment else ""


def _filter_form(filters: InstanceFilter, links: Links) -> str:
    chosen = {s.name for s in filters.statuses}
    boxes = "".join(
        f'<label class="check"><input type="checkbox" name="status" value="{s}"'
        f"{' checked' if s in chosen else ''}> {s}</label>"
        for s in _LISTED_STATUSES
    )
    sorts = "".join(
        f'<option value="{k}"{" selected" if k == filters.sort else ""}>{v}</option>'
        for k, v in _SORT_LABELS.items()
    )
    sizes = "".join(
        f'<option value="{n}"{" selected" if n == filters.page_size else ""}>{n}</option>' for n in PAGE_SIZES
    )
    code = f'<input type="hidden" name="code" value="{attr(links.code)}">' if links.code else ""
    return (
        f'<form class="filters" id="filters" method="get" action="{attr(links.url("/instances").split("?")[0])}">'
        f'<fieldset><legend>Status</legend>{boxes}</fieldset><div class="fields">'
        f'<label>Name <input name="name" value="{attr(filters.name)}" placeholder="orchestrator"></label>'
        f'<label>ID prefix <input name="prefix" value="{attr(filters.id_prefix)}" placeholder="order-"></label>'
        f'<label>Created from (UTC) <input type="datetime-local" step="1" name="from" value="{_local(filters.created_from)}"></label>'
        f'<label>to <input type="datetime-local" step="1" name="to" value="{_local(filters.created_to)}"></label>'
        f'<label>Sort <select name="sort">{sorts}</select></label>'
        f'<label>Page size <select name="size">{sizes}</select></label>'
        f'{code}<button type="submit">Apply</button> <a href="{attr(links.url("/instances"))}">Clear</a></div></form>'
    )


#: Actions on the selected rows of the list: name → (button label, confirmation).
BULK_ACTIONS = {
    "terminate": ("Terminate selected", "Terminate the selected instances?"),
    "suspend": ("Suspend selected", "Suspend the selected instances?"),
    "resume": ("Resume selected", "Resume the selected instances?"),
    "purge": ("Purge selected", "Purge the selected instances? Their history is deleted for good."),
}
#: The most instances one bulk action may name.
MAX_BULK = 200


def _bulk_form(links: Links, csrf: str, back: str) -> str:
    buttons = "".join(
        f'<button type="submit" name="action" value="{a}" class="{"danger" if a in ("terminate", "purge") else ""}" '
        f'data-confirm="{attr(q)}">{text(label)}</button>'
        for a, (label, q) in BULK_ACTIONS.items()
    )
    return (
        f'<form method="post" id="bulk" class="bulk" action="{attr(links.url("/bulk"))}">'
        f'<input type="hidden" name="csrf" value="{attr(csrf)}"><input type="hidden" name="confirmed" value="0">'
        f'<input type="hidden" name="back" value="{attr(back)}">'
        f'<span class="muted" id="selection-count"></span> {buttons}</form>'
    )


def render_instances(
    filters: InstanceFilter,
    result: InstancePage,
    links: Links,
    *,
    page_number: int = 1,
    csrf: str = "",
    back: str = "",
) -> str:
    params = filter_params(filters)
    rows = "".join(
        f'<tr data-id="{attr(r.instance_id)}" data-status="{attr(r.status)}">'
        f'<td><input type="checkbox" class="select" name="instance" value="{attr(r.instance_id)}" '
        f'form="bulk" aria-label="select {attr(r.instance_id)}"></td>'
        f'<td><a class="mono id" href="{attr(links.instance(r.instance_id))}">{text(r.instance_id)}</a></td>'
        f'<td class="name">{text(r.name)}</td><td>{badge(r.status)}</td>'
        f'<td class="created">{text(stamp(r.created))}</td><td class="updated">{text(stamp(r.updated))}</td>'
        f"<td>{text(stamp(r.completed))}</td></tr>"
        for r in result.rows
    )
    if not rows:
        rows = '<tr class="empty"><td colspan="7">No instances match these filters.</td></tr>'
    pager = [f'<span class="muted" id="page-number">Page {page_number}</span>']
    if page_number > 1:
        pager.append(f'<a id="first-page" href="{attr(links.url("/instances", params))}">⇤ First page</a>')
    if result.next_token:
        next_params = [*params, ("token", result.next_token), ("page", str(page_number + 1))]
        pager.append(f'<a id="next-page" href="{attr(links.url("/instances", next_params))}">Next page →</a>')
    else:
        pager.append('<span class="muted" id="last-page">last page</span>')
    return (
        f"<h1>Instances</h1>{_filter_form(filters, links)}{_bulk_form(links, csrf, back)}"
        f'<div id="live" data-live><table class="grid selectable" id="instances"><thead><tr><th></th><th>Instance ID</th>'
        "<th>Name</th><th>Status</th><th>Created</th><th>Last updated</th><th>Completed</th></tr></thead>"
        f'<tbody>{rows}</tbody></table><nav class="pager">{" ".join(pager)}'
        f'<span class="muted"> · {len(result.rows)} rows, {result.requests} table '
        f"quer{'y' if result.requests == 1 else 'ies'}</span></nav></div>"
    )
