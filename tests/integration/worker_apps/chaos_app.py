"""The function app of the fault tests (test_chaos.py, test_storage_outage.py): chains, fan-outs,
timers, sub-orchestrations and external events, every one leaving a side-effect trail.

Each activity run appends one JSON line to the file named by the environment variable
``DURABLE_AZURE_EFFECTS_LOG`` (``kind="activity"`` when it starts, ``"activity-done"`` just before
it returns), with the instance id, execution id, task name and input the orchestrator passed it
and the pid of the worker process that ran it. Orchestrators append ``"orchestrator-start"`` /
``"orchestrator-end"`` lines when their body runs live (not replaying), and a ``"schedule"`` line
for each activity they schedule live, so the checks in ``exactly_once.py`` can tell an activity
run from a second copy of its work item (an episode that ran twice) from one without cause, and
see a body that runs again after its instance completed. Lines are written
with one ``write(2)`` on an ``O_APPEND`` descriptor, so concurrent processes never interleave them
and a ``kill -9`` loses nothing already written.

Outputs are a pure function of the input (``step_value``), so a test can compute every expected
output without running anything.
"""

from __future__ import annotations

import json
import os
import time
from datetime import timedelta
from typing import Any

import durable_azure as df

EFFECTS_ENV = "DURABLE_AZURE_EFFECTS_LOG"

app = df.DFApp()


def step_value(x: int) -> int:
    """What ``Step`` returns for input ``x``."""
    return 2 * x + 1


def record(kind: str, **fields: Any) -> None:
    """Append one line to the effects log (a no-op when the variable is not set)."""
    path = os.environ.get(EFFECTS_ENV)
    if not path:
        return
    line = json.dumps({"t": time.time(), "pid": os.getpid(), "kind": kind, **fields}, sort_keys=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode("utf-8"))
    finally:
        os.close(fd)


def mark(context: df.DurableOrchestrationContext, kind: str) -> None:
    """Record that the orchestrator body reached a point live (never while replaying)."""
    if not context.is_replaying:
        record(kind, instance=context.instance_id, execution=context.execution_id, name=context.name)


def step(context: df.DurableOrchestrationContext, task: str, x: int, delay: float) -> Any:
    """Schedule ``Step`` for ``task`` with input ``x``; the activity learns who called it.

    A live (not replaying) scheduling is logged as ``"schedule"``: the episode running it sends one
    work item for the task, so an activity may legitimately run once per such line."""
    if not context.is_replaying:
        record("schedule", instance=context.instance_id, execution=context.execution_id, task=task, input=x)
    return context.call_activity(
        "Step",
        {
            "instance": context.instance_id,
            "execution": context.execution_id,
            "task": task,
            "x": x,
            "delay": delay,
        },
    )


# ---------------------------------------------------------------------------- activities


@app.activity_trigger(input_name="spec")
def Step(spec: dict[str, Any]) -> int:
    """The side effect: one line when it starts, one when it is about to return."""
    who = {
        "instance": spec["instance"],
        "execution": spec["execution"],
        "task": spec["task"],
        "input": spec["x"],
    }
    record("activity", **who)
    time.sleep(spec["delay"])
    record("activity-done", **who)
    return step_value(spec["x"])


# ---------------------------------------------------------------------------- orchestrators


@app.orchestration_trigger(context_name="context")
def ChaosChain(context: df.DurableOrchestrationContext):
    """``steps`` activities in sequence, each fed the previous one's result."""
    spec = context.get_input()
    mark(context, "orchestrator-start")
    x, results = spec.get("seed", 1), []
    for n in range(spec["steps"]):
        x = yield step(context, f"s{n}", x, spec["delay"])
        results.append(x)
    mark(context, "orchestrator-end")
    return results


@app.orchestration_trigger(context_name="context")
def ChaosFanOut(context: df.DurableOrchestrationContext):
    """``width`` activities at once, then one more fed their sum."""
    spec = context.get_input()
    mark(context, "orchestrator-start")
    parts = yield context.task_all([step(context, f"f{i}", i, spec["delay"]) for i in range(spec["width"])])
    total = yield step(context, "sum", sum(parts), spec["delay"])
    mark(context, "orchestrator-end")
    return {"parts": parts, "total": total}


@app.orchestration_trigger(context_name="context")
def ChaosTimer(context: df.DurableOrchestrationContext):
    """Activity, durable timer of ``seconds``, activity."""
    spec = context.get_input()
    mark(context, "orchestrator-start")
    before = yield step(context, "before", 3, spec["delay"])
    yield context.create_timer(context.current_utc_datetime + timedelta(seconds=spec["seconds"]))
    after = yield step(context, "after", before, spec["delay"])
    mark(context, "orchestrator-end")
    return [before, after]


@app.orchestration_trigger(context_name="context")
def ChaosParent(context: df.DurableOrchestrationContext):
    """Activity, a ``ChaosChain`` sub-orchestration (instance id ``{id}-child``), activity."""
    spec = context.get_input()
    mark(context, "orchestrator-start")
    first = yield step(context, "a", 5, spec["delay"])
    child = yield context.call_sub_orchestrator(
        "ChaosChain",
        {"steps": spec["child_steps"], "delay": spec["delay"], "seed": first},
        instance_id=f"{context.instance_id}-child",
    )
    last = yield step(context, "b", child[-1], spec["delay"])
    mark(context, "orchestrator-end")
    return {"first": first, "child": child, "last": last}


@app.orchestration_trigger(context_name="context")
def ChaosEvents(context: df.DurableOrchestrationContext):
    """Activity, wait for the external event "go" (an int), activity fed the event's value."""
    spec = context.get_input()
    mark(context, "orchestrator-start")
    first = yield step(context, "a", 7, spec["delay"])
    go = yield context.wait_for_external_event("go")
    last = yield step(context, "b", go, spec["delay"])
    mark(context, "orchestrator-end")
    return [first, go, last]


# ---------------------------------------------------------------------------- expected outputs


def expected_chain(steps: int, seed: int = 1) -> list[int]:
    results, x = [], seed
    for _ in range(steps):
        x = step_value(x)
        results.append(x)
    return results


def expected_output(name: str, spec: dict[str, Any], event: int | None = None) -> Any:
    """The output an instance of orchestrator ``name`` started with ``spec`` must end with."""
    if name == "ChaosChain":
        return expected_chain(spec["steps"], spec.get("seed", 1))
    if name == "ChaosFanOut":
        parts = [step_value(i) for i in range(spec["width"])]
        return {"parts": parts, "total": step_value(sum(parts))}
    if name == "ChaosTimer":
        before = step_value(3)
        return [before, step_value(before)]
    if name == "ChaosParent":
        first = step_value(5)
        child = expected_chain(spec["child_steps"], first)
        return {"first": first, "child": child, "last": step_value(child[-1])}
    if name == "ChaosEvents":
        assert event is not None
        return [step_value(7), event, step_value(event)]
    raise ValueError(name)
