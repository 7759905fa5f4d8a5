"""Measurement helpers for ``bench/storage_bench.py``: a finer request counter, receive/episode probes,
Azurite CPU, and small statistics.

Nothing here changes what the engine does. The probes wrap methods on *instances* of the worker's
objects (never the classes) and only observe arguments and results; each wrap is skipped, and its
numbers reported as ``null``, when the engine no longer has the method it expects.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import hashlib
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from durable_azure.storage.clients import RequestCounter, operation_name

# ------------------------------------------------------------------------------ trace


class Trace:
    """A timeline of labelled moments (request sends, receive returns, activity runs) while enabled."""

    def __init__(self) -> None:
        self.enabled = False
        self.events: list[tuple[float, str]] = []
        self._lock = threading.Lock()

    def add(self, label: str) -> None:
        if self.enabled:
            at = time.perf_counter()
            with self._lock:
                self.events.append((at, label))

    def render(self) -> list[str]:
        """``"+12.3 ms label"`` lines relative to the first event."""
        with self._lock:
            events = sorted(self.events)
        if not events:
            return []
        start = events[0][0]
        return [f"+{(at - start) * 1000:7.1f} ms {label}" for at, label in events]


# ------------------------------------------------------------------------------ request counter


def resource_kind(service: str, url: str) -> str:
    """Which task-hub resource a request touches: ``control``, ``workitems``, ``history``, ``leases`` …"""
    segments = [unquote(s) for s in urlsplit(url).path.split("/") if s]
    name = segments[1] if len(segments) > 1 else ""
    if service == "queue":
        for suffix in ("workitems", "poison"):
            if name.endswith("-" + suffix):
                return suffix
        return "control" if "-control-" in name else name or "service"
    if service == "table":
        table = name.split("(", 1)[0]
        if table == "$batch":
            return "batch"
        for suffix in ("History", "Instances"):
            if table.endswith(suffix):
                return suffix.lower()
        return table or "service"
    for suffix in ("leases", "largemessages", "applease"):
        if name.endswith("-" + suffix):
            return suffix
    return name or "service"


@dataclass
class DetailedCounter(RequestCounter):
    """A :class:`RequestCounter` that also counts ``operation:resource`` (e.g. ``queue.send:workitems``).

    Totals come from the base class unchanged; the detail is extra and only filled when the engine
    counts through :meth:`RequestCounter.hook` (the azure-core request hook).
    """

    detail: collections.Counter[str] = field(default_factory=collections.Counter)
    trace: Trace = field(default_factory=Trace)
    _detail_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def hook(self, service: str) -> Callable[[Any], None]:
        base = super().hook(service)

        def on_request(request: Any) -> None:
            base(request)
            http = request.http_request
            key = f"{operation_name(service, http.method, http.url, http.headers)}:{resource_kind(service, http.url)}"
            with self._detail_lock:
                self.detail[key] += 1
            self.trace.add("send " + key)

        return on_request

    def detail_snapshot(self) -> dict[str, int]:
        with self._detail_lock:
            return dict(self.detail)


def diff(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    """``after - before`` per key, zeros dropped, largest first."""
    keys = set(after) | set(before)
    delta = {k: after.get(k, 0) - before.get(k, 0) for k in keys}
    return dict(sorted(((k, v) for k, v in delta.items() if v), key=lambda kv: (-kv[1], kv[0])))


# ------------------------------------------------------------------------------ probes


@dataclass
class ProbeCounts:
    """What the probes saw; a ``None`` field means that probe could not be installed."""

    control_receives: int | None = None
    control_empty: int | None = None
    control_messages: int | None = None
    workitem_receives: int | None = None
    workitem_empty: int | None = None
    workitem_messages: int | None = None
    history_loads: int | None = None
    history_events_loaded: int | None = None
    orchestrator_batches: int | None = None
    orchestrator_batch_messages: int | None = None
    orchestrator_batch_instances: int | None = None
    # per control queue ("control-00" …): receives, and how many of them came back empty
    control_receives_by_queue: dict[str, int] = field(default_factory=dict)
    control_empty_by_queue: dict[str, int] = field(default_factory=dict)

    def copy(self) -> ProbeCounts:
        values = dict(vars(self))
        values["control_receives_by_queue"] = dict(self.control_receives_by_queue)
        values["control_empty_by_queue"] = dict(self.control_empty_by_queue)
        return ProbeCounts(**values)

    def minus(self, before: ProbeCounts) -> ProbeCounts:
        values: dict[str, Any] = {}
        for name in self.__dataclass_fields__:
            a, b = getattr(self, name), getattr(before, name)
            if isinstance(a, dict):
                values[name] = {k: v - b.get(k, 0) for k, v in sorted(a.items()) if v - b.get(k, 0)}
            else:
                values[name] = None if a is None or b is None else a - b
        return ProbeCounts(**values)

    @property
    def empty_receives(self) -> int | None:
        if self.control_empty is None or self.workitem_empty is None:
            return None
        return self.control_empty + self.workitem_empty


After = Callable[[tuple[Any, ...], Any], None]


def _wrap_async(obj: Any, name: str, on_done: Callable[[tuple[Any, ...], Any, float], None]) -> bool:
    """Replace ``obj.name`` (an async method) by a wrapper calling ``on_done(args, result, seconds)``
    after each successful call; ``False`` if ``obj`` has no such method."""
    original = getattr(obj, name, None)
    if original is None or not callable(original):
        return False

    @functools.wraps(original)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        began = time.perf_counter()
        result = await original(*args, **kwargs)
        on_done(args, result, time.perf_counter() - began)
        return result

    setattr(obj, name, wrapper)
    return True


class Probe:
    """Observes one worker: receives (empty or not) per queue kind, history loads, orchestrator batches,
    the duration of storage calls, and terminal Instances writes (to learn of completions without
    polling storage)."""

    def __init__(self, trace: Trace | None = None) -> None:
        self._lock = threading.Lock()
        self._counts = ProbeCounts()
        self._timings: list[tuple[float, str, float]] = []  # (end, label, seconds)
        self.trace = trace or Trace()
        self._on_terminal: list[Callable[[str], None]] = []

    def counts(self) -> ProbeCounts:
        with self._lock:
            return self._counts.copy()

    def on_terminal(self, callback: Callable[[str], None]) -> None:
        self._on_terminal.append(callback)

    def timings(self, start: float, end: float) -> dict[str, dict[str, Any]]:
        """Duration of each timed call that ended in ``[start, end]``: count, p50, p95, mean (ms)."""
        with self._lock:
            spans = [(label, seconds) for at, label, seconds in self._timings if start <= at <= end]
        by_label: dict[str, list[float]] = collections.defaultdict(list)
        for label, seconds in spans:
            by_label[label].append(seconds * 1000)
        return {
            label: {
                "n": len(values),
                "p50_ms": rnd(percentile(values, 50), 1),
                "p95_ms": rnd(percentile(values, 95), 1),
                "mean_ms": rnd(sum(values) / len(values), 1),
            }
            for label, values in sorted(by_label.items())
        }

    def _add(self, **increments: int) -> None:
        with self._lock:
            for name, value in increments.items():
                setattr(self._counts, name, (getattr(self._counts, name) or 0) + value)

    def _enable(self, *names: str) -> None:
        with self._lock:
            for name in names:
                setattr(self._counts, name, 0)

    def _timed(self, label: str, after: After | None = None) -> Callable[[tuple[Any, ...], Any, float], None]:
        def on_done(args: tuple[Any, ...], result: Any, seconds: float) -> None:
            with self._lock:
                self._timings.append((time.perf_counter(), label, seconds))
            if after is not None:
                after(args, result)
            else:
                self.trace.add(f"done {label} ({seconds * 1000:.1f} ms)")

        return on_done

    def install(self, worker: Any) -> list[str]:
        """Install every probe that fits ``worker``; returns the names of those that did not."""
        missing: list[str] = []
        storage = worker.storage

        def receive_probe(prefix: str, queue_label: str | None = None) -> After:
            def after(_args: tuple[Any, ...], result: Any) -> None:
                n = len(result or ())
                self.trace.add(f"done {queue_label or prefix} receive: {n} message(s)")
                self._add(
                    **{f"{prefix}_receives": 1, f"{prefix}_empty": int(n == 0), f"{prefix}_messages": n}
                )
                if queue_label is not None:
                    with self._lock:
                        by_queue = self._counts.control_receives_by_queue
                        by_queue[queue_label] = by_queue.get(queue_label, 0) + 1
                        if n == 0:
                            empty = self._counts.control_empty_by_queue
                            empty[queue_label] = empty.get(queue_label, 0) + 1

            return after

        queues = list(getattr(storage, "control_queues", []))
        if queues and all(
            _wrap_async(
                q,
                "receive",
                self._timed("queue.receive:control", receive_probe("control", f"control-{i:02d}")),
            )
            for i, q in enumerate(queues)
        ):
            self._enable("control_receives", "control_empty", "control_messages")
        else:
            missing.append("control receives")
        workitems = getattr(storage, "workitems", None)
        if workitems is not None and _wrap_async(
            workitems, "receive", self._timed("queue.receive:workitems", receive_probe("workitem"))
        ):
            self._enable("workitem_receives", "workitem_empty", "workitem_messages")
        else:
            missing.append("work-item receives")
        for kind, objects in (("control", queues), ("workitems", [workitems] if workitems else [])):
            for queue in objects:
                for method in ("send", "delete"):
                    _wrap_async(queue, method, self._timed(f"queue.{method}:{kind}"))

        def after_load(_args: tuple[Any, ...], loaded: Any) -> None:
            events = len(getattr(loaded, "events", ()) or ())
            self.trace.add(f"done history load: {events} event(s)")
            self._add(history_loads=1, history_events_loaded=events)

        if _wrap_async(storage.history, "load", self._timed("history.load", after_load)):
            self._enable("history_loads", "history_events_loaded")
        else:
            missing.append("history loads")
        _wrap_async(storage.history, "append", self._timed("history.append"))

        def after_batch(args: tuple[Any, ...], _result: Any) -> None:
            batch = args[1] if len(args) > 1 else []
            self.trace.add(f"done orchestrator batch of {len(batch)}")
            instances = {getattr(getattr(m, "message", None), "instance_id", None) for m in batch}
            self._add(
                orchestrator_batches=1,
                orchestrator_batch_messages=len(batch),
                orchestrator_batch_instances=len(instances),
            )

        if _wrap_async(
            worker.orchestrations, "process_batch", self._timed("orchestrator.batch", after_batch)
        ):
            self._enable(
                "orchestrator_batches", "orchestrator_batch_messages", "orchestrator_batch_instances"
            )
        else:
            missing.append("orchestrator batches")

        def after_merge(args: tuple[Any, ...], _result: Any) -> None:
            self.trace.add("done instances.merge")
            if len(args) < 2:
                return
            status = getattr(args[1], "status", None)
            if status is not None and getattr(status, "is_terminal", False):
                for callback in self._on_terminal:
                    callback(str(args[0]))

        # The worker's status rows go through merge_guarded (storage/status_rows.py); merge is the
        # unguarded write (kept for older engines and other callers).
        hooked = [
            _wrap_async(storage.instances, name, self._timed("instances.merge", after_merge))
            for name in ("merge", "merge_guarded")
        ]
        if not any(hooked):
            missing.append("completion hook (falls back to status polling)")
        return missing


# ------------------------------------------------------------------------------ Azurite CPU


def find_azurite_pid(queue_port: int = 10001) -> int | None:
    """The pid of the Azurite serving queues on ``queue_port`` (found in /proc by its command line)."""
    proc = Path("/proc")
    if not proc.is_dir():
        return None
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            args = [a.decode(errors="replace") for a in (entry / "cmdline").read_bytes().split(b"\0") if a]
        except OSError:
            continue
        if not any(a.endswith("/azurite") or a == "azurite" for a in args[:3]):
            continue
        port = args[args.index("--queuePort") + 1] if "--queuePort" in args[:-1] else "10001"
        if port == str(queue_port):
            return int(entry.name)
    return None


def process_cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU seconds of ``pid`` from /proc, or ``None`` if unreadable."""
    if pid is None:
        return None
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def system_busy_seconds() -> float | None:
    """CPU seconds all cores spent busy since boot (``/proc/stat``: everything but idle and iowait)."""
    try:
        line = Path("/proc/stat").read_text().splitlines()[0]
    except (OSError, IndexError):
        return None
    values = [int(v) for v in line.split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    busy = sum(values[:8]) - idle  # user nice system idle iowait irq softirq steal
    return busy / os.sysconf("SC_CLK_TCK")


class LoopLag:
    """Samples how late the event loop wakes up from a short sleep (a busy loop delays every request)."""

    def __init__(self, interval: float = 0.02) -> None:
        self.interval = interval
        self._samples: list[tuple[float, float]] = []  # (at, lag seconds)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="bench-loop-lag")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    async def _run(self) -> None:
        while True:
            began = time.perf_counter()
            await asyncio.sleep(self.interval)
            now = time.perf_counter()
            self._samples.append((now, max(0.0, now - began - self.interval)))

    def summary(self, start: float, end: float) -> dict[str, float | None]:
        lags = [lag * 1000 for at, lag in self._samples if start <= at <= end]
        return {
            "p50_ms": rnd(percentile(lags, 50), 1),
            "p95_ms": rnd(percentile(lags, 95), 1),
            "max_ms": rnd(max(lags) if lags else None, 1),
        }


def source_digest(package_dir: Path) -> str:
    """A short SHA-1 over every ``*.py`` file of a package (which engine code a run used)."""
    digest = hashlib.sha1()
    for path in sorted(package_dir.rglob("*.py")):
        digest.update(str(path.relative_to(package_dir)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


# ------------------------------------------------------------------------------ statistics


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (``q`` in 0..100) of ``values``; ``None`` when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def rnd(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def ratio(numerator: float | None, denominator: float | None, digits: int = 3) -> float | None:
    if numerator is None or not denominator:
        return None
    return round(numerator / denominator, digits)
