"""The app of the telemetry tests: an HTTP starter and one orchestration with every kind of step.

``Journey`` runs a chain (two ``Hop`` activities), a fan-out (three ``Square``), a sub-orchestration
(``Leg``, itself an activity) and, when its input asks for it, a failing activity, a timer and an
external event. Activities return the pid of the process that ran them, so tests can tell workers apart.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

import azure.functions as func

import durable_azure as df

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="orchestrators/{functionName}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def http_start(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    body = req.get_body()
    instance_id = await client.start_new(
        req.route_params["functionName"], req.params.get("instanceId"), req.get_json() if body else None
    )
    return client.create_check_status_response(req, instance_id)


@app.activity_trigger(input_name="value")
def Hop(value: Any) -> dict[str, Any]:
    return {"value": value, "pid": os.getpid()}


@app.activity_trigger(input_name="n")
def Square(n: int) -> int:
    return n * n


@app.activity_trigger(input_name="message")
def Explode(message: str) -> None:
    raise ValueError(message)


@app.orchestration_trigger(context_name="context")
def Leg(context: df.DurableOrchestrationContext):
    return (yield context.call_activity("Hop", context.get_input()))


@app.orchestration_trigger(context_name="context")
def Journey(context: df.DurableOrchestrationContext):
    options = context.get_input() or {}
    first = yield context.call_activity("Hop", "secret-input-1")
    second = yield context.call_activity("Hop", first["value"] + "-2")
    squares = yield context.task_all([context.call_activity("Square", n) for n in (1, 2, 3)])
    leg = yield context.call_sub_orchestrator("Leg", "leg-input", instance_id=options.get("leg_id"))
    if options.get("timer"):
        yield context.create_timer(context.current_utc_datetime + timedelta(seconds=1))
    if options.get("event"):
        yield context.wait_for_external_event("Go")
    if options.get("fail"):
        yield context.call_activity("Explode", "boom")
    return {"pids": [first["pid"], second["pid"], leg["pid"]], "squares": squares}


@app.orchestration_trigger(context_name="context")
def Waiter(context: df.DurableOrchestrationContext):
    """Waits for ``Go`` twice (one episode per event, so a cache drop in between forces a replay)."""
    first = yield context.wait_for_external_event("Go")
    done = yield context.call_activity("Hop", first)
    second = yield context.wait_for_external_event("Go")
    return [done["value"], second]


@app.entity_trigger(context_name="context")
def Counter(context: df.DurableEntityContext) -> None:
    value = context.get_state(lambda: 0)
    if context.operation_name == "add":
        value += context.get_input()
    elif context.operation_name == "explode":
        raise ValueError("entity boom")
    context.set_state(value)
    context.set_result(value)


@app.orchestration_trigger(context_name="context")
def Repeat(context: df.DurableOrchestrationContext):
    """Three generations: each squares its input, then continues as new (in the episode of the result)."""
    n = context.get_input() or 0
    yield context.call_activity("Square", n)
    if n < 2:
        context.continue_as_new(n + 1)
        return None
    return n
