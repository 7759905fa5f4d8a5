"""The function app the worker and client integration tests run (in-process and in worker subprocesses).

Activities that need per-test state (call counters, "fail N times", gates) key it by a value the
test passes in, so tests sharing this module never see each other's state. Nothing here touches
storage: the worker under test does.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import durable_azure as df

app = df.DFApp()

CITIES = ["Tokyo", "Seattle", "London"]
HELLO_CITIES_OUTPUT = ["Hello Tokyo!", "Hello Seattle!", "Hello London!"]

_lock = threading.Lock()
calls: Counter[str] = Counter()
"""Activity invocations by key (in this process)."""
gates: dict[str, threading.Event] = {}
"""``Gate`` activities block until the test sets the event of their key."""


def count(key: str) -> int:
    """Record one call for ``key``; returns how many calls there were including this one."""
    with _lock:
        calls[key] += 1
        return calls[key]


def gate(key: str) -> threading.Event:
    with _lock:
        return gates.setdefault(key, threading.Event())


# ---------------------------------------------------------------------------- activities


@app.activity_trigger(input_name="city")
def SayHello(city: str) -> str:
    count(f"SayHello:{city}")
    return f"Hello {city}!"


@app.activity_trigger(input_name="n")
def Square(n: int) -> int:
    return n * n


@app.activity_trigger(input_name="n")
async def Increment(n: int) -> int:  # an async activity, awaited on the worker's loop
    return n + 1


@app.activity_trigger(input_name="key")
def Poll(key: str) -> int:
    """Returns how often it has been called for ``key`` (the monitor's "external system")."""
    return count(f"Poll:{key}")


@app.activity_trigger(input_name="spec")
def Flaky(spec: dict[str, Any]) -> str:
    """Fails ``spec["failures"]`` times for ``spec["key"]``, then succeeds."""
    attempt = count(f"Flaky:{spec['key']}")
    if attempt <= spec["failures"]:
        raise ValueError(f"flaky failure #{attempt}")
    return f"succeeded on attempt {attempt}"


@app.activity_trigger(input_name="path")
def NeedsFlag(path: str) -> str:
    """Fails until the flag file exists (the rewind test creates it between failure and rewind)."""
    count(f"NeedsFlag:{path}")
    if not Path(path).exists():
        raise RuntimeError(f"flag file {Path(path).name} is missing")
    return Path(path).read_text(encoding="utf-8")


@app.activity_trigger(input_name="key")
def Gate(key: str) -> str:
    """Blocks (in the activity thread pool) until the test opens the gate of ``key``."""
    count(f"Gate:{key}")
    if not gate(key).wait(timeout=60):
        raise TimeoutError(f"gate {key} was never opened")
    return f"gate {key} passed"


@app.activity_trigger(input_name="delay")
def GetPid(delay: float) -> int:
    time.sleep(delay)
    return os.getpid()


@app.activity_trigger(input_name="step")
def SlowStep(step: dict[str, Any]) -> str:
    time.sleep(step["delay"])
    return f"{step['id']}:{step['n']}"


@app.activity_trigger(input_name="value")
def Echo(value: Any) -> Any:
    return value


@app.activity_trigger(input_name="text")
def Reverse(text: str) -> str:
    return text[::-1]


# ---------------------------------------------------------------------------- orchestrators


@app.orchestration_trigger(context_name="context")
def HelloCities(context: df.DurableOrchestrationContext):
    results = []
    for city in context.get_input() or CITIES:
        results.append((yield context.call_activity("SayHello", city)))
    return results


@app.orchestration_trigger(context_name="context")
def FanOutFanIn(context: df.DurableOrchestrationContext):
    n = context.get_input()
    squares = yield context.task_all([context.call_activity("Square", i) for i in range(n)])
    return {"count": len(squares), "sum": sum(squares)}


@app.orchestration_trigger(context_name="context")
def Monitor(context: df.DurableOrchestrationContext):
    """Polls ``Poll`` every second until it reports ``target``; returns the poll count."""
    spec = context.get_input()
    while True:
        seen = yield context.call_activity("Poll", spec["key"])
        context.set_custom_status({"polls": seen})
        if seen >= spec["target"]:
            return {"polls": seen}
        yield context.create_timer(context.current_utc_datetime + timedelta(seconds=spec["interval"]))


@app.orchestration_trigger(context_name="context")
def Approval(context: df.DurableOrchestrationContext):
    """Human interaction: an "Approval" event raced against a timeout timer."""
    timeout = context.get_input()
    approval = context.wait_for_external_event("Approval")
    timer = context.create_timer(context.current_utc_datetime + timedelta(seconds=timeout))
    context.set_custom_status("waiting for approval")
    winner = yield context.task_any([approval, timer])
    if winner == approval:
        timer.cancel()
        return {"approved": True, "by": approval.result}
    return {"approved": False, "reason": "timed out"}


@app.orchestration_trigger(context_name="context")
def Parent(context: df.DurableOrchestrationContext):
    cities = context.get_input()
    first = yield context.call_sub_orchestrator("HelloCities", cities[:1])
    rest = yield context.call_sub_orchestrator(
        "HelloCities", cities[1:], instance_id=f"{context.instance_id}-child"
    )
    return first + rest


@app.orchestration_trigger(context_name="context")
def FailingChild(context: df.DurableOrchestrationContext):
    yield context.call_activity("SayHello", "child")
    raise KeyError("child went wrong")


@app.orchestration_trigger(context_name="context")
def ParentOfFailingChild(context: df.DurableOrchestrationContext):
    """Catches the child's failure when the input says so, else lets it fail this instance too."""
    catch = context.get_input()
    try:
        yield context.call_sub_orchestrator("FailingChild")
    except df.SubOrchestrationFailedError as error:
        if not catch:
            raise
        return {"type": type(error).__name__, "error_type": error.error_type, "message": error.message}
    return "unreachable"


@app.orchestration_trigger(context_name="context")
def Retrying(context: df.DurableOrchestrationContext):
    spec = context.get_input()
    options = df.RetryOptions(
        first_retry_interval_in_milliseconds=200, max_number_of_attempts=spec["attempts"]
    )
    try:
        result = yield context.call_activity_with_retry("Flaky", options, spec)
    except df.ActivityFailedError as error:
        return {"type": type(error).__name__, "error_type": error.error_type, "message": error.message}
    return {"result": result}


@app.orchestration_trigger(context_name="context")
def CallsMissingActivity(context: df.DurableOrchestrationContext):
    try:
        yield context.call_activity("NoSuchActivity", 1)
    except df.ActivityFailedError as error:
        return {"type": type(error).__name__, "error_type": error.error_type, "message": error.message}
    return "unreachable"


@app.orchestration_trigger(context_name="context")
def Counter10(context: df.DurableOrchestrationContext):
    """``continue_as_new`` loop: one activity per execution, up to 10."""
    n = context.get_input() or 0
    n = yield context.call_activity("Increment", n)
    if n < 10:
        context.continue_as_new(n)
        return None
    return {"final": n, "execution": context.execution_id}


@app.orchestration_trigger(context_name="context")
def Staged(context: df.DurableOrchestrationContext):
    """Publishes custom status while waiting for "go"."""
    context.set_custom_status({"stage": "waiting", "instance": context.instance_id})
    go = yield context.wait_for_external_event("go")
    context.set_custom_status({"stage": "done"})
    return {"go": go}


@app.orchestration_trigger(context_name="context")
def WaitTwice(context: df.DurableOrchestrationContext):
    """Waits for "a", then for "b" (status-row repair tests look at the row in between)."""
    a = yield context.wait_for_external_event("a")
    b = yield context.wait_for_external_event("b")
    return [a, b]


@app.orchestration_trigger(context_name="context")
def WaitForEvent(context: df.DurableOrchestrationContext):
    """Waits for one "e" event and returns its data (terminate/suspend/resume/paging tests)."""
    value = yield context.wait_for_external_event("e")
    return {"got": value}


@app.orchestration_trigger(context_name="context")
def ShortTimer(context: df.DurableOrchestrationContext):
    seconds = context.get_input()
    start = context.current_utc_datetime
    fire_at = start + timedelta(seconds=seconds)
    yield context.create_timer(fire_at)
    return {
        "start": start.isoformat(),
        "fire_at": fire_at.isoformat(),
        "after": context.current_utc_datetime.isoformat(),
    }


@app.orchestration_trigger(context_name="context")
def RewindMe(context: df.DurableOrchestrationContext):
    spec = context.get_input()
    greeting = yield context.call_activity("SayHello", spec["city"])
    flag = yield context.call_activity("NeedsFlag", spec["flag"])
    return [greeting, flag]


@app.orchestration_trigger(context_name="context")
def BigPayload(context: df.DurableOrchestrationContext):
    """Sends a large input through an activity (queue blobs both ways) and returns a large output."""
    data = context.get_input()
    reversed_text = yield context.call_activity("Reverse", data)
    return reversed_text


@app.orchestration_trigger(context_name="context")
def TwoSteps(context: df.DurableOrchestrationContext):
    """Activity, wait for "go", activity (the duplicate-delivery test injects messages in between)."""
    a = yield context.call_activity("SayHello", context.get_input())
    yield context.wait_for_external_event("go")
    b = yield context.call_activity("SayHello", "second")
    return [a, b]


@app.orchestration_trigger(context_name="context")
def GatedOnce(context: df.DurableOrchestrationContext):
    value = yield context.call_activity("Gate", context.get_input())
    return value


@app.orchestration_trigger(context_name="context")
def Pids(context: df.DurableOrchestrationContext):
    """Three activities returning the pid of the worker process that ran them.

    The orchestrator also reports the pid of the process that ran its final episode; that value
    only ends up in the output, never in a scheduling decision, so replay stays deterministic.
    """
    delay = context.get_input()
    pids = []
    for _ in range(3):
        pids.append((yield context.call_activity("GetPid", delay)))
    return {"activities": pids, "orchestrator": os.getpid()}


@app.orchestration_trigger(context_name="context")
def SlowChain(context: df.DurableOrchestrationContext):
    spec = context.get_input()
    results = []
    for n in range(spec["steps"]):
        context.set_custom_status({"step": n})
        results.append(
            (
                yield context.call_activity(
                    "SlowStep", {"id": context.instance_id, "n": n, "delay": spec["delay"]}
                )
            )
        )
    return results


@app.orchestration_trigger(context_name="context")
def Noop(context: df.DurableOrchestrationContext):
    """Not a generator: completes in its first episode with its input as output."""
    return context.get_input()


@app.orchestration_trigger(context_name="context")
def BigCustomStatus(context: df.DurableOrchestrationContext):
    """Sets a custom status of ``input`` characters, then waits for "e"."""
    context.set_custom_status("s" * context.get_input())
    value = yield context.wait_for_external_event("e")
    return value


@app.orchestration_trigger(context_name="context")
def RewindParent(context: df.DurableOrchestrationContext):
    """A sub-orchestration that fails until its flag file exists (rewind of a tree)."""
    spec = context.get_input()
    greeting = yield context.call_activity("SayHello", f"parent-{spec['city']}")
    child = yield context.call_sub_orchestrator("RewindMe", spec, instance_id=f"{context.instance_id}-child")
    return [greeting, *child]


@app.orchestration_trigger(context_name="context")
def CollectEvents(context: df.DurableOrchestrationContext):
    """continue_as_new after each "add" event; events raised meanwhile must not be lost."""
    total = context.get_input() or []
    value = yield context.wait_for_external_event("add")
    total = [*total, value]
    if len(total) < 5:
        context.continue_as_new(total)
        return None
    return total
