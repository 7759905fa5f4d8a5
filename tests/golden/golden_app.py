"""The orchestrations the golden fixtures were "written by": the worker runs them from DTFx's rows."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta
from typing import Any

import durable_azure as df

app = df.DFApp()

_lock = threading.Lock()
calls: Counter[str] = Counter()
"""Activity invocations by ``name:input`` (in this process)."""


@app.activity_trigger(input_name="city")
def GoldenSay(city: str) -> str:
    with _lock:
        calls[f"GoldenSay:{city}"] += 1
    return f"Hello {city}!"


@app.activity_trigger(input_name="text")
def GoldenReverseText(text: str) -> str:
    return text[::-1]


@app.orchestration_trigger(context_name="context")
def GoldenHello(context: df.DurableOrchestrationContext) -> Any:
    greetings = []
    for city in context.get_input():
        greetings.append((yield context.call_activity("GoldenSay", city)))
    return greetings


@app.orchestration_trigger(context_name="context")
def GoldenTimer(context: df.DurableOrchestrationContext) -> Any:
    fire_at = context.current_utc_datetime + timedelta(seconds=context.get_input())
    yield context.create_timer(fire_at)
    return f"timer fired at {fire_at.isoformat()}"


@app.orchestration_trigger(context_name="context")
def GoldenReverse(context: df.DurableOrchestrationContext) -> Any:
    return (yield context.call_activity("GoldenReverseText", context.get_input()))


@app.orchestration_trigger(context_name="context")
def GoldenLength(context: df.DurableOrchestrationContext) -> Any:
    return len(context.get_input())
    yield  # a generator, as orchestrators are


@app.orchestration_trigger(context_name="context")
def GoldenFail(context: df.DurableOrchestrationContext) -> Any:
    yield context.call_activity("GoldenSay", "failing")
    raise ValueError(f"The order {context.get_input()!r} has no lines.")


@app.activity_trigger(input_name="key")
def GoldenBrokenOnce(key: str) -> str:
    """Fails on its first call for ``key`` (the test then rewinds), succeeds afterwards."""
    with _lock:
        calls[f"GoldenBrokenOnce:{key}"] += 1
        first = calls[f"GoldenBrokenOnce:{key}"] == 1
    if first:
        raise RuntimeError(f"{key} is broken once")
    return f"{key} works"


@app.orchestration_trigger(context_name="context")
def GoldenRewindable(context: df.DurableOrchestrationContext) -> Any:
    return (yield context.call_activity("GoldenBrokenOnce", context.get_input()))


@app.orchestration_trigger(context_name="context")
def GoldenCountdown(context: df.DurableOrchestrationContext) -> Any:
    n = context.get_input()
    if n > 0:
        yield context.call_activity("GoldenSay", f"countdown-{n}")
        context.continue_as_new(n - 1)
        return None
    return "liftoff"


@app.activity_trigger(input_name="what")
def GoldenFailing(what: str) -> str:
    raise RuntimeError(f"{what} failed")


@app.orchestration_trigger(context_name="context")
def GoldenRich(context: df.DurableOrchestrationContext) -> Any:
    """One of most things a History holds: a caught activity failure, an external event, a
    sub-orchestration, a timer, then an activity (the fixture stops before its result)."""
    try:
        yield context.call_activity("GoldenFailing", "first")
        caught = None
    except df.ActivityFailedError as error:
        caught = error.message
    approval = yield context.wait_for_external_event("approval")
    child = yield context.call_sub_orchestrator("GoldenHello", ["Rome"], f"{context.instance_id}-child")
    yield context.create_timer(context.current_utc_datetime + timedelta(seconds=1))
    last = yield context.call_activity("GoldenSay", "Oslo")
    return {"caught": caught, "approval": approval, "child": child, "last": last}


@app.orchestration_trigger(context_name="context")
def GoldenParent(context: df.DurableOrchestrationContext) -> Any:
    return (yield context.call_sub_orchestrator("GoldenHello", ["Lyon"], f"{context.instance_id}-child"))


@app.orchestration_trigger(context_name="context")
def GoldenWait(context: df.DurableOrchestrationContext) -> Any:
    return (yield context.wait_for_external_event("go"))


@app.entity_trigger(context_name="context")
def GoldenCounter(context: df.DurableEntityContext) -> None:
    state = context.get_state(lambda: 0) + context.get_input()
    context.set_state(state)
    context.set_result(state)
