"""The HTML timeline (durable_azure.views.timeline): structure, geometry attributes, colours, escaping.

Pure: the page is parsed with the standard library's HTMLParser. The real-browser check of the
drawn geometry is tests/e2e/test_timeline_chromium.py.
"""

from __future__ import annotations

import re
import sys
from datetime import datetime, timedelta, timezone
from html.parser import HTMLParser
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from test_history_view import T0, at, episode, full_history, started

from durable_azure.orchestration.history import (
    ExecutionCompleted,
    OrchestrationStatus,
    TaskCompleted,
    TaskScheduled,
)
from durable_azure.views.timeline import COLORS, render_timeline_html


class Page(HTMLParser):
    """Collects bars (elements with data-kind), the #timeline element, and every tag name."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.bars: list[dict[str, str]] = []
        self.timeline: dict[str, str] = {}
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        self.tags.append((tag, values))
        if "data-kind" in values:
            self.bars.append(values)
        if values.get("id") == "timeline":
            self.timeline = values

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def of_kind(self, kind: str) -> list[dict[str, str]]:
        return [b for b in self.bars if b["data-kind"] == kind]


def status_json(runtime: str = "Completed", **extra: object) -> dict[str, object]:
    return {
        "name": "Orch",
        "instanceId": "inst-1",
        "runtimeStatus": runtime,
        "input": {"n": 2},
        "customStatus": None,
        "output": "done",
        "createdTime": "2026-03-01T12:00:00Z",
        "lastUpdatedTime": "2026-03-01T12:00:08Z",
        **extra,
    }


def style_percent(bar: dict[str, str], prop: str) -> float:
    match = re.search(rf"(?:^|;){prop}:([0-9.]+)%", bar["style"])
    assert match, bar["style"]
    return float(match.group(1))


def test_one_bar_per_activity_timer_suborchestration_and_wait() -> None:
    page = Page(render_timeline_html(status_json(), full_history()))
    assert [(b["data-name"], b["data-outcome"]) for b in page.of_kind("activity")] == [
        ("A", "completed"),
        ("B", "failed"),
    ]
    assert len(page.of_kind("timer")) == 1
    assert [b["data-name"] for b in page.of_kind("suborchestration")] == ["Child"]
    assert [b["data-name"] for b in page.of_kind("wait")] == ["Approval"]
    assert len(page.of_kind("episode")) == 5
    (whole,) = page.of_kind("orchestration")
    assert whole["data-outcome"] == "completed" and whole["data-name"] == "Orch"


def test_bar_times_and_geometry_follow_the_events() -> None:
    page = Page(render_timeline_html(status_json(), full_history()))
    span_ms = float(page.timeline["data-span-ms"])
    assert span_ms == pytest.approx(8000)
    assert page.timeline["data-origin"] == T0.isoformat()
    expected = {
        ("activity", "A"): (100, 1000),
        ("activity", "B"): (100, 1200),
        ("timer", "timer"): (1500, 3500),
        ("suborchestration", "Child"): (3600, 4900),
        ("wait", "Approval"): (5000, 7500),
        ("orchestration", "Orch"): (0, 8000),
    }
    for bar in page.bars:
        key = (bar["data-kind"], bar["data-name"])
        if key not in expected:
            continue
        start, end = expected[key]
        assert float(bar["data-start-ms"]) == pytest.approx(start), key
        assert float(bar["data-end-ms"]) == pytest.approx(end), key
        assert style_percent(bar, "left") == pytest.approx(start / span_ms * 100, abs=1e-3), key
        assert style_percent(bar, "width") == pytest.approx((end - start) / span_ms * 100, abs=1e-3), key


def test_failed_bar_is_coloured_as_failure_and_says_why() -> None:
    html = render_timeline_html(status_json(), full_history())
    page = Page(html)
    (failed,) = [b for b in page.bars if b["data-outcome"] == "failed"]
    assert "failed" in failed["class"].split()
    assert "ValueError: boom" in failed["title"]
    assert f".bar.failed {{ background-color: {COLORS['failed']}; }}" in html
    assert f".bar.completed {{ background-color: {COLORS['completed']}; }}" in html


def test_page_is_self_contained() -> None:
    html = render_timeline_html(status_json(), full_history())
    page = Page(html)
    tags = {tag for tag, _ in page.tags}
    assert "script" not in tags and "link" not in tags and "img" not in tags and "iframe" not in tags
    for _, attrs in page.tags:
        for name in ("src", "href"):
            assert name not in attrs, attrs
    assert "url(" not in html  # no external fonts or images in the CSS
    assert html.startswith("<!DOCTYPE html>")


def test_history_table_below_the_timeline() -> None:
    page = Page(render_timeline_html(status_json(), full_history()))
    text = " ".join(page.text)
    assert "TaskFailed" in text and "ValueError: boom" in text and "900 ms" in text
    rows = [attrs for tag, attrs in page.tags if tag == "tr"]
    assert len(rows) == len(full_history()) + 1  # header


def test_user_values_are_escaped() -> None:
    evil = '<script>alert("x")</script>'
    events = [
        *episode(0.0, started(), TaskScheduled(event_id=0, name=evil, input='"<b>"', timestamp=at(0))),
        *episode(1.0, TaskCompleted(task_scheduled_id=0, result='"</div>"', timestamp=at(1))),
    ]
    html = render_timeline_html(status_json(runtime="Running", name=evil, output=evil), events, now=at(2))
    assert "<script>" not in html and '</div>"' not in html
    page = Page(html)
    assert page.of_kind("activity")[0]["data-name"] == evil  # round-trips through attribute escaping


def test_pending_work_runs_to_now() -> None:
    events = [
        *episode(
            0.0,
            started(),
            TaskScheduled(event_id=0, name="Slow", timestamp=at(0.5)),
        )
    ]
    page = Page(render_timeline_html(status_json("Running", output=None), events, now=at(10)))
    (slow,) = page.of_kind("activity")
    assert slow["data-outcome"] == "pending"
    assert float(slow["data-start-ms"]) == pytest.approx(500)
    assert float(slow["data-end-ms"]) == pytest.approx(10_000)
    assert "so far" in slow["title"]
    assert float(page.timeline["data-span-ms"]) == pytest.approx(10_000)
    (whole,) = page.of_kind("orchestration")
    assert whole["data-outcome"] == "pending"


def test_running_instance_defaults_now_to_the_clock() -> None:
    recent = datetime.now(timezone.utc) - timedelta(seconds=5)
    events = [
        *episode(0.0, started(), TaskScheduled(event_id=0, name="Slow", timestamp=recent)),
    ]
    # the ExecutionStarted of this history is at T0, long ago; the open bar must reach the present
    page = Page(render_timeline_html(status_json("Running", output=None), events))
    (slow,) = page.of_kind("activity")
    end = T0 + timedelta(milliseconds=float(slow["data-end-ms"]))
    assert abs((end - datetime.now(timezone.utc)).total_seconds()) < 60


def test_terminated_instance_marks_open_work_cancelled() -> None:
    events = [
        *episode(0.0, started(), TaskScheduled(event_id=0, name="Slow", timestamp=at(0))),
        *episode(
            3.0,
            ExecutionCompleted(
                orchestration_status=OrchestrationStatus.Terminated, result='"stop"', timestamp=at(3)
            ),
        ),
    ]
    page = Page(render_timeline_html(status_json("Terminated"), events))
    (slow,) = page.of_kind("activity")
    assert slow["data-outcome"] == "cancelled" and float(slow["data-end-ms"]) == pytest.approx(3000)
    assert page.of_kind("orchestration")[0]["data-outcome"] == "cancelled"


def test_concurrent_bars_of_one_name_get_their_own_lanes_and_sequential_ones_share() -> None:
    events = [
        *episode(
            0.0,
            started(),
            *(TaskScheduled(event_id=i, name="Work", timestamp=at(0)) for i in range(3)),
        ),
        *episode(
            2.0,
            *(TaskCompleted(task_scheduled_id=i, result="1", timestamp=at(1 + i * 0.1)) for i in range(3)),
            TaskScheduled(event_id=3, name="Work", timestamp=at(2)),
        ),
        *episode(3.0, TaskCompleted(task_scheduled_id=3, result="1", timestamp=at(2.5))),
    ]
    html = render_timeline_html(status_json("Running"), events, now=at(3))
    lanes = re.findall(r'data-lane="activity:Work:(\d+)"', html)
    assert lanes == ["0", "1", "2"]  # three overlapping bars, the fourth reuses lane 0
    lane0 = html.split('data-lane="activity:Work:0"')[1].split('data-lane="activity:Work:1"')[0]
    assert lane0.count('data-kind="activity"') == 2


def test_no_history_yet() -> None:
    html = render_timeline_html(status_json("Pending", output=None), [])
    assert "No history yet" in html
    assert Page(html).bars == []
