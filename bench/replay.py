"""Replay CPU benchmark: our executor against azure-functions-durable 1.7.0 on the same histories.

For a chain (N sequential ``call_activity("Echo", i)``) and a fan-out/fan-in (N parallel calls
joined by ``task_all``) it builds completed histories of about 100, 1,000 and 10,000 events by
driving episodes through our own executor, the way a worker would (activity completions are
delivered up to 32 per episode). It then times one full replay of each history (best of 5):

* ours: ``execute(orchestrator, history, [])`` on the in-memory events;
* DF: the same orchestrator code, replayed by ``azure.durable_functions.Orchestrator`` in a
  separate venv (``bench/.venv-df``, created on demand) from the out-of-process protocol JSON the
  Functions host would send, via ``bench/_df_replay_runner.py``.

Prints one JSON object on stdout (per-workload µs/event, speedups, linearity, targets, machine);
progress goes to stderr. ``--quick`` runs the 100 and 1,000 sizes only; ``--no-df`` skips DF.
"""

from __future__ import annotations

import argparse
import cProfile
import importlib.util
import json
import os
import platform
import pstats
import subprocess
import sys
import tempfile
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import ModuleType
from typing import Any, NamedTuple

from durable_azure.orchestration import serialization
from durable_azure.orchestration.executor import OrchestrationResult, execute
from durable_azure.orchestration.history import (
    ExecutionCompleted,
    ExecutionStarted,
    HistoryEvent,
    OrchestrationStatus,
    OrchestratorCompleted,
    OrchestratorStarted,
    TaskCompleted,
    TaskScheduled,
)

BENCH_DIR = Path(__file__).resolve().parent
RUNNER = BENCH_DIR / "_df_replay_runner.py"
DF_VENV = BENCH_DIR / ".venv-df"
DF_REQUIREMENT = "azure-functions-durable==1.7.0"

SIZES = (100, 1_000, 10_000)
QUICK_SIZES = (100, 1_000)
BATCH = 32  # activity completions per episode: controlQueueBatchSize
START = datetime(2026, 1, 1, tzinfo=timezone.utc)
ACTIVITY_TIME = timedelta(milliseconds=7)  # virtual time an Echo activity takes
TARGET_SPEEDUP = 10.0  # 10k-event replay at least 10x faster than DF 1.7.0
TARGET_LINEARITY = 12.0  # our 10k time at most 12x our 1k time


def log(message: str) -> None:
    print(f"[replay] {message}", file=sys.stderr, flush=True)


def load_workloads() -> ModuleType:
    """``_df_replay_runner`` (standard library only at import), which holds the orchestrators."""
    spec = importlib.util.spec_from_file_location("_df_replay_runner", RUNNER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


WORKLOADS = load_workloads()


# ---------------------------------------------------------------------------- building histories


def history_length(workload: str, n: int) -> int:
    """Events in the completed history (OrchestratorStarted/Completed around every episode)."""
    if workload == "chain":
        return 4 * n + 4  # one episode per activity plus the first; 4 events each
    episodes = -(-n // BATCH)
    return 2 * n + 2 * episodes + 4  # N scheduled + N completed + episode brackets + start/complete


def activities_for(workload: str, target_events: int) -> int:
    """The activity count whose history length is closest to ``target_events``."""
    candidates = range(1, target_events)
    return min(candidates, key=lambda n: (abs(history_length(workload, n) - target_events), n))


class Seconds(NamedTuple):
    wall: float  # time.perf_counter(): the measurement
    cpu: float  # time.process_time(): cross-check on a loaded machine


@dataclass(frozen=True)
class BuiltHistory:
    workload: str
    target: int  # the history length asked for (100, 1,000 or 10,000)
    n: int
    events: list[HistoryEvent]
    episodes: int
    output: Any


def _echo(action: HistoryEvent, at: datetime) -> TaskCompleted:
    if not isinstance(action, TaskScheduled) or action.name != "Echo":
        raise RuntimeError(f"unexpected action {action!r}")
    return TaskCompleted(task_scheduled_id=action.event_id, result=action.input, timestamp=at)


def build_history(workload: str, target: int) -> BuiltHistory:
    """Drive the orchestration to completion through our executor, one episode at a time."""
    fn = WORKLOADS.ORCHESTRATORS[workload]
    n = activities_for(workload, target)
    now = START
    history: list[HistoryEvent] = []
    inbox: list[HistoryEvent] = [
        ExecutionStarted(
            name=workload,
            instance_id=f"bench-{workload}-{n}",
            execution_id="0a1b2c3d4e5f40718293a4b5c6d7e8f9",
            input=serialization.dumps({"n": n}),
            timestamp=now,
        )
    ]
    outstanding: deque[TaskCompleted] = deque()
    episodes = 0
    while True:
        episode = execute(fn, history, [OrchestratorStarted(timestamp=now), *inbox])
        episodes += 1
        history.extend(episode.new_events)
        if episode.completion is not None:
            if episode.completion.status is not OrchestrationStatus.Completed:
                raise RuntimeError(f"{workload}-{n} ended {episode.completion.status.name}")
            output = serialization.loads(episode.completion.output)
            return BuiltHistory(workload, target, n, history, episodes, output)
        now += ACTIVITY_TIME
        outstanding.extend(_echo(action, now) for action in episode.actions)
        if not outstanding:
            raise RuntimeError(f"{workload}-{n} waits for nothing the benchmark delivers")
        inbox = [outstanding.popleft() for _ in range(min(BATCH, len(outstanding)))]


# ---------------------------------------------------------------------------- DF protocol JSON


def df_timestamp(value: datetime) -> str:
    """.NET round-trip format, 7 fractional digits and ``Z``, as the extension serializes it."""
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def _df_fields(event: HistoryEvent) -> dict[str, Any]:
    match event:
        case ExecutionStarted():
            return {
                "OrchestrationInstance": {"InstanceId": event.instance_id, "ExecutionId": event.execution_id},
                "ParentInstance": None,
                "Name": event.name,
                "Version": event.version,
                "Input": event.input,
                "Tags": event.tags,
                "Correlation": None,
                "ScheduledStartTime": None,
                "Generation": event.generation or 0,
            }
        case TaskScheduled():
            return {"Name": event.name, "Version": event.version, "Input": event.input, "Tags": None}
        case TaskCompleted():
            return {"TaskScheduledId": event.task_scheduled_id, "Result": event.result}
        case ExecutionCompleted():
            return {
                "OrchestrationStatus": int(event.orchestration_status),
                "Result": event.result,
                "FailureDetails": None,
            }
        case OrchestratorStarted() | OrchestratorCompleted():
            return {}
    raise NotImplementedError(f"no DF conversion for {type(event).__name__}")


def df_event(event: HistoryEvent) -> dict[str, Any]:
    """One history event as the extension hands it to the Python worker (every event already played)."""
    return {
        "EventType": int(event.EVENT_TYPE),
        "EventId": event.event_id,
        "IsPlayed": True,
        "Timestamp": df_timestamp(event.timestamp),
        **_df_fields(event),
    }


def df_context_json(built: BuiltHistory) -> str:
    """The orchestration trigger's JSON (df-python-api-and-http.md §6.1) for a full replay."""
    started = next(e for e in built.events if isinstance(e, ExecutionStarted))
    context = {
        "history": [df_event(e) for e in built.events],
        "input": started.input,
        "instanceId": started.instance_id,
        "isReplaying": True,
        "parentInstanceId": None,
        "upperSchemaVersion": 1,
        "upperSchemaVersionNew": 2,
    }
    return json.dumps(context, separators=(",", ":"))


# ---------------------------------------------------------------------------- timing


def _replay_job(built: BuiltHistory) -> tuple[Callable[[], Any], Callable[[Any], Any]]:
    fn = WORKLOADS.ORCHESTRATORS[built.workload]
    return (lambda: built.events, lambda events: execute(fn, events, []))


def _check_ours(built: BuiltHistory, result: OrchestrationResult) -> None:
    completion = result.completion
    expected = WORKLOADS.expected_output(built.n)
    if completion is None or completion.status is not OrchestrationStatus.Completed:
        raise RuntimeError(f"our replay of {case_name(built)} did not complete")
    if serialization.loads(completion.output) != expected or built.output != expected:
        raise RuntimeError(f"our replay of {case_name(built)} returned a wrong output")


def time_ours(histories: list[BuiltHistory], repeat: int) -> dict[str, Seconds]:
    """Best-of-``repeat`` wall and CPU seconds for one full replay of each history (round-robin), checked."""
    log(f"timing our replay of {len(histories)} histories, best of {repeat}")
    timings = WORKLOADS.best_of(repeat, {case_name(b): _replay_job(b) for b in histories})
    for built in histories:
        _check_ours(built, timings[case_name(built)].result)
    return {name: Seconds(t.wall, t.cpu) for name, t in timings.items()}


def profile_ours(built: BuiltHistory, top: int = 20) -> None:
    """cProfile one full replay and print the top functions by own time to stderr."""
    fn = WORKLOADS.ORCHESTRATORS[built.workload]
    profiler = cProfile.Profile()
    profiler.runcall(execute, fn, built.events, [])
    log(f"profile of {built.workload} ({len(built.events)} events), top {top} by own time:")
    pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(top)


# ---------------------------------------------------------------------------- the DF venv


class DFUnavailableError(RuntimeError):
    """The DF venv could not be created or azure-functions-durable could not be installed."""


def _run_quietly(command: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout
    )


def _venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _installed_df_version(python: Path) -> str | None:
    probe = "import importlib.metadata as m; print(m.version('azure-functions-durable'))"
    done = _run_quietly([str(python), "-c", probe], timeout=60)
    return done.stdout.strip() if done.returncode == 0 else None


def ensure_df_venv(venv: Path = DF_VENV) -> Path:
    """The DF venv's python, creating the venv and pip-installing azure-functions-durable if missing."""
    python = _venv_python(venv)
    wanted = DF_REQUIREMENT.split("==")[1]
    try:
        if not python.exists():
            log(f"creating {venv}")
            done = _run_quietly([sys.executable, "-m", "venv", str(venv)], timeout=300)
            if done.returncode != 0:
                raise DFUnavailableError(f"python -m venv failed: {done.stdout.strip()[-500:]}")
        if _installed_df_version(python) != wanted:
            log(f"pip install {DF_REQUIREMENT} into {venv}")
            done = _run_quietly(
                [
                    str(python),
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    DF_REQUIREMENT,
                ],
                timeout=900,
            )
            if done.returncode != 0:
                raise DFUnavailableError(f"pip install {DF_REQUIREMENT} failed: {done.stdout.strip()[-500:]}")
    except (OSError, subprocess.TimeoutExpired) as error:
        raise DFUnavailableError(f"{type(error).__name__}: {error}") from None
    if _installed_df_version(python) != wanted:
        raise DFUnavailableError(f"{venv} does not hold {DF_REQUIREMENT}")
    return python


def run_df(python: Path, histories: list[BuiltHistory], repeat: int) -> dict[str, Any]:
    """Replay every history through DF in its venv; returns the runner's JSON report."""
    with tempfile.TemporaryDirectory(prefix="replay-df-") as tmp:
        cases = []
        for built in histories:
            path = Path(tmp) / f"{case_name(built)}.json"
            path.write_text(df_context_json(built), encoding="utf-8")
            cases.append(
                {
                    "name": case_name(built),
                    "workload": built.workload,
                    "file": str(path),
                    "events": len(built.events),
                    "expected_output": WORKLOADS.expected_output(built.n),
                }
            )
        manifest = Path(tmp) / "manifest.json"
        manifest.write_text(json.dumps(cases), encoding="utf-8")
        done = subprocess.run(
            [str(python), str(RUNNER), str(manifest), "--repeat", str(repeat)],
            stdout=subprocess.PIPE,
            text=True,
            timeout=3600,
            check=False,
        )
    if done.returncode != 0:
        raise RuntimeError(f"the DF runner exited with {done.returncode}")
    report: dict[str, Any] = json.loads(done.stdout)
    return report


# ---------------------------------------------------------------------------- report


def case_name(built: BuiltHistory) -> str:
    return f"{built.workload}-{built.n}"


def per_event_us(seconds: float, events: int) -> float:
    return round(seconds / events * 1e6, 3)


def size_row(built: BuiltHistory, ours: Seconds, df: dict[str, Any] | None) -> dict[str, Any]:
    events = len(built.events)
    row: dict[str, Any] = {
        "activities": built.n,
        "events": events,
        "episodes": built.episodes,
        "ours_ms": round(ours.wall * 1e3, 3),
        "ours_us_per_event": per_event_us(ours.wall, events),
        "df_ms": None,
        "df_us_per_event": None,
        "speedup": None,
        "df_handle_only_us_per_event": None,
        "speedup_vs_handle_only": None,
        "ours_cpu_us_per_event": per_event_us(ours.cpu, events),
        "df_cpu_us_per_event": None,
        "speedup_cpu": None,
        "df_ok": None,
    }
    if df is not None:
        row.update(
            df_ms=round(df["full_s"] * 1e3, 3),
            df_us_per_event=per_event_us(df["full_s"], events),
            speedup=round(df["full_s"] / ours.wall, 2),
            df_handle_only_us_per_event=per_event_us(df["handle_only_s"], events),
            speedup_vs_handle_only=round(df["handle_only_s"] / ours.wall, 2),
            df_cpu_us_per_event=per_event_us(df["full_cpu_s"], events),
            speedup_cpu=round(df["full_cpu_s"] / ours.cpu, 2) if ours.cpu > 0 else None,
            df_ok=df["ok"],
        )
    return row


def workload_report(rows: dict[int, dict[str, Any]], ours: dict[int, Seconds]) -> dict[str, Any]:
    report: dict[str, Any] = {
        "sizes": {str(size): row for size, row in rows.items()},
        "linearity": None,
        "linearity_cpu": None,
    }
    if 10_000 in ours and 1_000 in ours:
        report["linearity"] = round(ours[10_000].wall / ours[1_000].wall, 2)
        report["linearity_cpu"] = round(ours[10_000].cpu / ours[1_000].cpu, 2)
        report["event_ratio"] = round(rows[10_000]["events"] / rows[1_000]["events"], 3)
    return report


def evaluate_targets(workloads: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Whether each workload meets the 10k speedup and the linearity target (None: not measured)."""
    verdicts: dict[str, Any] = {}
    for name, report in workloads.items():
        big = report["sizes"].get("10000")
        ok = bool(big and big["df_ok"])
        speedup = big["speedup"] if ok else None
        linearity = report["linearity"]
        verdicts[name] = {
            "speedup_10k": speedup,
            "speedup_10k_met": None if speedup is None else speedup >= TARGET_SPEEDUP,
            "linearity": linearity,
            "linearity_met": None if linearity is None else linearity <= TARGET_LINEARITY,
            "cpu_time_cross_check": {
                "speedup_10k": big["speedup_cpu"] if ok else None,
                "linearity": report["linearity_cpu"],
            },
        }
    flags = [v[k] for v in verdicts.values() for k in ("speedup_10k_met", "linearity_met")]
    return {
        "speedup_10k_at_least": TARGET_SPEEDUP,
        "linearity_at_most": TARGET_LINEARITY,
        "per_workload": verdicts,
        "all_met": None if None in flags else all(flags),
    }


def machine_info() -> dict[str, Any]:
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    if hasattr(os, "getloadavg"):
        info["loadavg"] = [round(x, 2) for x in os.getloadavg()]
    commit = subprocess.run(
        ["git", "-C", str(BENCH_DIR), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    )
    info["commit"] = commit.stdout.strip() or None
    return info


# ---------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="sizes 100 and 1,000 only; a missing DF venv is a note"
    )
    parser.add_argument("--no-df", action="store_true", help="time our executor only")
    parser.add_argument(
        "--repeat", type=int, default=5, help="runs per measurement; the best counts (default 5)"
    )
    parser.add_argument(
        "--profile", action="store_true", help="cProfile our replay of the largest histories (stderr)"
    )
    return parser.parse_args(argv)


def build_all(sizes: tuple[int, ...]) -> list[BuiltHistory]:
    histories = []
    for workload in WORKLOADS.ORCHESTRATORS:
        for size in sizes:
            log(f"building {workload} (~{size} events) through our executor")
            histories.append(build_history(workload, size))
    return histories


def df_section(
    args: argparse.Namespace, histories: list[BuiltHistory]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """DF's per-case results (by case name) and the report's ``df`` section."""
    if args.no_df:
        return {}, {"available": False, "note": "skipped (--no-df)"}
    try:
        python = ensure_df_venv()
    except DFUnavailableError as error:
        log(f"DF unavailable: {error}")
        return {}, {"available": False, "note": f"DF venv unavailable, DF not measured: {error}"}
    log("replaying through azure-functions-durable")
    report = run_df(python, histories, args.repeat)
    section = {
        "available": True,
        "package": report["package"],
        "version": report["version"],
        "python": report["python"],
        "venv": str(DF_VENV.relative_to(BENCH_DIR.parent)),
        "entry_point": "Orchestrator.create(fn)(context_json): JSON parse + handle(), as the worker runs it",
        "handle_only": "DurableOrchestrationContext.from_json untimed, Orchestrator(fn).handle(ctx) timed",
        "all_ok": all(r["ok"] for r in report["results"].values()),
    }
    return report["results"], section


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = QUICK_SIZES if args.quick else SIZES
    histories = build_all(sizes)
    ours = time_ours(histories, args.repeat)
    df_results, df_info = df_section(args, histories)
    workloads: dict[str, dict[str, Any]] = {}
    for workload in WORKLOADS.ORCHESTRATORS:
        mine = [b for b in histories if b.workload == workload]
        rows = {b.target: size_row(b, ours[case_name(b)], df_results.get(case_name(b))) for b in mine}
        workloads[workload] = workload_report(rows, {b.target: ours[case_name(b)] for b in mine})
    if args.profile:
        for built in histories:
            if built.target == sizes[-1]:
                profile_ours(built)
    result = {
        "benchmark": "replay",
        "params": {"sizes": list(sizes), "repeat": args.repeat, "batch": BATCH, "quick": args.quick},
        "machine": machine_info(),
        "df": df_info,
        "workloads": workloads,
        "targets": evaluate_targets(workloads),
    }
    print(json.dumps(result))
    df_failed = not args.no_df and not args.quick and not df_info["available"]
    wrong = df_info.get("all_ok") is False
    return 1 if df_failed or wrong else 0


if __name__ == "__main__":
    sys.exit(main())
