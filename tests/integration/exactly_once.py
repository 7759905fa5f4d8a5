"""Exactly-once checks for the fault tests (test_chaos.py, test_storage_outage.py).

After a run with faults (``kill -9`` of workers, storage restarts) every instance must have
completed exactly once with the right output. :func:`check_exactly_once` verifies that three ways
and returns every problem it finds (an empty list when all is well):

(a) **history** — one ``ExecutionStarted`` and one ``ExecutionCompleted`` (Completed, with the
    expected output); scheduling event ids 0, 1, 2… without gaps; every task answered exactly once
    and only by an answer of its kind; no timer fired early; and the raw rows agree: one execution id (the sentinel's),
    RowKeys 0…n-1 without gaps, as many rows as events, and row timestamps that never decrease
    along the RowKeys (a row overwritten after later rows were written would have a later one);
(b) **status transitions** — a :class:`StatusMonitor` polls the Instances table throughout the
    run; no instance may be seen leaving Completed, or changing its execution id;
(c) **side effects** — ``chaos_app`` activities and orchestrator bodies append lines to an effects
    log (see ``worker_apps/chaos_app.py``). Per instance: one execution id only (two would be a
    second run of the orchestration); each scheduled task ran, with the input history recorded;
    no task ran that history does not have; a task ran more than once only where an earlier run
    was disturbed by a fault (its worker was killed after it started, or storage was down around
    it) — activities are at-least-once, but not without cause; and no body ran after the
    instance's completion was durable.

Import from a test module with::

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import exactly_once as eo
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent / "worker_apps"))

import chaos_app
import worker_support as ws
from test_worker_multiprocess import all_completed, stuck_report, worker_logs

from durable_azure import OrchestrationRuntimeStatus as S
from durable_azure.orchestration import history as h

__all__ = [
    "CHAOS_RUNNER",
    "EFFECTS_ENV",
    "Faults",
    "StatusMonitor",
    "all_completed",
    "check_exactly_once",
    "describe_instance",
    "progress_points",
    "read_effects",
    "spawn_chaos_worker",
    "stuck_report",
    "worker_logs",
]

EFFECTS_ENV = chaos_app.EFFECTS_ENV
CHAOS_RUNNER = ws.APPS_DIR / "chaos_worker.py"

#: A body line this long after the completion became durable is a run after completion (an
#: episode computed concurrently with the completing one logs within milliseconds of it).
AFTER_COMPLETION_MARGIN = 0.5
#: A history row written this much later than the next row was overwritten (rows of one
#: transaction get timestamps microseconds apart, in any order).
ROW_TIMESTAMP_SLACK = 0.05
#: A timer may fire this much before its time (the engine's ``timers.EARLY_TOLERANCE``).
TIMER_TOLERANCE = 1.0

_SCHEDULING = (h.TaskScheduled, h.TimerCreated, h.SubOrchestrationInstanceCreated, h.EventSent)
_ANSWERS: dict[type, type] = {
    h.TaskCompleted: h.TaskScheduled,
    h.TaskFailed: h.TaskScheduled,
    h.TimerFired: h.TimerCreated,
    h.SubOrchestrationInstanceCompleted: h.SubOrchestrationInstanceCreated,
    h.SubOrchestrationInstanceFailed: h.SubOrchestrationInstanceCreated,
}


def spawn_chaos_worker(
    hub: str, worker_id: str, log_dir: Path, *, connection: str, **settings: Any
) -> ws.WorkerProcess:
    """:func:`worker_support.spawn_worker`, running ``chaos_app`` instead of ``sample_app``.

    ``spawn_worker`` always passes ``--app sample_app:app``; with ``chaos_worker.py`` as the runner
    that argument is swapped for ``chaos_app:app``. The effects log path reaches the worker through
    ``os.environ`` (set ``EFFECTS_ENV`` before spawning, e.g. with ``monkeypatch.setenv``).
    """
    with mock.patch.object(ws, "RUNNER", CHAOS_RUNNER):
        return ws.spawn_worker(hub, worker_id, log_dir, connection=connection, **settings)


def read_effects(path: Path) -> list[dict[str, Any]]:
    """Every complete line of the effects log, in file order."""
    if not path.exists():
        return []
    lines = []
    for text in path.read_text(encoding="utf-8").splitlines():
        try:
            lines.append(json.loads(text))
        except json.JSONDecodeError:
            continue  # cannot happen with single O_APPEND writes, but never fail the check on it
    return lines


# ---------------------------------------------------------------------------- faults


@dataclass
class Kill:
    worker_id: str
    pid: int
    t: float
    partitions: list[str]


@dataclass
class Faults:
    """The faults a test injected, so checks can tell a tolerated re-run from a defect."""

    kills: list[Kill] = field(default_factory=list)
    outages: list[tuple[float, float]] = field(default_factory=list)
    """(storage signalled, storage answering again) — time.time() values."""
    slack: float = 5.0
    """A run that ended this shortly before a fault may not have settled yet (its result sent,
    its work item deleted, the history holding its result written)."""

    def times(self) -> list[tuple[float, str]]:
        """(time, description) of every fault, in order."""
        found = [(k.t, f"kill -9 {k.worker_id}") for k in self.kills]
        found += [(down, "storage outage") for down, _ in self.outages]
        return sorted(found)

    def outage_at(self, t: float) -> bool:
        """True if storage was down at ``t`` or went down within a second after it: a message
        sent then may be stored twice (the SDK retries a send whose response was lost)."""
        return any(down - 1.0 <= t <= up for down, up in self.outages)

    def disturbed(self, pid: int, start: float, end: float | None) -> str | None:
        """Why the work a process ``pid`` did from ``start`` to ``end`` (None: it never finished)
        may have been lost, or None when no fault touched it."""
        settled = (end if end is not None else float("inf")) + self.slack
        for kill in self.kills:
            if kill.pid == pid and start <= kill.t <= settled:
                return f"its worker {kill.worker_id} (pid {pid}) was killed {kill.t - start:+.1f} s after it started"
        for down, up in self.outages:
            if start <= up and settled >= down:
                return f"storage went down {down - start:+.1f} s after it started"
        return None


# ---------------------------------------------------------------------------- status monitor


@dataclass(frozen=True)
class Observation:
    t: float
    status: S | None
    last_updated: float | None
    execution_id: str | None


class StatusMonitor:
    """Polls every instance's status row in the background and keeps each change it sees."""

    def __init__(self, client: ws.df.DurableOrchestrationClient, interval: float = 0.5) -> None:
        self._client = client
        self._interval = interval
        self.seen: dict[str, list[Observation]] = defaultdict(list)
        self.failed_polls = 0
        self.polls = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="status-monitor")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    async def _run(self) -> None:
        while True:
            await self.poll()
            await asyncio.sleep(self._interval)

    async def poll(self) -> None:
        try:
            statuses = await asyncio.wait_for(self._client.get_status_by(), timeout=5)
        except Exception:  # storage down: keep going, the next poll sees what changed
            self.failed_polls += 1
            return
        self.polls += 1
        now = time.time()
        for status in statuses:
            updated = status.last_updated_time.timestamp() if status.last_updated_time else None
            observation = Observation(now, status.runtime_status, updated, status.execution_id)
            history = self.seen[status.instance_id]
            if not history or (history[-1].status, history[-1].last_updated, history[-1].execution_id) != (
                observation.status,
                observation.last_updated,
                observation.execution_id,
            ):
                history.append(observation)

    def latest(self) -> dict[str, Observation]:
        return {iid: seen[-1] for iid, seen in self.seen.items() if seen}

    def unfinished(self) -> set[str]:
        return {iid for iid, o in self.latest().items() if o.status not in ws.TERMINAL}

    def completed(self) -> set[str]:
        return {iid for iid, o in self.latest().items() if o.status is S.Completed}

    def transitions(self, instance_id: str) -> str:
        seen = self.seen.get(instance_id, [])
        return " → ".join(
            f"{o.status.value if o.status else None}[{(o.execution_id or '')[:8]}]" for o in seen
        )

    def regressions(self) -> list[str]:
        """Instances seen leaving Completed, or changing execution id."""
        problems = []
        for iid, seen in self.seen.items():
            done = next((i for i, o in enumerate(seen) if o.status is S.Completed), None)
            if done is not None and any(o.status is not S.Completed for o in seen[done:]):
                problems.append(f"{iid}: status left Completed: {self.transitions(iid)}")
            executions = list(dict.fromkeys(o.execution_id for o in seen if o.execution_id))
            if len(executions) > 1:
                problems.append(f"{iid}: execution id changed {executions}: {self.transitions(iid)}")
        return problems


# ---------------------------------------------------------------------------- the checks


def _json(text: str | None) -> Any:
    return json.loads(text) if text else None


async def check_history(
    hub: ws.Hub, instance_id: str, expected_output: Any
) -> tuple[list[str], dict[str, Any]]:
    """(problems, facts) for one instance's history; facts: ``execution_id``, ``completed_at``
    (time.time() of the commit of its ExecutionCompleted row), ``tasks`` (label → input)."""
    problems: list[str] = []
    facts: dict[str, Any] = {"execution_id": None, "completed_at": None, "tasks": {}}
    say = problems.append
    status = await hub.client.get_status(instance_id)
    if not status:
        return [f"{instance_id}: no such instance"], facts
    if status.runtime_status is not S.Completed:
        say(f"{instance_id}: ended {status.runtime_status}: {status.output!r}")
    elif status.output != expected_output:
        say(f"{instance_id}: output {status.output!r}, expected {expected_output!r}")

    events = await hub.client.get_history(instance_id)
    rows = await hub.raw.history_rows(hub.name, instance_id)
    sentinel = next((r for r in rows if r["RowKey"] == "sentinel"), None)
    event_rows = [r for r in rows if r["RowKey"] != "sentinel"]
    facts["execution_id"] = sentinel["ExecutionId"] if sentinel else None

    # -- rows
    if sentinel is None:
        say(f"{instance_id}: no sentinel row")
    else:
        if sentinel.get("IsCheckpointComplete") is not True:
            say(f"{instance_id}: sentinel IsCheckpointComplete={sentinel.get('IsCheckpointComplete')!r}")
        if status and status.execution_id and sentinel["ExecutionId"] != status.execution_id:
            say(
                f"{instance_id}: sentinel execution {sentinel['ExecutionId']} but the status row says {status.execution_id}"
            )
    executions = sorted({r.get("ExecutionId") for r in event_rows})
    if len(executions) != 1 or (sentinel is not None and executions != [sentinel["ExecutionId"]]):
        say(f"{instance_id}: history rows of executions {executions} (sentinel: {facts['execution_id']})")
    keys = [r["RowKey"] for r in event_rows]
    if keys != [f"{i:016X}" for i in range(len(keys))]:
        say(f"{instance_id}: RowKeys are not 0…{len(keys) - 1} without gaps: {keys}")
    if len(event_rows) != len(events):
        say(f"{instance_id}: {len(event_rows)} history rows but {len(events)} events loaded")
    stamps = [r.metadata.get("timestamp") for r in event_rows]
    for i in range(1, len(stamps)):
        if stamps[i - 1] and stamps[i] and (stamps[i - 1] - stamps[i]).total_seconds() > ROW_TIMESTAMP_SLACK:
            say(
                f"{instance_id}: row {keys[i - 1]} ({event_rows[i - 1].get('EventType')}) was written at {stamps[i - 1]}, "
                f"after row {keys[i]} at {stamps[i]}: overwritten?"
            )
    for row, event in zip(event_rows, events, strict=False):
        if row.get("EventType") != event.EVENT_TYPE.name:
            say(
                f"{instance_id}: row {row['RowKey']} is {row.get('EventType')}, event is {type(event).__name__}"
            )

    # -- events
    started = [e for e in events if isinstance(e, h.ExecutionStarted)]
    finished = [e for e in events if isinstance(e, h.ExecutionCompleted)]
    if len(started) != 1:
        say(f"{instance_id}: {len(started)} ExecutionStarted events")
    elif facts["execution_id"] and started[0].execution_id != facts["execution_id"]:
        say(f"{instance_id}: ExecutionStarted of {started[0].execution_id}, sentinel {facts['execution_id']}")
    if len(finished) != 1:
        say(f"{instance_id}: {len(finished)} ExecutionCompleted events")
    else:
        done = finished[0]
        if done.orchestration_status is not h.OrchestrationStatus.Completed:
            say(f"{instance_id}: ExecutionCompleted with {done.orchestration_status.name}")
        elif _json(done.result) != expected_output:
            say(f"{instance_id}: ExecutionCompleted result {done.result}, expected {expected_output!r}")
        after = events[events.index(done) + 1 :]
        if any(not isinstance(e, h.OrchestratorCompleted) for e in after):
            say(f"{instance_id}: events after ExecutionCompleted: {[type(e).__name__ for e in after]}")
        row = event_rows[events.index(done)] if len(event_rows) == len(events) else None
        stamp = row.metadata.get("timestamp") if row is not None else None
        facts["completed_at"] = stamp.timestamp() if stamp else done.timestamp.timestamp()

    scheduled = [e for e in events if isinstance(e, _SCHEDULING)]
    ids = [e.event_id for e in scheduled]
    if ids != list(range(len(ids))):
        say(f"{instance_id}: scheduling event ids {ids}, expected 0…{len(ids) - 1} in order")
    kinds = {e.event_id: type(e) for e in scheduled}
    answered: dict[int, int] = defaultdict(int)
    for event in events:
        kind = _ANSWERS.get(type(event))
        if kind is None:
            continue
        target = event.timer_id if isinstance(event, h.TimerFired) else event.task_scheduled_id
        if kinds.get(target) is not kind:
            say(f"{instance_id}: {type(event).__name__} answers {target}, which is {kinds.get(target)}")
        answered[target] += 1
        if isinstance(event, (h.TaskFailed, h.SubOrchestrationInstanceFailed)):
            say(f"{instance_id}: {type(event).__name__}({target}): {event.reason}")
    for event in scheduled:
        if isinstance(event, h.EventSent):
            continue
        if answered[event.event_id] != 1:
            say(
                f"{instance_id}: {type(event).__name__}({event.event_id}) answered {answered[event.event_id]} time(s)"
            )
    episode_start = None
    for event in events:
        if isinstance(event, h.OrchestratorStarted):
            episode_start = event.timestamp
        elif isinstance(event, h.TimerFired) and episode_start is not None:
            early = (event.fire_at - episode_start).total_seconds()
            if early > TIMER_TOLERANCE:
                say(f"{instance_id}: timer {event.timer_id} fired {early:.1f} s early")
    for event in events:
        if isinstance(event, h.TaskScheduled) and event.name == "Step":
            spec = _json(event.input)
            if spec["task"] in facts["tasks"]:
                say(f"{instance_id}: task {spec['task']} scheduled twice")
            facts["tasks"][spec["task"]] = spec["x"]
            if spec["instance"] != instance_id or spec["execution"] != facts["execution_id"]:
                say(
                    f"{instance_id}: task {spec['task']} was scheduled for {spec['instance']}/{spec['execution']}"
                )
    return problems, facts


def check_effects(
    instance_id: str, facts: dict[str, Any], lines: list[dict[str, Any]], faults: Faults
) -> tuple[list[str], list[str]]:
    """(problems, notes) of one instance's side-effect lines against its history ``facts``.

    Notes are tolerated oddities worth reporting (an episode or an activity that ran again after
    a fault)."""
    problems: list[str] = []
    notes: list[str] = []
    execution = facts["execution_id"]
    executions = list(dict.fromkeys(line["execution"] for line in lines))
    if executions != [execution]:
        detail = "; ".join(
            f"{e}: {sorted({(ln['kind'], ln.get('task', '')) for ln in lines if ln['execution'] == e})} "
            f"pids {sorted({ln['pid'] for ln in lines if ln['execution'] == e})}"
            for e in executions
        )
        problems.append(
            f"{instance_id}: the orchestration ran with {len(executions)} execution id(s) {executions}; "
            f"history keeps {execution} ({detail})"
        )
    completed_at = facts["completed_at"]
    t0 = min((ln["t"] for ln in lines), default=0.0)
    runs: dict[str, list[dict[str, Any]]] = defaultdict(list)
    schedules: dict[str, list[dict[str, Any]]] = defaultdict(list)
    finished: dict[tuple[int, str], list[float]] = defaultdict(list)
    for line in lines:
        if line["kind"] == "activity":
            runs[line["task"]].append(line)
        elif line["kind"] == "schedule":
            schedules[line["task"]].append(line)
        elif line["kind"] == "activity-done":
            finished[(line["pid"], line["task"])].append(line["t"])

    def done(run: dict[str, Any]) -> float | None:
        """When ``run`` returned (the first "activity-done" of its process and task after it)."""
        return min((t for t in finished[(run["pid"], run["task"])] if t >= run["t"]), default=None)

    # the body: ran live at least once; never after the completion was durable
    starts = [ln for ln in lines if ln["kind"] == "orchestrator-start"]
    ends = [ln for ln in lines if ln["kind"] == "orchestrator-end"]
    if not starts or not ends:
        problems.append(
            f"{instance_id}: body ran live {len(starts)} time(s) to its start, {len(ends)} to its end"
        )
    if len(starts) > 1 or len(ends) > 1:
        notes.append(
            f"{instance_id}: body ran live {len(starts)}× from its start (pids {[ln['pid'] for ln in starts]}), "
            f"{len(ends)}× to its end (pids {[ln['pid'] for ln in ends]})"
        )
    if completed_at is not None:
        for line in lines:
            if line["kind"] in ("orchestrator-start", "orchestrator-end", "schedule") and (
                line["t"] > completed_at + AFTER_COMPLETION_MARGIN
            ):
                problems.append(
                    f"{instance_id}: {line['kind']} {line.get('task', '')} in pid {line['pid']} "
                    f"{line['t'] - completed_at:.1f} s after the instance's completion was durable: "
                    "the body ran again after completing"
                )

    # tasks: each one history has ran, with its input; nothing else ran
    for task in facts["tasks"]:
        if not runs.get(task):
            problems.append(f"{instance_id}: task {task} is in history but no activity run of it was logged")
    for task in set(schedules) - set(facts["tasks"]):
        problems.append(
            f"{instance_id}: task {task} was scheduled (pids {[ln['pid'] for ln in schedules[task]]}) "
            "but history has no such task"
        )
    for task, task_runs in runs.items():
        if task not in facts["tasks"]:
            problems.append(
                f"{instance_id}: activity {task} ran ({[(r['pid'], r['execution'][:8]) for r in task_runs]}) "
                "but history has no such task"
            )
            continue
        for run in task_runs:
            if run["input"] != facts["tasks"][task]:
                problems.append(
                    f"{instance_id}: {task} ran with input {run['input']}, history says {facts['tasks'][task]}"
                )

        # an episode that scheduled the task again sent another copy of its work item
        sent = sorted(schedules.get(task, []), key=lambda ln: ln["t"])
        if len(sent) > 1:
            why = [
                faults.disturbed(ln["pid"], ln["t"], ln["t"]) or "no fault: a stale or stolen episode"
                for ln in sent[:-1]
            ]
            notes.append(
                f"{instance_id}: task {task} scheduled live {len(sent)}× "
                f"(pid, +s: {[(ln['pid'], round(ln['t'] - t0, 1)) for ln in sent]}); earlier episode(s): {why}"
            )

        # a run beyond the first needs a cause: a second work item, or a disturbed earlier run
        task_runs = sorted(task_runs, key=lambda r: r["t"])
        for n, run in enumerate(task_runs[1:], start=1):
            copies = sum(2 if faults.outage_at(ln["t"]) else 1 for ln in sent if ln["t"] <= run["t"])
            reasons = [faults.disturbed(p["pid"], p["t"], done(p)) for p in task_runs[:n]]
            reason = next((f"an earlier run was disturbed: {r}" for r in reasons if r), None)
            if reason is None and n < copies:
                reason = (
                    f"the task was scheduled {sum(1 for ln in sent if ln['t'] <= run['t'])}× by then "
                    f"({copies} possible work items: one each, two if sent as storage went down)"
                )
            where = f"run #{n + 1} of {task} in pid {run['pid']} at +{run['t'] - t0:.1f} s"
            if reason is None:
                earlier = [(p["pid"], round(p["t"] - t0, 1)) for p in task_runs[:n]]
                scheduled_by = [(ln["pid"], round(ln["t"] - t0, 1)) for ln in sent]
                problems.append(
                    f"{instance_id}: {where}, but no fault touched the earlier run(s) {earlier} and its "
                    f"schedulings {scheduled_by} allow only {copies} work item(s) (pid, +s): "
                    "a duplicate activity run without cause"
                )
                if completed_at is not None and run["t"] > completed_at + AFTER_COMPLETION_MARGIN:
                    problems.append(f"{instance_id}: {where} started after the instance completed")
            else:
                notes.append(f"{instance_id}: {where}: tolerated, {reason}")
    return problems, notes


def progress_points(lines: list[dict[str, Any]], end: float | None) -> list[float]:
    """When an instance visibly moved on (an activity or its body ran, up to ``end``)."""
    limit = end if end is not None else float("inf")
    return sorted(ln["t"] for ln in lines if ln["t"] <= limit) + ([end] if end is not None else [])


async def check_exactly_once(
    hub: ws.Hub,
    expected: dict[str, Any],
    effects: list[dict[str, Any]],
    faults: Faults,
    monitor: StatusMonitor | None,
) -> tuple[list[str], list[str]]:
    """(problems, notes) over every instance of ``expected`` (instance id → output)."""
    problems: list[str] = []
    notes: list[str] = []
    present = {s.instance_id for s in await hub.client.get_status_by()}
    if present != set(expected):
        problems.append(
            f"instances in the hub {sorted(present - set(expected))} not expected; "
            f"{sorted(set(expected) - present)} missing"
        )
    by_instance: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for line in effects:
        by_instance[line["instance"]].append(line)
    strays = sorted(set(by_instance) - set(expected))
    if strays:
        problems.append(f"effects logged for unknown instances {strays}")
    for instance_id, output in sorted(expected.items()):
        found, facts = await check_history(hub, instance_id, output)
        problems += found
        if facts["execution_id"] is not None:
            found, remarks = check_effects(instance_id, facts, by_instance.get(instance_id, []), faults)
            problems += found
            notes += remarks
    if monitor is not None:
        problems += monitor.regressions()
    return problems, notes


async def describe_instance(
    hub: ws.Hub,
    instance_id: str,
    effects: list[dict[str, Any]],
    t0: float,
    monitor: StatusMonitor | None = None,
) -> str:
    """Status, history (events and raw rows), status transitions and effect lines of one instance."""
    out = []
    try:
        status = await hub.client.get_status(instance_id)
        out.append(
            f"== {instance_id}: {status.runtime_status.value if status else 'missing'} "
            f"exec={getattr(status, 'execution_id', None)} output={getattr(status, 'output', None)!r}"
        )
        events = await hub.client.get_history(instance_id)
        out.append(
            "   history: "
            + " ".join(
                f"{type(e).__name__}({e.event_id}"
                + (f"/{e.task_scheduled_id}" if hasattr(e, "task_scheduled_id") else "")
                + (f"/{e.timer_id}" if hasattr(e, "timer_id") else "")
                + ")"
                for e in events
            )
        )
        rows = await hub.raw.history_rows(hub.name, instance_id)
        out.append(
            "   rows: "
            + " ".join(
                f"{r['RowKey'][-3:]}:{r.get('EventType')}:{str(r.get('ExecutionId'))[:8]}@"
                f"{r.metadata['timestamp'].timestamp() - t0:+.2f}"
                for r in rows
                if r.metadata.get("timestamp")
            )
        )
    except Exception as error:  # diagnostics must not hide the failure they describe
        out.append(f"   (could not read: {error!r})")
    if monitor is not None:
        out.append(f"   statuses seen: {monitor.transitions(instance_id)}")
    for line in effects:
        if line["instance"] == instance_id:
            out.append(
                f"   {line['t'] - t0:+8.2f} pid {line['pid']} {line['kind']:<18} {line.get('task', '')!s:<6} "
                f"exec={line['execution'][:8]} input={line.get('input', '')}"
            )
    return "\n".join(out)


def problem_instances(problems: list[str], known: set[str]) -> list[str]:
    """Instance ids named at the start of problem lines (``"<id>: ..."``)."""
    named = {p.split(":", 1)[0] for p in problems}
    return sorted(named & known)
