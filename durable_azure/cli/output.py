"""CLI output: JSON for scripts, rich tables and styled statuses for people."""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime, timezone
from typing import Any

import click

from ..orchestration.serialization import display_default


def echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False, default=display_default))


def console(stderr: bool = False) -> Any:
    """A rich console; when output is not a terminal, wide enough not to wrap ids and times."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() else int(os.environ.get("COLUMNS") or 160)
    return Console(file=stream, width=width, highlight=False, soft_wrap=False)


def fmt_time(value: datetime | None) -> str:
    if value is None:
        return ""
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc)
    return value.strftime("%Y-%m-%d %H:%M:%S") + "Z"


def json_preview(value: Any, limit: int = 80) -> str:
    if value is None:
        return ""
    from ..views.rows import preview

    return preview(json.dumps(value, ensure_ascii=False, default=display_default), limit)


STATUS_STYLE = {
    "Completed": "green",
    "Failed": "red",
    "Terminated": "yellow",
    "Canceled": "yellow",
    "Running": "cyan",
    "Pending": "blue",
    "Suspended": "magenta",
    "ContinuedAsNew": "cyan",
}


def styled_status(value: str | None) -> str:
    if not value:
        return ""
    style = STATUS_STYLE.get(value)
    return f"[{style}]{value}[/{style}]" if style else value


def status_to_json(status: Any) -> dict[str, Any]:
    """``DurableOrchestrationStatus.to_json()`` plus the execution id and completion time."""
    data: dict[str, Any] = status.to_json()
    data["executionId"] = getattr(status, "execution_id", None)
    completed = getattr(status, "completed_time", None)
    data["completedTime"] = completed.strftime("%Y-%m-%dT%H:%M:%SZ") if completed else None
    return data


def done(as_json: bool, data: dict[str, Any], text: str) -> None:
    """Report a finished operation: ``data`` as JSON, or ``text`` for people."""
    if as_json:
        echo_json(data)
    else:
        click.echo(text)
