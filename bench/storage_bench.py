"""Storage benchmarks against Azurite: requests per step, throughput and CPU of the durable-azure worker.

Workloads (each on a fresh, uniquely named task hub that is deleted afterwards; one TaskHubWorker and
one DurableOrchestrationClient in this process, sharing one request counter; echo activities):

* ``chain --steps N``: one orchestration calling ``Echo`` N times in sequence. Reports steps/s and
  requests per step over the whole run, and a steady state over steps K..N-1 (K = ``--warmup-steps``,
  default 10) measured between two counter snapshots taken inside the activity of step K and of the
  last step, so start-up and the final episode are excluded and the window holds N-1-K whole steps.
* ``fanout --activities N``: one orchestration fanning out N ``Echo`` calls and joining them with
  ``task_all``. Reports activities/s, requests per activity (amortized, start to finish), episodes.
* ``hello5 --orchestrations M``: M concurrent orchestrations, each calling ``Echo`` 5 times in
  sequence (HelloCities5). Reports orchestrations/s, requests per orchestration, latency p50/p95.
* ``all``: the three in turn (chain 100, fanout 1000, hello5 200; ``--quick``: 20, 100, 20).

Every storage request the worker and client make is counted, empty polls and lease traffic
included; those two are also reported on their own. Completion is learnt in-process (the worker's
terminal Instances write) with a slow status poll as a fallback; that poll, the final status check
and the hub deletion use a separate "observer" client whose requests are reported separately and
never in the totals. Worker start (hub creation, lease acquisition) and stop are reported as
``setup``/``teardown``. "process_cpu_s" is ``time.process_time`` of this process (worker + client).

To show where time goes, each run also reports the duration of the storage calls the worker makes
(queue send/receive/delete, history load/append, Instances merge, whole orchestrator batches), the
event-loop lag (how late a 20 ms sleep wakes up), and the CPU cores used by this process, by Azurite
and by everything else on the machine (other load makes timings pessimistic; request counts are
exact whatever the load). The chain also carries a timeline of every request of a few steady steps.
``--idle-seconds S`` counts the requests of S idle seconds after the workload (polling back-off and
lease renewals); ``--set KEY=VALUE`` overrides a worker setting. ``--telemetry on`` runs the workload
with the engine's telemetry installed on OpenTelemetry SDK providers (spans through a batch processor,
tracking events through a logging handler, metrics to an in-memory reader; nothing leaves the
process), to measure its overhead against ``--telemetry off`` (the default).

Prints one JSON line per workload on stdout; progress goes to stderr. The issue-3 targets are
reported as met or not, never enforced.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make ``bench._instrument`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import durable_azure
from bench._instrument import (
    DetailedCounter,
    LoopLag,
    Probe,
    ProbeCounts,
    diff,
    find_azurite_pid,
    percentile,
    process_cpu_seconds,
    ratio,
    rnd,
    source_digest,
    system_busy_seconds,
)
from durable_azure import DFApp, DurableOrchestrationClient, OrchestrationRuntimeStatus, TaskHubWorker
from durable_azure.storage.clients import resolve_connection_string
from durable_azure.storage.taskhub import TaskHubStorage

log = logging.getLogger("bench")

CONNECTION = os.environ.get("AzureWebJobsStorage", "UseDevelopmentStorage=true")  # noqa: SIM112 (Functions name)
CITIES = ("Tokyo", "Seattle", "London", "Cairo", "Lima")
FULL_SIZES = {"chain": 100, "fanout": 1000, "hello5": 200}
QUICK_SIZES = {"chain": 20, "fanout": 100, "hello5": 20}
SETTLE_SECONDS = 0.25  # after the last completion, so the final episode's message deletes are counted
FALLBACK_POLL_SECONDS = 1.0
ACTIVE = [
    OrchestrationRuntimeStatus.Pending,
    OrchestrationRuntimeStatus.Running,
    OrchestrationRuntimeStatus.Suspended,
]

# ------------------------------------------------------------------------------ the app


@dataclass
class StepMark:
    """Taken inside the ``Echo`` activity of one chain step."""

    step: int
    at: float
    requests: dict[str, int]
    detail: dict[str, int]
    probes: ProbeCounts


@dataclass
class ChainRecorder:
    """Marks each chain step (first execution only) with the time and the counters at that moment."""

    counter: DetailedCounter | None = None
    probe: Probe | None = None
    marks: dict[int, StepMark] = field(default_factory=dict)
    duplicates: int = 0
    trace_steps: range = range(0)  # trace every request from the first of these steps to the last

    def mark(self, step: int) -> None:
        if self.counter is None or self.probe is None:
            return
        if step in self.marks:
            self.duplicates += 1
            return
        trace = self.counter.trace
        if self.trace_steps and step == self.trace_steps.start:
            trace.enabled = True
        trace.add(f"ACTIVITY Echo step {step} runs")
        if self.trace_steps and step == self.trace_steps.stop - 1:
            trace.enabled = False
        self.marks[step] = StepMark(
            step,
            time.perf_counter(),
            self.counter.snapshot(),
            self.counter.detail_snapshot(),
            self.probe.counts(),
        )


def build_app(recorder: ChainRecorder) -> DFApp:
    app = DFApp()

    @app.activity_trigger(input_name="value")
    def Echo(value: Any) -> Any:
        if isinstance(value, dict) and "step" in value:
            recorder.mark(int(value["step"]))
        return value

    @app.orchestration_trigger(context_name="context")
    def Chain(context: Any) -> Any:
        steps = int(context.get_input())
        last = None
        for i in range(steps):
            last = yield context.call_activity("Echo", {"step": i})
        return last["step"] if last else None

    @app.orchestration_trigger(context_name="context")
    def FanOut(context: Any) -> Any:
        count = int(context.get_input())
        results = yield context.task_all([context.call_activity("Echo", i) for i in range(count)])
        return sum(results)

    @app.orchestration_trigger(context_name="context")
    def Hello5(context: Any) -> Any:
        greetings = []
        for city in CITIES:
            greetings.append((yield context.call_activity("Echo", f"Hello {city}!")))
        return greetings

    return app


# ------------------------------------------------------------------------------ one run


class Completions:
    """Completion times of expected instances, learnt from the worker's terminal Instances writes
    (in-process, no requests) or, failing that, from a slow observer poll."""

    def __init__(self) -> None:
        self.expected: set[str] = set()
        self.done: dict[str, float] = {}
        self.by_poll = 0
        self._early: dict[str, float] = {}
        self._event = asyncio.Event()

    def mark(self, instance_id: str, *, polled: bool = False) -> None:
        if instance_id not in self.expected:  # a generated id whose start_new has not returned yet
            self._early.setdefault(instance_id, time.perf_counter())
        elif instance_id not in self.done:
            self.done[instance_id] = time.perf_counter()
            self.by_poll += int(polled)
            if len(self.done) == len(self.expected):
                self._event.set()

    def expect(self, instance_id: str) -> None:
        """Add ``instance_id`` (generated by ``start_new``) once its start has returned."""
        self.expected.add(instance_id)
        early = self._early.pop(instance_id, None)
        if early is not None:
            self.done[instance_id] = early

    @property
    def complete(self) -> bool:
        return bool(self.expected) and len(self.done) == len(self.expected)

    async def wait(self, observer: DurableOrchestrationClient, timeout: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self.complete:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(
                    f"{len(self.done)} of {len(self.expected)} instances finished in {timeout:.0f} s"
                )
            try:
                await asyncio.wait_for(self._event.wait(), timeout=min(FALLBACK_POLL_SECONDS, remaining))
            except asyncio.TimeoutError:
                await self._poll(observer)

    async def _poll(self, observer: DurableOrchestrationClient) -> None:
        pending = [i for i in self.expected if i not in self.done]
        if len(pending) == 1:
            status = await observer.get_status(pending[0])
            if status and status.runtime_status is not None and status.runtime_status.is_terminal:
                self.mark(pending[0], polled=True)
            return
        active = {s.instance_id for s in await observer.get_status_by(runtime_status=ACTIVE)}
        for instance_id in pending:
            if instance_id not in active:
                self.mark(instance_id, polled=True)


@dataclass
class Window:
    """Counters at one moment."""

    at: float
    cpu: float
    azurite_cpu: float | None
    system_busy: float | None
    requests: dict[str, int]
    detail: dict[str, int]
    probes: ProbeCounts
    episodes: int | None


@dataclass
class Run:
    """A worker, a client and an observer on a fresh task hub."""

    kind: str
    settings: dict[str, Any]
    azurite_pid: int | None
    hub: str = ""
    counter: DetailedCounter = field(default_factory=DetailedCounter)
    probe: Probe = field(init=False)  # shares the counter's trace
    recorder: ChainRecorder = field(default_factory=ChainRecorder)
    completions: Completions = field(default_factory=Completions)
    observer_counter: DetailedCounter = field(default_factory=DetailedCounter)
    lag: LoopLag = field(default_factory=LoopLag)
    missing_probes: list[str] = field(default_factory=list)
    worker: TaskHubWorker | None = None
    client: DurableOrchestrationClient | None = None
    observer: DurableOrchestrationClient | None = None

    def __post_init__(self) -> None:
        self.probe = Probe(self.counter.trace)

    def window(self) -> Window:
        orchestrations = getattr(self.worker, "orchestrations", None)
        episodes = getattr(orchestrations, "episodes", None)
        return Window(
            time.perf_counter(),
            time.process_time(),
            process_cpu_seconds(self.azurite_pid),
            system_busy_seconds(),
            self.counter.snapshot(),
            self.counter.detail_snapshot(),
            self.probe.counts(),
            episodes if isinstance(episodes, int) else None,
        )

    async def start(self) -> None:
        self.hub = f"bench{self.kind}{uuid.uuid4().hex[:10]}"
        self.recorder.counter, self.recorder.probe = self.counter, self.probe
        self.worker = TaskHubWorker(
            build_app(self.recorder), CONNECTION, hub_name=self.hub, counter=self.counter, **self.settings
        )
        self.missing_probes = self.probe.install(self.worker)
        self.probe.on_terminal(self.completions.mark)
        observer_storage = TaskHubStorage(
            CONNECTION,
            self.hub,
            partition_count=self.worker.settings.partition_count,
            counter=self.observer_counter,
        )
        self.observer = DurableOrchestrationClient(observer_storage)
        await self.worker.start()
        self.client = DurableOrchestrationClient(self.worker.storage, notify=self.worker.notify)
        self.lag.start()

    async def stop(self, *, keep_hub: bool) -> None:
        await self.lag.stop()
        if self.worker is not None:
            await self.worker.stop()
        if self.observer is not None:
            if not keep_hub:
                await self.observer.storage.delete()
            await self.observer.close()


# ------------------------------------------------------------------------------ reports


def request_summary(requests: dict[str, int], detail: dict[str, int], probes: ProbeCounts) -> dict[str, Any]:
    """Totals by operation and by ``operation:resource``, with empty receives and lease traffic apart."""
    total = sum(requests.values())
    if detail:
        lease = sum(v for k, v in detail.items() if k.endswith((":leases", ":applease")))
    else:
        lease = sum(v for k, v in requests.items() if k.startswith("blob."))
    empty = probes.empty_receives
    return {
        "total": total,
        "empty_receives": empty,
        "empty_receives_control": probes.control_empty,
        "empty_receives_workitems": probes.workitem_empty,
        "lease": lease,
        "excluding_empty_receives_and_lease": None if empty is None else total - empty - lease,
        "by_operation": requests,
        "by_operation_and_resource": detail,
    }


def probe_summary(probes: ProbeCounts) -> dict[str, Any]:
    out: dict[str, Any] = dict(vars(probes))
    out["control_messages_per_receive"] = ratio(probes.control_messages, probes.control_receives, 2)
    nonempty_wi = (
        None if probes.workitem_receives is None else probes.workitem_receives - (probes.workitem_empty or 0)
    )
    out["workitem_messages_per_nonempty_receive"] = ratio(probes.workitem_messages, nonempty_wi, 2)
    out["messages_per_orchestrator_batch"] = ratio(
        probes.orchestrator_batch_messages, probes.orchestrator_batches, 2
    )
    return out


def between(a: Window, b: Window, probe: Probe | None = None, lag: LoopLag | None = None) -> dict[str, Any]:
    """Everything that happened from ``a`` to ``b`` (with call durations and event-loop lag when
    ``probe`` and ``lag`` are given)."""
    requests, detail, probes = (
        diff(b.requests, a.requests),
        diff(b.detail, a.detail),
        b.probes.minus(a.probes),
    )
    summary = request_summary(requests, detail, probes)
    cpu = b.cpu - a.cpu
    azurite = None if a.azurite_cpu is None or b.azurite_cpu is None else b.azurite_cpu - a.azurite_cpu
    system = None if a.system_busy is None or b.system_busy is None else b.system_busy - a.system_busy
    others = None if system is None or azurite is None else max(0.0, system - cpu - azurite)
    wall = b.at - a.at
    return {
        "seconds": rnd(b.at - a.at),
        "requests": summary,
        "episodes": None if a.episodes is None or b.episodes is None else b.episodes - a.episodes,
        "probes": probe_summary(probes),
        "cpu": {
            "process_cpu_s": rnd(cpu),
            "process_cpu_ms_per_request": ratio(cpu * 1000, summary["total"]),
            "azurite_cpu_s": rnd(azurite),
            "process_cores": ratio(cpu, wall, 2),
            "azurite_cores": ratio(azurite, wall, 2),
            "other_processes_cores": ratio(others, wall, 2),
        },
        "event_loop_lag": lag.summary(a.at, b.at) if lag is not None else None,
        "call_durations": probe.timings(a.at, b.at) if probe is not None else None,
    }


def target(name: str, value: float | None, limit: float, *, at_most: bool) -> dict[str, Any]:
    met = None if value is None else (value <= limit if at_most else value >= limit)
    return {"target": name, "value": value, "limit": limit, "met": met}


def per(part: dict[str, Any], units: float) -> dict[str, Any]:
    """Request figures of ``part`` divided by ``units`` (steps, orchestrations or activities)."""
    requests = part["requests"]
    return {
        "total": ratio(requests["total"], units),
        "empty_receives": ratio(requests["empty_receives"], units),
        "lease": ratio(requests["lease"], units),
        "excluding_empty_receives_and_lease": ratio(requests["excluding_empty_receives_and_lease"], units),
        "by_operation": {k: ratio(v, units) for k, v in requests["by_operation"].items()},
    }


def _git(*args: str) -> str:
    here = str(Path(__file__).resolve().parent)
    done = subprocess.run(["git", "-C", here, *args], capture_output=True, text=True, check=False)
    return done.stdout.strip()


def _loadavg() -> list[float] | None:
    return [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None


def machine_info(azurite_pid: int | None) -> dict[str, Any]:
    """Where and on which code the benchmark runs (taken once, when the engine is imported)."""
    info: dict[str, Any] = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "engine_source_sha1": source_digest(Path(durable_azure.__file__).resolve().parent),
    }
    info["commit"] = _git("rev-parse", "--short", "HEAD") or None
    info["engine_dirty"] = bool(_git("status", "--porcelain", "--", "../durable_azure"))
    if azurite_pid is not None:
        try:
            args = [a.decode() for a in Path(f"/proc/{azurite_pid}/cmdline").read_bytes().split(b"\0") if a]
            info["azurite_mode"] = (
                "in-memory" if "--inMemoryPersistence" in args else "on-disk" if "--location" in args else "?"
            )
            package = next(
                (Path(a).parent.parent / "azurite" / "package.json" for a in args if "azurite" in a), None
            )
            if package is not None and package.exists():
                info["azurite_version"] = json.loads(package.read_text()).get("version")
        except OSError:
            pass
    return info


# ------------------------------------------------------------------------------ workloads


async def run_chain(run: Run, steps: int, warmup: int, trace_steps: int, timeout: float) -> dict[str, Any]:
    assert run.client is not None and run.observer is not None
    warmup = max(0, min(warmup, steps - 2))
    if trace_steps > 0:
        run.recorder.trace_steps = range(warmup, min(steps, warmup + trace_steps + 1))
    begin = run.window()
    instance_id = f"chain-{uuid.uuid4().hex[:8]}"
    run.completions.expected = {instance_id}
    await run.client.start_new("Chain", instance_id, steps)
    await run.completions.wait(run.observer, timeout)
    done = run.window()
    done.at = run.completions.done[instance_id]
    await asyncio.sleep(SETTLE_SECONDS)
    end = run.window()
    status = await run.observer.get_status(instance_id)

    whole = between(begin, end, run.probe, run.lag)
    whole["seconds"] = rnd(done.at - begin.at)
    errors = _check(status, steps - 1)
    marks = run.recorder.marks
    steady: dict[str, Any] | None = None
    if warmup in marks and steps - 1 in marks:
        first, last = marks[warmup], marks[steps - 1]
        window_steps = steps - 1 - warmup
        a = Window(first.at, 0.0, None, None, first.requests, first.detail, first.probes, None)
        b = Window(last.at, 0.0, None, None, last.requests, last.detail, last.probes, None)
        part = between(a, b, run.probe, run.lag)
        del part["cpu"], part["episodes"]
        latencies = [
            marks[i + 1].at - marks[i].at for i in range(warmup, steps - 1) if i in marks and i + 1 in marks
        ]
        steady = {
            "from_step": warmup,
            "to_step": steps - 1,
            "steps": window_steps,
            "seconds": rnd(last.at - first.at),
            "steps_per_s": ratio(window_steps, last.at - first.at, 1),
            "requests_per_step": per(part, window_steps),
            "step_latency_ms": {
                "p50": rnd(_ms(percentile(latencies, 50)), 2),
                "p95": rnd(_ms(percentile(latencies, 95)), 2),
                "max": rnd(_ms(max(latencies) if latencies else None), 2),
            },
            "detail": part,
            "trace": run.counter.trace.render(),
        }
    else:
        errors.append(f"missing step marks (have {len(marks)} of {steps})")
    rate = ratio(steps, whole["seconds"], 1)
    steady_rps = steady["requests_per_step"]["total"] if steady else None
    return {
        "wall_s": whole["seconds"],
        "steps_per_s": rate,
        "requests_per_step": per(whole, steps),
        "steady_state": steady,
        "run": whole,
        "duplicate_activity_runs": run.recorder.duplicates,
        "errors": errors,
        "targets": [
            target("steady-state requests per step <= 6", steady_rps, 6, at_most=True),
            target("steps/s >= 40 (whole run, start to completion)", rate, 40, at_most=False),
            target(
                "steady-state steps/s >= 40", steady["steps_per_s"] if steady else None, 40, at_most=False
            ),
        ],
    }


async def run_fanout(run: Run, activities: int, timeout: float) -> dict[str, Any]:
    assert run.client is not None and run.observer is not None
    begin = run.window()
    instance_id = f"fanout-{uuid.uuid4().hex[:8]}"
    run.completions.expected = {instance_id}
    await run.client.start_new("FanOut", instance_id, activities)
    await run.completions.wait(run.observer, timeout)
    done_at = run.completions.done[instance_id]
    await asyncio.sleep(SETTLE_SECONDS)
    end = run.window()
    status = await run.observer.get_status(instance_id)

    whole = between(begin, end, run.probe, run.lag)
    whole["seconds"] = rnd(done_at - begin.at)
    value = per(whole, activities)["total"]
    episodes = whole["episodes"]
    bound = activities / 32 + 2
    return {
        "wall_s": whole["seconds"],
        "activities_per_s": ratio(activities, whole["seconds"], 1),
        "requests_per_activity": per(whole, activities),
        "episodes": episodes,
        "episode_bound_n_over_32_plus_2": rnd(bound, 1),
        "run": whole,
        "errors": _check(status, activities * (activities - 1) // 2),
        "targets": [
            target("requests per activity (amortized) <= 4", value, 4, at_most=True),
            target("orchestrator episodes <= N/32 + 2 (G8)", episodes, bound, at_most=True),
        ],
    }


async def run_hello5(
    run: Run, orchestrations: int, timeout: float, start_concurrency: int, generated_ids: bool = False
) -> dict[str, Any]:
    assert run.client is not None and run.observer is not None
    client = run.client
    names = [f"hello5-{i:05d}-{uuid.uuid4().hex[:6]}" for i in range(orchestrations)]
    if not generated_ids:
        run.completions.expected = set(names)
    ids: list[str] = []
    started: dict[str, float] = {}
    gate = asyncio.Semaphore(start_concurrency)

    async def start(name: str) -> None:
        async with gate:
            began = time.perf_counter()
            instance_id = await client.start_new("Hello5", None if generated_ids else name, None)
            started[instance_id] = began
            ids.append(instance_id)
            if generated_ids:
                run.completions.expect(instance_id)

    begin = run.window()
    await asyncio.gather(*(start(n) for n in names))
    all_started = time.perf_counter()
    await run.completions.wait(run.observer, timeout)
    done = run.completions.done
    last_done = max(done.values())
    await asyncio.sleep(SETTLE_SECONDS)
    end = run.window()
    statuses = {s.instance_id: s for s in await run.observer.get_status_by()}

    whole = between(begin, end, run.probe, run.lag)
    whole["seconds"] = rnd(last_done - begin.at)
    expected = [f"Hello {c}!" for c in CITIES]
    errors: list[str] = []
    for instance_id in ids:
        problem = _check(statuses.get(instance_id), expected)
        if problem:
            errors.append(f"{instance_id}: {problem[0]}")
    latencies = [done[i] - started[i] for i in ids if i in done]
    value = per(whole, orchestrations)["total"]
    return {
        "wall_s": whole["seconds"],
        "orchestrations_per_s": ratio(orchestrations, whole["seconds"], 2),
        "events_per_s": ratio(10 * orchestrations, whole["seconds"], 1),
        "start_phase_s": rnd(all_started - begin.at),
        "latency_ms": {
            "p50": rnd(_ms(percentile(latencies, 50)), 1),
            "p95": rnd(_ms(percentile(latencies, 95)), 1),
            "max": rnd(_ms(max(latencies) if latencies else None), 1),
        },
        "requests_per_orchestration": per(whole, orchestrations),
        "episodes_per_orchestration": ratio(whole["episodes"], orchestrations, 2),
        "run": whole,
        "errors": errors[:20] + ([f"... {len(errors) - 20} more"] if len(errors) > 20 else []),
        "instance_ids": "generated by start_new" if generated_ids else "given to start_new",
        "targets": [
            target("requests per orchestration <= 32", value, 32, at_most=True),
            target("requests per orchestration <= 20 (issue 14)", value, 20, at_most=True),
        ],
    }


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000


def _check(status: Any, expected_output: Any) -> list[str]:
    if not status:
        return ["instance not found"]
    if status.runtime_status is not OrchestrationRuntimeStatus.Completed:
        return [
            f"status {getattr(status.runtime_status, 'value', status.runtime_status)}: {status.output!r}"[
                :300
            ]
        ]
    if status.output != expected_output:
        return [f"unexpected output {status.output!r}"[:300]]
    return []


# ------------------------------------------------------------------------------ driver


@dataclass
class Job:
    kind: str
    size: int
    run: Callable[[Run], Any]


async def run_job(
    job: Job,
    args: argparse.Namespace,
    settings: dict[str, Any],
    azurite_pid: int | None,
    machine: dict[str, Any],
) -> dict[str, Any]:
    name = f"{job.kind}-{job.size}"
    log.info("%s: starting worker on a fresh hub", name)
    run = Run(job.kind, settings, azurite_pid)
    result: dict[str, Any] = {"workload": name, "kind": job.kind, "size": job.size, "quick": args.quick}
    before_start = run.window()
    errors: list[str] = []
    try:
        await run.start()
        started = run.window()
        assert run.worker is not None
        owned = len(getattr(run.worker.partitions, "owned", {}))
        log.info("%s: hub %s, %d partitions owned; running", name, run.hub, owned)
        body = await job.run(run)
        errors += body.pop("errors", [])
        result.update(body)
        if args.idle_seconds > 0:
            log.info("%s: measuring %.0f s of idle traffic", name, args.idle_seconds)
            idle_from = run.window()
            await asyncio.sleep(args.idle_seconds)
            idle = between(idle_from, run.window())["requests"]
            partitions = run.worker.settings.partition_count
            result["idle"] = {
                "seconds": args.idle_seconds,
                "requests": idle["total"],
                "per_s": ratio(idle["total"], args.idle_seconds, 2),
                "per_partition_per_s": ratio(idle["total"], args.idle_seconds * partitions, 2),
                "by_operation_and_resource": idle["by_operation_and_resource"] or idle["by_operation"],
            }
        result["setup"] = between(before_start, started)["requests"]
        result["partitions_owned"] = owned
    except Exception as error:  # report what we have, never a traceback instead of the JSON line
        log.exception("%s failed", name)
        errors.append(f"{type(error).__name__}: {error}")
    finally:
        before_stop = run.window()
        try:
            await run.stop(keep_hub=args.keep_hub)
        except Exception as error:
            log.exception("%s: stop/cleanup failed", name)
            errors.append(f"cleanup: {type(error).__name__}: {error}")
        result["teardown"] = between(before_stop, run.window())["requests"]
    worker_settings = vars(run.worker.settings).copy() if run.worker is not None else {}
    worker_settings.pop("connection_string", None)
    result.update(
        ok=not errors,
        errors=errors,
        hub=run.hub,
        hub_deleted=not args.keep_hub,
        completion_detection={
            "in_process": len(run.completions.done) - run.completions.by_poll,
            "observer_poll": run.completions.by_poll,
        },
        probes_missing=run.missing_probes,
        observer_requests=run.observer_counter.snapshot(),
        activities_executed=getattr(getattr(run.worker, "activities", None), "executed", None),
        settings=worker_settings,
        machine={
            **machine,
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "loadavg": _loadavg(),
        },
    )
    _log_summary(result)
    return result


def _log_summary(result: dict[str, Any]) -> None:
    parts = [result["workload"], "ok" if result["ok"] else f"FAILED {result['errors'][:2]}"]
    for key in ("wall_s", "steps_per_s", "activities_per_s", "orchestrations_per_s"):
        if result.get(key) is not None:
            parts.append(f"{key}={result[key]}")
    for t in result.get("targets", []):
        parts.append(
            f"[{t['target']}: {t['value']} -> {'met' if t['met'] else 'NOT met' if t['met'] is False else 'n/a'}]"
        )
    log.info("  ".join(parts))


def parse_setting(text: str) -> tuple[str, Any]:
    key, sep, raw = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        value: Any = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return key.strip(), value


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--quick", action="store_true", help="small sizes for smoke runs (chain 20, fanout 100, hello5 20)"
    )
    common.add_argument("--timeout", type=float, default=None, help="seconds per workload (default: by size)")
    common.add_argument(
        "--warmup-steps", type=int, default=10, help="chain: steady state starts at this step"
    )
    common.add_argument(
        "--trace-steps",
        type=int,
        default=3,
        help="chain: include a request timeline of this many steady steps",
    )
    common.add_argument(
        "--start-concurrency", type=int, default=32, help="hello5: concurrent start_new calls"
    )
    common.add_argument(
        "--idle-seconds",
        type=float,
        default=0.0,
        help="after the workload, count idle requests for this long",
    )
    common.add_argument(
        "--ids",
        choices=["explicit", "generated"],
        default="explicit",
        help="hello5: instance ids given to start_new (explicit) or generated by it, as DF's HTTP starters do",
    )
    common.add_argument("--keep-hub", action="store_true", help="do not delete the task hub afterwards")
    common.add_argument(
        "--set",
        dest="settings",
        action="append",
        type=parse_setting,
        default=[],
        metavar="KEY=VALUE",
        help="worker setting override, e.g. --set max_concurrent_activities=32 (JSON values)",
    )
    common.add_argument("--log-level", default="INFO", help="bench progress level (engine logs: WARNING)")
    common.add_argument(
        "--telemetry",
        choices=["off", "on"],
        default="off",
        help="on: spans, tracking events and metrics through the OpenTelemetry SDK (exported in-process)",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    chain = sub.add_parser("chain", parents=[common], help="N sequential activities in one orchestration")
    chain.add_argument("--steps", type=int, default=None)
    fanout = sub.add_parser("fanout", parents=[common], help="fan out N activities and fan in")
    fanout.add_argument("--activities", type=int, default=None)
    hello5 = sub.add_parser("hello5", parents=[common], help="M concurrent five-activity orchestrations")
    hello5.add_argument("--orchestrations", type=int, default=None)
    sub.add_parser("all", parents=[common], help="chain, fanout and hello5 in turn")
    return parser.parse_args(argv)


def jobs_for(args: argparse.Namespace) -> list[Job]:
    sizes = QUICK_SIZES if args.quick else FULL_SIZES
    chain_n = getattr(args, "steps", None) or sizes["chain"]
    fanout_n = getattr(args, "activities", None) or sizes["fanout"]
    hello_n = getattr(args, "orchestrations", None) or sizes["hello5"]
    t = args.timeout
    jobs = {
        "chain": Job(
            "chain",
            chain_n,
            lambda r: run_chain(
                r, chain_n, args.warmup_steps, args.trace_steps, t or max(60.0, chain_n * 1.0)
            ),
        ),
        "fanout": Job("fanout", fanout_n, lambda r: run_fanout(r, fanout_n, t or max(60.0, fanout_n * 0.3))),
        "hello5": Job(
            "hello5",
            hello_n,
            lambda r: run_hello5(
                r, hello_n, t or max(60.0, hello_n * 1.0), args.start_concurrency, args.ids == "generated"
            ),
        ),
    }
    return list(jobs.values()) if args.command == "all" else [jobs[args.command]]


async def amain(args: argparse.Namespace) -> int:
    settings = dict(args.settings)
    queue_endpoint = re.search(r"QueueEndpoint=https?://[^:/;]+:(\d+)", resolve_connection_string(CONNECTION))
    queue_port = int(queue_endpoint.group(1)) if queue_endpoint else 10001
    azurite_pid = find_azurite_pid(queue_port)
    if azurite_pid is None:
        log.warning("no Azurite process found in /proc; Azurite CPU will be reported as null")
    machine = machine_info(azurite_pid)  # once: the engine code was imported at start-up
    machine["azurite_queue_port"] = queue_port
    machine["telemetry"] = args.telemetry
    if args.telemetry == "on":
        enable_telemetry()
    failures = 0
    for job in jobs_for(args):
        result = await run_job(job, args, settings, azurite_pid, machine)
        failures += not result["ok"]
        print(json.dumps(result, default=str), flush=True)
    return 1 if failures else 0


def enable_telemetry() -> None:
    """The engine's telemetry on SDK providers whose exporters keep nothing and send nothing."""
    from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, LogRecordExporter
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    from durable_azure import telemetry

    class Discard(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    class DiscardLogs(LogRecordExporter):
        def export(self, batch: Any) -> Any:
            return None

        def shutdown(self) -> None:
            return None

        def force_flush(self, timeout_millis: int = 30000) -> bool:
            return True

    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(BatchSpanProcessor(Discard()))
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    logger_provider = LoggerProvider()
    logger_provider.add_log_record_processor(BatchLogRecordProcessor(DiscardLogs()))
    logging.getLogger(telemetry.TRACKING_CATEGORY).addHandler(LoggingHandler(logger_provider=logger_provider))
    logging.getLogger(telemetry.TRACKING_CATEGORY).propagate = False  # keep stderr for progress
    telemetry.install(
        telemetry.Telemetry(
            telemetry.TelemetryOptions(hub_name="bench"),
            tracer=tracer_provider.get_tracer("DurableTask.Core"),
            meter=meter_provider.get_meter("durable_azure"),
        )
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr, level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )
    log.setLevel(args.log_level.upper())
    return asyncio.run(amain(args))


if __name__ == "__main__":
    sys.exit(main())
