"""Click parameter types of the CLI: JSON values (or @file), times and ages, runtime statuses."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:  # click >= 8.2 types ParamType as a generic; older releases are not subscriptable
    _ParamType = click.ParamType[Any, Any]
else:
    _ParamType = click.ParamType


class JsonParam(_ParamType):
    """A JSON value, or ``@path`` to read it from a file."""

    name = "JSON"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if not isinstance(value, str):
            return value
        text = value
        if value.startswith("@"):
            try:
                text = Path(value[1:]).read_text(encoding="utf-8")
            except OSError as e:
                self.fail(f"cannot read {value[1:]!r}: {e.strerror}", param, ctx)
        try:
            return json.loads(text)
        except json.JSONDecodeError as e:
            shown = text if len(text) <= 40 else text[:39] + "…"
            self.fail(
                f"{shown!r} is not valid JSON ({e.msg} at line {e.lineno} column {e.colno}); "
                "quote strings, e.g. '\"Tokyo\"'",
                param,
                ctx,
            )


_RELATIVE = re.compile(r"^-?(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|d|w)$", re.IGNORECASE)
_UNITS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}


class TimeParam(_ParamType):
    """An ISO 8601 date/time (UTC unless it has an offset), ``now``, or an age such as ``30m``, ``2h``, ``7d``."""

    name = "TIME"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> datetime:
        if isinstance(value, datetime):
            return value
        text = str(value).strip()
        if text.lower() == "now":
            return datetime.now(timezone.utc)
        match = _RELATIVE.match(text)
        if match:
            seconds = float(match.group(1)) * _UNITS[match.group(2).lower()]
            return datetime.now(timezone.utc) - timedelta(seconds=seconds)
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            self.fail(
                f"{text!r} is not a time; use ISO 8601 (2026-11-01 or 2026-11-01T12:00:00Z), 'now', "
                "or an age such as 30m, 2h, 7d",
                param,
                ctx,
            )
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


JSON = JsonParam()
TIME = TimeParam()

RUNTIME_STATUSES = (
    "Running",
    "Pending",
    "Suspended",
    "Completed",
    "Failed",
    "Terminated",
    "Canceled",
    "ContinuedAsNew",
)


class StatusParam(_ParamType):
    """A runtime status name, any case (``failed``, ``Failed``)."""

    name = "STATUS"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        by_lower = {s.lower(): s for s in RUNTIME_STATUSES}
        found = by_lower.get(str(value).strip().lower())
        if found is None:
            self.fail(
                f"{value!r} is not a runtime status; use one of {', '.join(RUNTIME_STATUSES)}", param, ctx
            )
        return found


STATUS = StatusParam()


def canonical_statuses(values: tuple[str, ...]) -> list[str]:
    return list(values)


JSON_OPTION = click.option(
    "--json", "as_json", is_flag=True, help="Print JSON (for scripts) instead of a table."
)
ACTIVE_STATUSES = ("Running", "Pending", "Suspended")
