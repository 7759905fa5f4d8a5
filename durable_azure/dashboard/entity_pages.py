"""Entities: a paged list filtered by name and key prefix, and one entity's state with signal and delete."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from ..entities.messages import decode_entity_state
from ..orchestration.entity_id import EntityId
from ..orchestration.serialization import display_default
from ..storage.taskhub import TaskHubStorage
from ..views.rows import preview
from .html import Links, attr, json_block, stamp, text

__all__ = ["EntityRow", "list_entities", "render_entities", "render_entity"]


@dataclass(frozen=True, slots=True)
class EntityRow:
    entity: EntityId
    instance_id: str
    last_operation: datetime | None
    state: object


async def list_entities(
    storage: TaskHubStorage, name: str, key_prefix: str, page_size: int, token: str | None
) -> tuple[list[EntityRow], str | None]:
    """One page of existing entities whose name is ``name`` (all names when empty) and whose key
    starts with ``key_prefix`` (only with a name: keys sort within one name)."""
    prefix = f"@{name.lower()}@{key_prefix}" if name else "@"
    records, next_token = await storage.instances.query(
        instance_id_prefix=prefix,
        page_size=page_size,
        continuation_token=token,
        fetch_input=True,
        fetch_output=False,
        include_entities=True,
    )
    rows = []
    for record in records:
        exists, state = decode_entity_state(record.input)
        if exists:
            entity = EntityId.get_entity_id(record.instance_id)
            rows.append(EntityRow(entity, record.instance_id, record.last_updated_time, state))
    return rows, next_token


def _state_preview(state: object) -> str:
    try:
        return preview(json.dumps(state, ensure_ascii=False, default=display_default), 120)
    except (TypeError, ValueError):
        return preview(str(state), 120)


def render_entities(
    rows: list[EntityRow],
    next_token: str | None,
    links: Links,
    *,
    name: str,
    key_prefix: str,
    page_number: int,
) -> str:
    code = f'<input type="hidden" name="code" value="{attr(links.code)}">' if links.code else ""
    form = (
        f'<form class="filters" id="entity-filters" method="get" action="{attr(links.url("/entities").split("?")[0])}">'
        f'<div class="fields"><label>Entity name <input name="name" value="{attr(name)}" placeholder="counter"></label>'
        f'<label>Key prefix <input name="key" value="{attr(key_prefix)}" placeholder="needs a name"></label>'
        f'{code}<button type="submit">Apply</button> <a href="{attr(links.url("/entities"))}">Clear</a></div></form>'
    )
    body = (
        "".join(
            f'<tr data-id="{attr(r.instance_id)}"><td><a class="mono" href="{attr(links.entity(r.instance_id))}">'
            f'{text(r.entity.name)}</a></td><td class="mono key">{text(r.entity.key)}</td>'
            f"<td>{text(stamp(r.last_operation))}</td>"
            f'<td class="mono wrap">{text(_state_preview(r.state))}</td></tr>'
            for r in rows
        )
        or '<tr class="empty"><td colspan="4">No entities on this page.</td></tr>'
    )
    pager = [f'<span class="muted">Page {page_number}</span>']
    base = [("name", name), ("key", key_prefix)]
    if page_number > 1:
        pager.append(f'<a href="{attr(links.url("/entities", base))}">⇤ First page</a>')
    if next_token:
        params = [*base, ("token", next_token), ("page", str(page_number + 1))]
        pager.append(f'<a id="next-page" href="{attr(links.url("/entities", params))}">Next page →</a>')
    return (
        f"<h1>Entities</h1>{form}"
        '<div id="live" data-live><table class="grid" id="entities"><thead><tr><th>Name</th><th>Key</th>'
        f"<th>Last operation</th><th>State</th></tr></thead><tbody>{body}</tbody></table>"
        f'<nav class="pager">{" ".join(pager)}</nav></div>'
    )


def render_entity(
    entity: EntityId, exists: bool, state: object, last_operation: datetime | None, links: Links, csrf: str
) -> str:
    instance_id = f"@{entity.name}@{entity.key}"
    action = links.url("/entities/action", {"id": instance_id})
    common = f'<input type="hidden" name="csrf" value="{attr(csrf)}"><input type="hidden" name="confirmed" value="0">'
    state_html = (
        json_block(state, element_id="entity-state")
        if exists
        else '<p class="muted" id="entity-state">This entity does not exist (or was deleted).</p>'
    )
    return (
        f'<div id="live" data-live><h1><span class="muted">entity</span> <span class="mono" id="entity-name">'
        f'{text(entity.name)}</span> <span class="mono" id="entity-key">{text(entity.key)}</span></h1>'
        f'<p class="muted">Last operation: {text(stamp(last_operation))}</p>'
        f"<h2>State</h2>{state_html}</div>"
        '<section id="actions"><h2>Actions</h2><div class="actions">'
        f'<form method="post" class="action" data-action="signal" action="{attr(action)}" '
        f'data-confirm="{attr(f"Signal entity {instance_id}?")}">{common}'
        '<input type="hidden" name="op" value="signal">'
        '<input name="operation" placeholder="operation" required>'
        '<textarea name="data" rows="1" placeholder="JSON input (optional)"></textarea>'
        '<button type="submit" class="primary">Signal</button></form>'
        f'<form method="post" class="action" data-action="delete" action="{attr(action)}" '
        f'data-confirm="{attr(f"Delete entity {instance_id}? Its state is removed.")}">{common}'
        '<input type="hidden" name="op" value="delete"><button type="submit" class="danger">Delete</button></form>'
        "</div></section>"
    )
