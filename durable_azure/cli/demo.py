"""``python -m durable_azure.cli.demo`` (``make demo``): the sample app end to end, over HTTP.

Starts Azurite if it is not running, serves ``function_app.py`` on a free port, starts
``hello_cities`` through the HTTP starter, prints the management URLs, waits for the result and
prints the output and the history as a table. Then stops what it started (an Azurite that was
already running is left alone).
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Any

from ..config import load_settings
from ..orchestration.history import (
    EVENT_CLASSES,
    EventRaised,
    EventSent,
    EventType,
    ExecutionCompleted,
    ExecutionStarted,
    HistoryEvent,
    OrchestrationStatus,
    SubOrchestrationInstanceCompleted,
    SubOrchestrationInstanceCreated,
    SubOrchestrationInstanceFailed,
    TaskCompleted,
    TaskFailed,
    TaskScheduled,
    TimerCreated,
    TimerFired,
)
from ..storage.values import EPOCH, format_iso_micros, parse_iso
from ..views.rows import HistoryRow, history_rows, preview

AZURITE_PORTS = (10000, 10001, 10002)
ORCHESTRATOR = "hello_cities"


class DemoError(Exception):
    """Something the demo needs did not work; the message says what."""


def say(text: str = "") -> None:
    print(text, flush=True)


# ---------------------------------------------------------------- plumbing
def find_app_dir() -> Path:
    """The folder with the sample ``function_app.py``: the repository root, else the current folder."""
    for candidate in (Path(__file__).resolve().parents[1], Path.cwd()):
        if (candidate / "function_app.py").is_file():
            return candidate
    raise DemoError("No function_app.py found; run the demo from the durable-azure repository.")


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http(method: str, url: str, body: Any = None, timeout: float = 30) -> tuple[int, dict[str, str], Any]:
    """One JSON request; returns status, headers and the decoded body."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, headers, raw = response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as e:
        status, headers, raw = e.code, dict(e.headers), e.read()
    text = raw.decode("utf-8", "replace")
    try:
        return status, headers, json.loads(text) if text else None
    except json.JSONDecodeError:
        return status, headers, text


def ensure_azurite(app_dir: Path) -> bool:
    """Start Azurite unless it answers already; True if this demo started it."""
    if all(port_open(p) for p in AZURITE_PORTS):
        say("  Azurite is already running on 127.0.0.1:10000-10002 (it will be left running).")
        return False
    script = app_dir / "azurite-setup" / "start"
    if not script.is_file():
        raise DemoError("Azurite is not running and azurite-setup/start is missing; start Azurite first.")
    say("  Starting Azurite (azurite-setup/start) ...")
    result = subprocess.run(
        [str(script)], cwd=app_dir, capture_output=True, text=True, timeout=600, check=False
    )
    if result.returncode != 0:
        raise DemoError(f"azurite-setup/start failed:\n{result.stdout}{result.stderr}")
    return True


def stop_azurite(app_dir: Path) -> None:
    subprocess.run(
        [str(app_dir / "azurite-setup" / "stop")], cwd=app_dir, capture_output=True, timeout=60, check=False
    )


class Server:
    """``durable-azure serve`` for the sample app, in a subprocess."""

    def __init__(self, app_dir: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = Path(tempfile.mkstemp(prefix="durable-azure-demo-", suffix=".log")[1])
        command = [
            sys.executable,
            "-m",
            "durable_azure.functions.host",
            "serve",
            "--app-dir",
            str(app_dir),
            "--port",
            str(self.port),
        ]
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(command, cwd=app_dir, stdout=out, stderr=subprocess.STDOUT)

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise DemoError(f"The server exited with code {self.process.returncode}:\n{self.log_tail()}")
            try:
                if http("GET", self.base + "/", timeout=2)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise DemoError(f"The server did not answer within {timeout:.0f} s:\n{self.log_tail()}")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        return int(self.process.returncode)


# ---------------------------------------------------------------- output
_TASK_ANSWERS = ("TaskCompleted", "TaskFailed")
_SUB_ANSWERS = ("SubOrchestrationInstanceCompleted", "SubOrchestrationInstanceFailed")


def _text(value: Any) -> str:
    """A decoded DF payload as JSON text again (``null`` for none)."""
    return json.dumps(value, ensure_ascii=False)


def _scheduling(kind: str, event_id: int, name: str, payload: str, at: datetime) -> HistoryEvent:
    """The ``TaskScheduled`` (or ``SubOrchestrationInstanceCreated``) event behind ``kind``."""
    if kind in ("TaskScheduled", *_TASK_ANSWERS):
        return TaskScheduled(event_id=event_id, name=name, input=payload, timestamp=at)
    return SubOrchestrationInstanceCreated(
        event_id=event_id, name=name, instance_id="", input=payload, timestamp=at
    )


def _answer(kind: str, task_id: int, item: dict[str, Any], at: datetime) -> HistoryEvent:
    """The completion or failure event ``item`` shows."""
    result, reason = _text(item.get("Result")), item.get("Reason")
    if kind == "TaskCompleted":
        return TaskCompleted(task_scheduled_id=task_id, result=result, timestamp=at)
    if kind == "TaskFailed":
        return TaskFailed(task_scheduled_id=task_id, reason=reason, timestamp=at)
    if kind == "SubOrchestrationInstanceCompleted":
        return SubOrchestrationInstanceCompleted(task_scheduled_id=task_id, result=result, timestamp=at)
    return SubOrchestrationInstanceFailed(task_scheduled_id=task_id, reason=reason, timestamp=at)


def _plain_event(kind: str, at: datetime) -> HistoryEvent | None:
    """An event with nothing but its type and time (``None`` for a type this version does not know)."""
    try:
        return EVENT_CLASSES[EventType[kind]](timestamp=at)
    except (KeyError, TypeError):
        return None


def df_history_events(items: list[dict[str, Any]]) -> tuple[list[HistoryEvent], list[int]]:
    """History events rebuilt from DF ``historyEvents`` JSON, and the positions of the items among them.

    DF folds a task's scheduling event into its completion (``FunctionName``, ``ScheduledTime``,
    ``Input``); it is unfolded again so that :func:`~durable_azure.views.rows.history_rows` pairs them.
    """
    events: list[HistoryEvent] = []
    positions: list[int] = []
    ids = itertools.count()
    at = EPOCH
    for item in items:
        kind = str(item.get("EventType", ""))
        at = parse_iso(item.get("Timestamp")) or at
        name = str(item.get("FunctionName") or item.get("Name") or "")
        payload = _text(item.get("Input"))
        event: HistoryEvent | None
        if kind in (*_TASK_ANSWERS, *_SUB_ANSWERS):
            task_id = next(ids)
            scheduled_at = parse_iso(item.get("ScheduledTime"))
            if scheduled_at is not None:
                events.append(_scheduling(kind, task_id, name, payload, scheduled_at))
            event = _answer(kind, task_id, item, at)
        elif kind in ("TaskScheduled", "SubOrchestrationInstanceCreated"):
            event = _scheduling(kind, next(ids), name, payload, at)
        elif kind == "ExecutionStarted":
            event = ExecutionStarted(name=name, instance_id="", execution_id="", input=payload, timestamp=at)
        elif kind == "ExecutionCompleted":
            status = OrchestrationStatus.__members__.get(
                str(item.get("OrchestrationStatus")), OrchestrationStatus.Completed
            )
            event = ExecutionCompleted(
                orchestration_status=status, result=_text(item.get("Result")), timestamp=at
            )
        elif kind == "TimerCreated":
            event = TimerCreated(
                event_id=next(ids), fire_at=parse_iso(item.get("FireAt")) or at, timestamp=at
            )
        elif kind == "TimerFired":
            event = TimerFired(timer_id=-1, fire_at=parse_iso(item.get("FireAt")) or at, timestamp=at)
        elif kind == "EventRaised":
            event = EventRaised(name=name, input=payload, timestamp=at)
        elif kind == "EventSent":
            event = EventSent(instance_id="", name=name, input=payload, timestamp=at)
        else:
            event = _plain_event(kind, at)
        if event is not None:
            positions.append(len(events))
            events.append(event)
    return events, positions


def _detail(row: HistoryRow, inputs: dict[int, str | None]) -> str:
    kind = row.event_type
    if kind == "ExecutionStarted":
        return f"input {preview(row.input, 48)}"
    if kind in ("TaskCompleted", "SubOrchestrationInstanceCompleted"):
        took = f"  ({row.duration * 1000:,.0f} ms)" if row.duration is not None else ""
        task_input = inputs.get(row.scheduled_id) if row.scheduled_id is not None else None
        return f"{preview(task_input or 'null', 24)} → {preview(row.result, 40)}{took}"
    if kind in ("TaskFailed", "SubOrchestrationInstanceFailed"):
        return f"failed: {row.error}"
    if kind in ("TimerCreated", "TimerFired") and row.fire_at is not None:
        return f"fire at {format_iso_micros(row.fire_at)}"
    if kind == "EventRaised":
        return preview(row.input, 48)
    if kind == "ExecutionCompleted":
        return f"{row.status}: {preview(row.result, 60)}"
    return ""


def history_table(events: list[dict[str, Any]]) -> str:
    """The DF ``historyEvents`` as an aligned text table: offset, event, name, detail."""
    rebuilt, positions = df_history_events(events)
    rows = history_rows(rebuilt)
    inputs = {
        r.event_id: r.input
        for r in rows
        if r.event_type in ("TaskScheduled", "SubOrchestrationInstanceCreated")
    }
    cells = [("#", "+time", "event", "name", "detail")]
    for index, position in enumerate(positions, start=1):
        row = rows[position]
        offset = f"{row.offset * 1000:,.0f} ms"
        cells.append((str(index), offset, row.event_type, row.name, _detail(row, inputs)))
    widths = [max(len(cell[i]) for cell in cells) for i in range(4)]
    lines = []
    for cell in cells:
        aligned = [
            cell[0].rjust(widths[0]),
            cell[1].rjust(widths[1]),
            cell[2].ljust(widths[2]),
            cell[3].ljust(widths[3]),
        ]
        lines.append("  ".join([*aligned, cell[4]]).rstrip())
    lines.insert(1, "  ".join("-" * w for w in [*widths, 6]))
    return "\n".join(lines)


# ---------------------------------------------------------------- the demo
def run_hello_cities(base: str) -> str:
    url = f"{base}/api/orchestrators/{ORCHESTRATOR}"
    say(f"\n3. Start the orchestration over HTTP:  POST {url}")
    status, headers, payload = http("POST", url)
    if status != 202 or not isinstance(payload, dict):
        raise DemoError(f"Expected 202 from the starter, got {status}: {payload}")
    say(f"   202 Accepted, Location: {headers.get('Location') or headers.get('location')}")
    for key in ("id", "statusQueryGetUri", "sendEventPostUri", "terminatePostUri", "purgeHistoryDeleteUri"):
        say(f"   {key:<22} {payload[key]}")

    say("\n4. Poll statusQueryGetUri until it finishes ...")
    started = time.monotonic()
    while True:
        status, _, body = http("GET", payload["statusQueryGetUri"])
        if status == 200:
            break
        if status != 202 or time.monotonic() - started > 60:
            raise DemoError(f"Unexpected status {status} after {time.monotonic() - started:.0f} s: {body}")
        time.sleep(0.2)
    say(f"   {body['runtimeStatus']} after {time.monotonic() - started:.2f} s")
    say(f"   output: {json.dumps(body['output'], ensure_ascii=False)}")

    history_url = payload["statusQueryGetUri"] + "&showHistory=true&showHistoryOutput=true"
    _, _, detailed = http("GET", history_url)
    say(f"\n5. History of {payload['id']}  (GET statusQueryGetUri&showHistory=true&showHistoryOutput=true)\n")
    for line in history_table(detailed.get("historyEvents") or []).splitlines():
        say("   " + line)
    return str(payload["id"])


def dashboard_hint(origin: str, instance_id: str, azurite_stopped: bool) -> str:
    """The demo's last words: where the task-hub dashboard shows this run (``durable-azure serve``)."""
    start = "make azurite && " if azurite_stopped else ""
    return (
        f"\nDashboard: {origin}/durable/\n"
        f"   This run's instance: {origin}/durable/instances/{instance_id}\n"
        f"   (served while `{start}.venv/bin/durable-azure serve` runs; the history stays in the task hub)"
    )


def main() -> int:
    say("durable-azure demo: the `hello_cities` orchestration of function_app.py, end to end over HTTP\n")
    started_azurite = False
    ok = False
    server: Server | None = None
    app_dir = Path()
    instance_id = ""
    try:
        app_dir = find_app_dir()
        settings = load_settings(app_dir)
        say("1. Storage")
        if settings.connection_string.strip().lower().startswith("usedevelopmentstorage=true"):
            started_azurite = ensure_azurite(app_dir)
        else:
            say("  Using the storage account from AzureWebJobsStorage.")
        say(f"\n2. Serve {app_dir / 'function_app.py'} (durable-azure serve), task hub {settings.hub_name}")
        server = Server(app_dir)
        t0 = time.monotonic()
        server.wait_ready()
        say(f"   listening on {server.base} (ready in {time.monotonic() - t0:.1f} s)")
        instance_id = run_hello_cities(server.base)
        ok = True
        return 0
    except KeyboardInterrupt:
        say("\nInterrupted.")
        return 130
    except DemoError as e:
        say(f"\ndemo failed: {e}")
        return 1
    finally:
        say("\n6. Clean up")
        if server is not None:
            code = server.stop()
            if ok and code == 0:
                server.log.unlink(missing_ok=True)
                say("   server stopped (partition leases released).")
            else:
                say(f"   server stopped (exit code {code}); its log: {server.log}")
        if started_azurite:
            stop_azurite(app_dir)
            say("   Azurite stopped (the demo had started it).")
        elif server is not None:
            say("   Azurite left running (it was already up).")
        if ok and instance_id:
            say(dashboard_hint("http://127.0.0.1:7071", instance_id, started_azurite))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
