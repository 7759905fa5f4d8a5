"""Timer trigger schedules: 6-field NCRONTAB (``{second} {minute} {hour} {day} {month} {day-of-week}``)
or a TimeSpan interval (``"00:05:00"``), as the Functions host accepts them. Times are UTC."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from ..config import parse_timespan

_MONTH_NAMES = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_MONTHS = {m: i for i, m in enumerate(_MONTH_NAMES, start=1)}
_DAYS = {d: i for i, d in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"))}
# (low, high, names) per field
_FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("second", 0, 59, {}),
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day", 1, 31, {}),
    ("month", 1, 12, _MONTHS),
    ("day-of-week", 0, 7, _DAYS),
)
_MAX_SEARCH_DAYS = 366 * 5


def _value(text: str, low: int, high: int, names: dict[str, int], field: str) -> int:
    text = text.strip().upper()
    number = names.get(text[:3]) if text[:3] in names and not text.isdigit() else None
    if number is None:
        if not text.isdigit():
            raise ValueError(f"Invalid {field} value {text!r}.")
        number = int(text)
    if not low <= number <= high:
        raise ValueError(f"{field} value {number} is outside {low}-{high}.")
    return number


def _field(text: str, low: int, high: int, names: dict[str, int], field: str) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        if not part:
            raise ValueError(f"Empty item in {field} field {text!r}.")
        step = 1
        if "/" in part:
            part, step_text = part.split("/", 1)
            if not step_text.isdigit() or int(step_text) == 0:
                raise ValueError(f"Invalid step {step_text!r} in {field} field.")
            step = int(step_text)
        if part == "*":
            start, end = low, high
        elif "-" in part:
            a, b = part.split("-", 1)
            start, end = _value(a, low, high, names, field), _value(b, low, high, names, field)
            if start > end:
                raise ValueError(f"Range {part!r} in {field} field runs backwards.")
        else:
            start = _value(part, low, high, names, field)
            end = high if step > 1 else start
        values.update(range(start, end + 1, step))
    return frozenset(values)


@dataclass(frozen=True)
class CronSchedule:
    """A parsed 6-field NCRONTAB expression (day and day-of-week must both match, as in NCrontab)."""

    expression: str
    seconds: frozenset[int]
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday

    @classmethod
    def parse(cls, expression: str) -> CronSchedule:
        fields = expression.split()
        if len(fields) != 6:
            raise ValueError(
                f"Invalid schedule {expression!r}: NCRONTAB needs 6 fields "
                "({second} {minute} {hour} {day} {month} {day-of-week}), e.g. '0 */5 * * * *'."
            )
        parsed = [
            _field(text, low, high, names, name)
            for text, (name, low, high, names) in zip(fields, _FIELDS, strict=True)
        ]
        seconds, minutes, hours, days, months, weekdays = parsed
        return cls(expression, seconds, minutes, hours, days, months, frozenset(d % 7 for d in weekdays))

    def next_after(self, moment: datetime) -> datetime:
        """The first occurrence strictly after ``moment``."""
        t = moment.replace(microsecond=0) + timedelta(seconds=1)
        limit = moment + timedelta(days=_MAX_SEARCH_DAYS)
        while t <= limit:
            if t.month not in self.months:
                t = (t.replace(day=1) + timedelta(days=32)).replace(day=1, hour=0, minute=0, second=0)
            elif t.day not in self.days or (t.isoweekday() % 7) not in self.weekdays:
                t = (t + timedelta(days=1)).replace(hour=0, minute=0, second=0)
            elif t.hour not in self.hours:
                t = (t + timedelta(hours=1)).replace(minute=0, second=0)
            elif t.minute not in self.minutes:
                t = (t + timedelta(minutes=1)).replace(second=0)
            elif t.second not in self.seconds:
                t += timedelta(seconds=1)
            else:
                return t
        raise ValueError(f"Schedule {self.expression!r} never fires.")


@dataclass(frozen=True)
class IntervalSchedule:
    """A TimeSpan schedule: every ``interval`` seconds."""

    expression: str
    interval: float

    def next_after(self, moment: datetime) -> datetime:
        return moment + timedelta(seconds=self.interval)


def parse_schedule(expression: str) -> CronSchedule | IntervalSchedule:
    """An NCRONTAB expression or a TimeSpan (``hh:mm:ss``)."""
    text = expression.strip()
    if ":" in text and " " not in text:
        seconds = parse_timespan(text)
        if seconds <= 0:
            raise ValueError(f"Invalid schedule {expression!r}: the interval must be positive.")
        return IntervalSchedule(text, seconds)
    return CronSchedule.parse(text)
