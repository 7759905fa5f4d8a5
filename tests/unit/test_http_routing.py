"""Route templates (Functions host rules) and timer schedules (NCRONTAB / TimeSpan)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from durable_azure.functions.ncrontab import CronSchedule, IntervalSchedule, parse_schedule
from durable_azure.functions.routing import Router, compile_route

T = datetime(2024, 5, 1, 10, 0, 7, tzinfo=timezone.utc)  # a Wednesday


@pytest.mark.parametrize(
    ("template", "path", "expected"),
    [
        ("orchestrators/{functionName}", "orchestrators/Hello", {"functionName": "Hello"}),
        ("orchestrators/{functionName}", "ORCHESTRATORS/Hello", {"functionName": "Hello"}),
        ("orchestrators/{functionName}", "orchestrators/Hello/x", None),
        ("orchestrators/{functionName}", "orchestrators", None),
        ("a/{id?}", "a", {}),
        ("a/{id?}", "a/5", {"id": "5"}),
        ("a/{id=7}", "a", {"id": "7"}),
        ("items/{id:int}", "items/42", {"id": "42"}),
        ("items/{id:int}", "items/abc", None),
        ("items/{name:alpha}", "items/abc", {"name": "abc"}),
        ("files/{*rest}", "files/a/b/c.txt", {"rest": "a/b/c.txt"}),
        ("files/{*rest}", "files", {}),
        ("files/{name}.{ext}", "files/a.b.txt", {"name": "a.b", "ext": "txt"}),
        ("", "", {}),
        ("/ping/", "ping", {}),
    ],
)
def test_route_matching(template: str, path: str, expected: dict[str, str] | None) -> None:
    assert compile_route(template).match(path) == expected


@pytest.mark.parametrize("template", ["a/{*rest}/b", "a/{b", "a/{}"])
def test_malformed_templates(template: str) -> None:
    with pytest.raises(ValueError):
        compile_route(template)


def test_router_prefers_literals_then_parameters_then_catch_all() -> None:
    router = Router([("a/{*rest}", "catch-all"), ("a/{x}", "param"), ("a/b", "literal")])
    assert [target for target, _ in router.match("a/b")] == ["literal", "param", "catch-all"]
    assert [target for target, _ in router.match("a/c")] == ["param", "catch-all"]
    assert [target for target, _ in router.match("a/c/d")] == ["catch-all"]


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("*/30 * * * * *", datetime(2024, 5, 1, 10, 0, 30, tzinfo=timezone.utc)),
        ("0 */5 * * * *", datetime(2024, 5, 1, 10, 5, 0, tzinfo=timezone.utc)),
        ("5 * * * * *", datetime(2024, 5, 1, 10, 1, 5, tzinfo=timezone.utc)),
        ("0 30 9 * * MON-FRI", datetime(2024, 5, 2, 9, 30, tzinfo=timezone.utc)),
        ("0 0 0 * * SUN", datetime(2024, 5, 5, tzinfo=timezone.utc)),
        ("0 0 0 * * 7", datetime(2024, 5, 5, tzinfo=timezone.utc)),
        ("0 0 12 1 JAN,jul *", datetime(2024, 7, 1, 12, tzinfo=timezone.utc)),
        ("0 0 0 29 2 *", datetime(2028, 2, 29, tzinfo=timezone.utc)),
        ("10-20/5 * * * * *", datetime(2024, 5, 1, 10, 0, 10, tzinfo=timezone.utc)),
        ("1,8,40 * * * * *", datetime(2024, 5, 1, 10, 0, 8, tzinfo=timezone.utc)),
    ],
)
def test_ncrontab_next_occurrence(expression: str, expected: datetime) -> None:
    schedule = parse_schedule(expression)
    assert isinstance(schedule, CronSchedule)
    assert schedule.next_after(T) == expected


def test_next_is_strictly_after() -> None:
    schedule = parse_schedule("*/30 * * * * *")
    at = datetime(2024, 5, 1, 10, 0, 30, tzinfo=timezone.utc)
    assert schedule.next_after(at) == datetime(2024, 5, 1, 10, 1, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    "expression",
    ["* * * * *", "61 * * * * *", "*/0 * * * * *", "0 0 0 30 FEB *", "a * * * * *", "5-1 * * * * *"],
)
def test_invalid_schedules(expression: str) -> None:
    with pytest.raises(ValueError):
        parse_schedule(expression).next_after(T)


def test_timespan_schedule() -> None:
    schedule = parse_schedule("00:05:00")
    assert isinstance(schedule, IntervalSchedule) and schedule.interval == 300
    assert schedule.next_after(T) == datetime(2024, 5, 1, 10, 5, 7, tzinfo=timezone.utc)
    with pytest.raises(ValueError):
        parse_schedule("00:00:00")
