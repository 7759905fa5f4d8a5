"""Time and Edm value helpers, defined once for storage, the client and the views.

Two families live here:

* **times**: UTC normalisation and the text formats the layout and the APIs use (the DTFx
  message format with trimmed fractions, the DF HTTP format with six digits, lenient ISO parsing);
* **Edm values**: reading typed Table-storage columns (``DateTime``, ``Int32``/``Int64``, JSON
  strings) and writing JSON the way Newtonsoft does.

Where two callers need different behaviour, each behaviour has its own name; none is a variant
of another behind a flag.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from typing import Any

from ..errors import StorageError

__all__ = [
    "EPOCH",
    "NULL_JSON",
    "assume_utc",
    "format_clock_ms",
    "format_iso_micros",
    "format_iso_seconds",
    "format_timestamp",
    "parse_iso",
    "parse_timestamp",
    "read_datetime",
    "read_int",
    "read_json",
    "read_str",
    "to_json",
    "utc",
]

#: 1970-01-01T00:00:00Z, the stand-in for an absent time.
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
#: How DTFx writes an unset complex column or member.
NULL_JSON = "null"


# ---------------------------------------------------------------------------------- times


def utc(value: datetime) -> datetime:
    """``value`` converted to UTC (naive values are taken as UTC), so the SDK writes Edm.DateTime."""
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def assume_utc(value: datetime) -> datetime:
    """A naive ``value`` taken as UTC; an aware one is returned unchanged (its offset kept)."""
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


def format_timestamp(value: datetime) -> str:
    """Newtonsoft round-trip UTC format: ``2023-04-05T03:31:23.6268922Z`` (trailing zeros trimmed)."""
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc)
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    if len(text) < 19:  # years below 1000 are not zero-padded by strftime on every platform
        text = f"{value.year:04d}" + text[text.index("-") :]
    frac = f"{value.microsecond:06d}".rstrip("0")
    return f"{text}.{frac}Z" if frac else f"{text}Z"


def format_iso_micros(value: datetime) -> str:
    """``2024-05-01T10:00:00.250000Z``: always six fractional digits and ``Z`` (``value`` is taken as UTC)."""
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def format_iso_seconds(value: datetime) -> str:
    """``2024-05-01T10:00:00Z``: whole seconds and ``Z``, as DF's HTTP API writes times (taken as UTC)."""
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def format_clock_ms(value: datetime) -> str:
    """``10:00:00.250``: the time of day to the millisecond, for tables people read."""
    return value.strftime("%H:%M:%S.%f")[:-3]


_TS_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:?\d{2})?$", re.IGNORECASE
)


def parse_timestamp(text: str) -> datetime:
    """Parse an ISO-8601 time (any number of fractional digits) to UTC; no offset means UTC.

    Raises :class:`ValueError` for anything else.
    """
    m = _TS_RE.match(text.strip())
    if not m:
        raise ValueError(f"not an ISO-8601 timestamp: {text!r}")
    year, month, day, hour, minute, second, frac, tz = m.groups()
    micro = int((frac or "").ljust(6, "0")[:6])
    value = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), micro)
    if tz and tz.upper() != "Z":
        sign = 1 if tz[0] == "+" else -1
        digits = tz[1:].replace(":", "")
        offset = sign * (int(digits[:2]) * 60 + int(digits[2:]))
        if offset:
            aware = value.replace(tzinfo=timezone(timedelta(minutes=offset)))
            return aware.astimezone(timezone.utc)
    return value.replace(tzinfo=timezone.utc)


def parse_iso(text: Any) -> datetime | None:
    """A lenient ISO-8601 read for display: ``None`` for anything that is not a valid time string.

    A naive time is taken as UTC; an offset is kept as given.
    """
    if not text or not isinstance(text, str):
        return None
    try:
        return assume_utc(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        return None


# ---------------------------------------------------------------------------------- Edm values


def to_json(value: Any) -> str:
    """Compact JSON as Newtonsoft writes it by default (no spaces, non-ASCII kept)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def read_datetime(value: Any) -> datetime | None:
    """A plain tz-aware UTC ``datetime`` from a table value (``TablesEntityDatetime``, ISO string, or absent)."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        moment: datetime = value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)
        # ``EPOCH + timedelta`` drops the SDK's datetime subclass cheaply.
        return EPOCH + (moment - EPOCH)
    if isinstance(value, str):
        return read_datetime(datetime.fromisoformat(value.replace("Z", "+00:00")))
    raise StorageError(f"expected a DateTime table value, got {value!r}")


def read_int(value: Any, default: int) -> int:
    """An int from an Int32/Int64 column (Int64 arrives as ``EntityProperty``), or ``default``."""
    if value is None:
        return default
    return int(getattr(value, "value", value))


def read_str(value: Any) -> str | None:
    """A string column, or ``None`` when absent."""
    return None if value is None else str(value)


def read_json(value: Any) -> Any:
    """A JSON-string column: absent, ``""`` and ``"null"`` all mean ``None``."""
    if value is None or value == "" or value == NULL_JSON:
        return None
    if not isinstance(value, str):
        return value
    return json.loads(value)
