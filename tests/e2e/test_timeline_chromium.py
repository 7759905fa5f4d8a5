"""The timeline of a real instance, drawn by a real headless Chromium (Debian's ``chromium``).

A fan-out of three activities, a 1 s timer and a failing activity run through TaskHubWorker on
Azurite. The page from ``render_timeline_html`` is written to a file with a small script appended
that measures every bar (``getBoundingClientRect`` and the computed colour) into a ``<pre>``;
``chromium --headless --dump-dom`` prints the DOM after load, and the test checks that each bar
sits where its events say: x from the start time, width from the duration, failed bars in the
failure colour, concurrent bars on separate lanes. ``make test`` installs chromium (``make chromium``).
"""

from __future__ import annotations

import asyncio
import html as html_lib
import itertools
import json
import re
import subprocess
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import durable_azure as df
from durable_azure.views.timeline import COLORS, render_timeline_html

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="/usr/bin/chromium is not installed (run `make chromium`)"
)

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--window-size=1400,1000",
]

app = df.DFApp()


@app.activity_trigger(input_name="seconds")
def Work(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


@app.activity_trigger(input_name="value")
def Boom(value: Any) -> None:
    time.sleep(0.2)
    raise ValueError("kaboom")


@app.orchestration_trigger(context_name="context")
def FanOutTimerFailure(context: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
    results = yield context.task_all([context.call_activity("Work", s) for s in (0.1, 0.4, 0.8)])
    yield context.create_timer(context.current_utc_datetime + timedelta(seconds=1))
    try:
        yield context.call_activity("Boom", None)
    except df.ActivityFailedError:
        results.append("boom failed")
    return results


def rgb(hex_color: str) -> str:
    value = hex_color.lstrip("#")
    r, g, b = (int(value[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgb({r}, {g}, {b})"


MEASURE = """
<pre id="geometry"></pre>
<script>
(function () {
  var bars = [];
  document.querySelectorAll('[data-kind]').forEach(function (bar) {
    var r = bar.getBoundingClientRect();
    var track = bar.parentElement.getBoundingClientRect();
    bars.push({
      kind: bar.dataset.kind, name: bar.dataset.name, outcome: bar.dataset.outcome,
      start: parseFloat(bar.dataset.startMs), end: parseFloat(bar.dataset.endMs),
      x: r.left, y: r.top, w: r.width, h: r.height, trackX: track.left, trackW: track.width,
      color: getComputedStyle(bar).backgroundColor
    });
  });
  var timeline = document.getElementById('timeline');
  document.getElementById('geometry').textContent = JSON.stringify({
    spanMs: parseFloat(timeline.dataset.spanMs), viewport: window.innerWidth, bars: bars
  });
})();
</script>
"""


def run_instance(connection: str, hub: str) -> tuple[dict[str, Any], list[Any]]:
    async def main() -> tuple[dict[str, Any], list[Any]]:
        client = df.DurableOrchestrationClient.from_connection_string(connection, hub_name=hub)
        try:
            async with df.TaskHubWorker(
                app, connection, hub_name=hub, max_queue_polling_interval=0.25
            ) as worker:
                client = df.DurableOrchestrationClient(client.storage, notify=worker.notify)
                instance = await client.start_new("FanOutTimerFailure")
                status = await client.wait_for_completion(instance, timeout=90)
                assert status.runtime_status is df.OrchestrationRuntimeStatus.Completed, status.output
                assert status.output == [0.1, 0.4, 0.8, "boom failed"]
                events = await client.get_history(instance)
                full = await client.get_status(instance, show_input=True)
                return full.to_json(), events
        finally:
            await client.storage.delete()
            await client.close()

    return asyncio.run(main())


def chromium(*args: str, user_data: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CHROMIUM), *CHROMIUM_FLAGS, f"--user-data-dir={user_data}", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def rendered(azurite: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    import uuid

    hub = "tl" + uuid.uuid4().hex[:16]
    status_json, events = run_instance(azurite, hub)
    folder = tmp_path_factory.mktemp("timeline")
    page = render_timeline_html(status_json, events)
    (folder / "timeline.html").write_text(page, encoding="utf-8")
    measured = folder / "measured.html"
    measured.write_text(page.replace("</body>", MEASURE + "</body>"), encoding="utf-8")
    result = chromium("--dump-dom", measured.as_uri(), user_data=folder / "profile-dom")
    match = re.search(r'<pre id="geometry">(.*?)</pre>', result.stdout, re.DOTALL)
    assert match and match.group(1), (
        f"no geometry in the dumped DOM (exit {result.returncode}):\n{result.stderr[-3000:]}"
    )
    geometry = json.loads(html_lib.unescape(match.group(1)))
    return {"folder": folder, "geometry": geometry, "events": events, "status": status_json}


def bars_of(geometry: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [b for b in geometry["bars"] if b["kind"] == kind]


def test_one_bar_per_activity_timer_and_episode(rendered: dict[str, Any]) -> None:
    geometry = rendered["geometry"]
    activities = bars_of(geometry, "activity")
    assert sorted(b["name"] for b in activities) == ["Boom", "Work", "Work", "Work"]
    assert len(bars_of(geometry, "timer")) == 1
    assert len(bars_of(geometry, "orchestration")) == 1
    episodes = sum(1 for e in rendered["events"] if type(e).__name__ == "OrchestratorStarted")
    assert len(bars_of(geometry, "episode")) == episodes >= 5
    assert all(b["h"] > 0 and b["w"] >= 2 for b in geometry["bars"])


def test_bars_are_drawn_where_the_events_say(rendered: dict[str, Any]) -> None:
    geometry = rendered["geometry"]
    span = geometry["spanMs"]
    assert span > 1000  # the 1 s timer alone
    for bar in geometry["bars"]:
        assert bar["trackW"] > 600, bar
        expected_x = bar["trackX"] + bar["start"] / span * bar["trackW"]
        expected_w = max((bar["end"] - bar["start"]) / span * bar["trackW"], 2.0)  # CSS min-width: 2px
        assert abs(bar["x"] - expected_x) <= 1.5, (bar, expected_x)
        assert abs(bar["w"] - expected_w) <= 1.5, (bar, expected_w)
        assert bar["x"] >= bar["trackX"] - 0.5 and bar["x"] + bar["w"] <= bar["trackX"] + bar["trackW"] + 2.5


def test_x_positions_are_monotone_in_start_time_and_widths_proportional(rendered: dict[str, Any]) -> None:
    geometry = rendered["geometry"]
    work = [b for b in geometry["bars"] if b["kind"] in ("activity", "timer", "episode")]
    work.sort(key=lambda b: (b["start"], b["x"]))
    xs = [b["x"] for b in work]
    assert xs == sorted(xs)
    (timer,) = bars_of(geometry, "timer")
    (whole,) = bars_of(geometry, "orchestration")
    # pixels per millisecond agree between the timer (1 s) and the whole orchestration
    timer_ms = timer["end"] - timer["start"]
    assert timer_ms == pytest.approx(1000, abs=5)
    assert timer["w"] / timer_ms == pytest.approx(whole["w"] / (whole["end"] - whole["start"]), rel=0.02)
    # the timer follows the fan-out, the failing activity follows the timer
    fan_out_end = max(b["end"] for b in bars_of(geometry, "activity") if b["name"] == "Work")
    (boom,) = [b for b in bars_of(geometry, "activity") if b["name"] == "Boom"]
    assert timer["start"] >= fan_out_end - 1 and timer["x"] >= max(
        b["x"] for b in bars_of(geometry, "activity") if b["name"] == "Work"
    )
    assert boom["start"] >= timer["end"] - 1 and boom["x"] >= timer["x"] + timer["w"] - 1.5


def test_outcome_colours(rendered: dict[str, Any]) -> None:
    geometry = rendered["geometry"]
    (boom,) = [b for b in bars_of(geometry, "activity") if b["name"] == "Boom"]
    assert boom["outcome"] == "failed" and boom["color"] == rgb(COLORS["failed"])
    for bar in bars_of(geometry, "activity") + bars_of(geometry, "timer"):
        if bar["name"] != "Boom":
            assert bar["outcome"] == "completed" and bar["color"] == rgb(COLORS["completed"]), bar
    (whole,) = bars_of(geometry, "orchestration")
    assert whole["outcome"] == "completed" and whole["color"] == rgb(COLORS["completed"])


def test_concurrent_activities_get_separate_lanes(rendered: dict[str, Any]) -> None:
    geometry = rendered["geometry"]
    work = [b for b in bars_of(geometry, "activity") if b["name"] == "Work"]
    # the three were scheduled in one episode: they overlap in time, so no two share a row
    assert len({round(b["y"]) for b in work}) == 3
    rows: dict[int, list[dict[str, Any]]] = {}
    for bar in geometry["bars"]:
        if bar["kind"] != "episode":
            rows.setdefault(round(bar["y"]), []).append(bar)
    for same_row in rows.values():
        same_row.sort(key=lambda b: b["x"])
        for left, right in itertools.pairwise(same_row):
            assert left["end"] <= right["start"], (left, right)


def test_screenshot_renders(rendered: dict[str, Any]) -> None:
    folder: Path = rendered["folder"]
    shot = folder / "timeline.png"
    result = chromium(
        f"--screenshot={shot}", (folder / "timeline.html").as_uri(), user_data=folder / "profile-shot"
    )
    assert shot.exists(), result.stderr[-3000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
