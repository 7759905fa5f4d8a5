""".NET ``DateTime`` values as DTFx's entity messages write them (pure).

The message sorter compares and bumps times at .NET's resolution (one tick = 100 ns), finer than
Python's ``datetime``, so its times are kept as integer ticks since 0001-01-01. JSON carries them as
Newtonsoft writes a ``DateTime``: ISO 8601 with up to seven fractional digits (trailing zeros
dropped), ``Z`` for UTC, and ``DateTime.MinValue`` as ``0001-01-01T00:00:00``.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

__all__ = [
    "MIN_TEXT",
    "MIN_TICKS",
    "TICKS_PER_SECOND",
    "datetime_of",
    "format_round_trip",
    "format_ticks",
    "parse_ticks",
    "ticks_of",
]

TICKS_PER_SECOND = 10_000_000
MIN_TICKS = 0
MIN_TEXT = "0001-01-01T00:00:00"
_EPOCH = datetime(1, 1, 1, tzinfo=timezone.utc)
_ISO = re.compile(r"^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,7})\d*)?(Z|[+-]\d\d:?\d\d)?$")


def ticks_of(moment: datetime) -> int:
    """Ticks of an aware (or UTC-naive) datetime."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * TICKS_PER_SECOND + delta.microseconds * 10


def datetime_of(ticks: int) -> datetime:
    """The UTC datetime of ``ticks`` (sub-microsecond ticks are dropped)."""
    return _EPOCH + timedelta(microseconds=ticks // 10)


def parse_ticks(text: object) -> int:
    """Ticks of a .NET-written time; ``MIN_TICKS`` for ``None``, ``""`` or anything unreadable."""
    if not isinstance(text, str) or not text or text == MIN_TEXT:  # unstamped: the common case
        return MIN_TICKS
    match = _ISO.match(text.strip())
    if match is None:
        return MIN_TICKS
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    try:
        whole = datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second), tzinfo=timezone.utc
        )
    except ValueError:
        return MIN_TICKS
    ticks = ticks_of(whole) + int((fraction or "0").ljust(7, "0"))
    if zone and zone != "Z":
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        offset = (int(digits[:2]) * 3600 + int(digits[2:]) * 60) * TICKS_PER_SECOND
        ticks -= sign * offset
    return max(ticks, MIN_TICKS)


def format_ticks(ticks: int) -> str:
    """``ticks`` as Newtonsoft writes a UTC ``DateTime`` (``DateTime.MinValue`` without ``Z``)."""
    if ticks <= MIN_TICKS:
        return MIN_TEXT
    seconds, fraction = divmod(ticks, TICKS_PER_SECOND)
    whole = _EPOCH + timedelta(seconds=seconds)
    text = whole.strftime("%Y-%m-%dT%H:%M:%S")
    if year_pad := 4 - len(text.split("-", 1)[0]):
        text = "0" * year_pad + text
    digits = f"{fraction:07d}".rstrip("0")
    return f"{text}.{digits}Z" if digits else f"{text}Z"


def format_round_trip(ticks: int) -> str:
    """``ticks`` in .NET's round-trip format ``o`` (always seven digits), as in ``op@<time>``."""
    seconds, fraction = divmod(max(ticks, MIN_TICKS), TICKS_PER_SECOND)
    whole = _EPOCH + timedelta(seconds=seconds)
    return f"{whole.year:04d}-{whole:%m-%dT%H:%M:%S}.{fraction:07d}Z"
