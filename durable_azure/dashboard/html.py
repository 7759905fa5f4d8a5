"""The dashboard's HTML building blocks: the page shell, links that keep the key, and value formatting.

Every value that reaches a page goes through :func:`text` or :func:`attr` (``html.escape``); the
only markup that is not escaped is the markup these modules write themselves. Pages load one
stylesheet and one script from the package (``static/``), never from the network.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from html import escape
from typing import Any
from urllib.parse import quote, urlencode

from ..orchestration.serialization import display_default
from ..storage.values import assume_utc

__all__ = [
    "STATUS_COLORS",
    "Links",
    "age",
    "attr",
    "badge",
    "json_block",
    "page",
    "stamp",
    "text",
]

#: Badge colours by runtime status (CSS hex).
STATUS_COLORS = {
    "Running": "#1c7ed6",
    "Pending": "#74c0fc",
    "Completed": "#2f9e44",
    "Failed": "#e03131",
    "Terminated": "#868e96",
    "Canceled": "#adb5bd",
    "Suspended": "#f08c00",
    "ContinuedAsNew": "#0ca678",
}


def text(value: Any) -> str:
    """``value`` as HTML text."""
    return escape("" if value is None else str(value), quote=False)


def attr(value: Any) -> str:
    """``value`` as a double-quoted attribute's content."""
    return escape("" if value is None else str(value), quote=True)


def stamp(value: datetime | None) -> str:
    """A UTC time to the second, ``2024-01-02 03:04:05Z`` (``–`` for none)."""
    if value is None:
        return "–"
    return assume_utc(value).strftime("%Y-%m-%d %H:%M:%SZ")


def age(seconds: float | None) -> str:
    """A short age: ``4 s``, ``3 min``, ``2 h``, ``5 d`` (``–`` for none)."""
    if seconds is None:
        return "–"
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def badge(status: str) -> str:
    color = STATUS_COLORS.get(status, "#495057")
    return (
        f'<span class="badge" data-status="{attr(status)}" style="background:{color}">{text(status)}</span>'
    )


def json_block(value: Any, *, element_id: str | None = None, limit: int = 20_000) -> str:
    """A value as indented JSON in a ``<pre>`` (cut at ``limit`` characters, which is said)."""
    if value is None:
        body = "null"
    else:
        try:
            body = json.dumps(value, indent=2, ensure_ascii=False, default=display_default)
        except (TypeError, ValueError):
            body = str(value)
    note = ""
    if len(body) > limit:
        note = f'<p class="muted">Showing the first {limit:,} of {len(body):,} characters.</p>'
        body = body[:limit]
    ident = f' id="{attr(element_id)}"' if element_id else ""
    return f'<pre class="json"{ident}>{text(body)}</pre>{note}'


@dataclass(frozen=True, slots=True)
class Links:
    """URLs inside the dashboard: ``root`` is where it is mounted (``/durable``, ``/api/durable``);
    ``code`` the function key the page was opened with, carried on to every link and form."""

    root: str
    code: str | None = None

    def url(self, path: str = "/", params: Mapping[str, Any] | Iterable[tuple[str, Any]] = ()) -> str:
        items = list(params.items()) if isinstance(params, Mapping) else list(params)
        pairs: list[tuple[str, str]] = []
        for key, value in items:
            if value is None or value == "" or value is False:
                continue
            pairs.append((key, str(value)))
        if self.code:
            pairs.append(("code", self.code))
        query = urlencode(pairs, quote_via=quote)
        return f"{self.root.rstrip('/')}{path}" + (f"?{query}" if query else "")

    def instance(self, instance_id: str) -> str:
        return self.url("/instances/" + quote(instance_id, safe=""))

    def entity(self, instance_id: str) -> str:
        return self.url("/entities/view", {"id": instance_id})


_ACTIVE = ' class="active"'


def page(
    links: Links,
    *,
    title: str,
    hub: str,
    body: str,
    active: str,
    extra_css: str = "",
    refresh: bool = False,
    notice: str | None = None,
    problem: str | None = None,
) -> str:
    """A complete page: header with navigation, an optional notice or error, then ``body``."""
    nav = "".join(
        f'<a href="{attr(links.url(path))}"{_ACTIVE if key == active else ""}>{label}</a>'
        for key, path, label in (
            ("overview", "/", "Overview"),
            ("instances", "/instances", "Instances"),
            ("entities", "/entities", "Entities"),
        )
    )
    live = (
        '<label class="live"><input type="checkbox" id="live-toggle" checked> live</label>' if refresh else ""
    )
    messages = ""
    if notice:
        messages += f'<div class="notice" role="status" id="notice">{text(notice)}</div>'
    if problem:
        messages += f'<div class="problem" role="alert" id="problem">{text(problem)}</div>'
    style = f"<style>{extra_css}</style>" if extra_css else ""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="referrer" content="same-origin"><link rel="icon" href="data:,">'
        f"<title>{text(title)} – {text(hub)} – durable-azure</title>"
        f'<link rel="stylesheet" href="{attr(links.url("/static/dashboard.css"))}">{style}'
        f'<script src="{attr(links.url("/static/dashboard.js"))}" defer></script>'
        f'</head><body data-refresh="{"5" if refresh else "0"}">'
        f'<header><span class="brand">durable-azure</span><span class="hub" title="task hub">{text(hub)}</span>'
        f"<nav>{nav}</nav>{live}</header>"
        f"<main>{messages}{body}</main></body></html>\n"
    )
