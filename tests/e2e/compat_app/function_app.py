"""A function app for the Durable Functions compatibility tests: values of every JSON type and custom
classes through inputs, outputs, activity results, events, entity state and custom status; versions;
durable HTTP calls. Served by ``durable-azure serve`` from a temporary copy (with its own host.json)."""

from __future__ import annotations

import math
from typing import Any

import azure.functions as func

import durable_azure as df
from durable_azure.worker.durable_http import set_token_provider

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


class Point:
    """A custom class as Durable Functions for Python serializes them: to_json/from_json."""

    def __init__(self, x: int, y: int) -> None:
        self.x, self.y = x, y

    @staticmethod
    def to_json(obj: Point) -> dict[str, int]:
        return {"x": obj.x, "y": obj.y}

    @staticmethod
    def from_json(data: dict[str, int]) -> Point:
        return Point(data["x"], data["y"])


def describe(value: Any) -> dict[str, Any]:
    """What arrived: its Python type and, for a Point, its coordinates."""
    if isinstance(value, Point):
        return {"type": "Point", "value": [value.x, value.y]}
    return {"type": type(value).__name__, "value": value}


# ---- plain JSON values (the DF Python client test) -------------------------------------------
@app.orchestration_trigger(context_name="context")
def echo_input(context: df.DurableOrchestrationContext):
    return {**describe(context.get_input()), "version": context.version}


@app.orchestration_trigger(context_name="context")
def wait_event(context: df.DurableOrchestrationContext):
    value = yield context.wait_for_external_event("Go")
    return describe(value)


@app.entity_trigger(context_name="context")
def Recorder(context: df.DurableEntityContext) -> None:
    context.set_state(describe(context.get_input()))


# ---- custom classes everywhere ---------------------------------------------------------------
@app.activity_trigger(input_name="point")
def shift(point: Point) -> Point:
    assert isinstance(point, Point), f"the activity got {type(point).__name__}"
    return Point(point.x + 10, point.y + 10)


@app.entity_trigger(context_name="context")
def Holder(context: df.DurableEntityContext) -> None:
    if context.operation_name == "set":
        context.set_state(context.get_input())
    else:
        context.set_result(context.get_state())


@app.orchestration_trigger(context_name="context")
def points(context: df.DurableOrchestrationContext):
    start = context.get_input()
    context.set_custom_status(Point(start.x, -1))
    shifted = yield context.call_activity("shift", start)
    moved = yield context.wait_for_external_event("Move")
    holder = df.EntityId("Holder", context.instance_id)
    yield context.call_entity(holder, "set", moved)
    held = yield context.call_entity(holder, "get")
    context.set_custom_status({"last": held})
    return {
        "arrived": [describe(v) for v in (start, shifted, moved, held)],
        "result": [start, shifted, moved, held],
    }


@app.route(route="points/start", methods=["POST"])
@app.durable_client_input(client_name="client")
async def points_start(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    instance_id = await client.start_new("points", client_input=Point(1, 2))
    return client.create_check_status_response(req, instance_id)


@app.route(route="points/{instanceId}/move", methods=["POST"])
@app.durable_client_input(client_name="client")
async def points_move(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    await client.raise_event(req.route_params["instanceId"], "Move", Point(7, 8))
    return func.HttpResponse(status_code=202)


# ---- values JSON cannot carry ----------------------------------------------------------------
@app.orchestration_trigger(context_name="context")
def bad_output(context: df.DurableOrchestrationContext):
    kind = context.get_input()
    return {"nan": math.nan, "huge": 2**70, "set": {1, 2}}[kind]


@app.activity_trigger(input_name="kind")
def bad_result(kind: str) -> Any:
    return {"nan": math.inf, "huge": -(2**80), "set": {1, 2}}[kind]


@app.orchestration_trigger(context_name="context")
def bad_activity(context: df.DurableOrchestrationContext):
    try:
        yield context.call_activity("bad_result", context.get_input())
    except df.ActivityFailedError as error:
        return {"error_type": error.error_type, "message": error.message}
    return "no error"


# ---- durable HTTP ----------------------------------------------------------------------------
# Tests inject tokens instead of asking Azure for them.
set_token_provider(lambda scope: f"test-token-for {scope}")


@app.orchestration_trigger(context_name="context")
def http_call(context: df.DurableOrchestrationContext):
    ask = context.get_input()
    token = df.ManagedIdentityTokenSource(ask["resource"]) if ask.get("resource") else None
    try:
        response = yield context.call_http(
            ask.get("method", "GET"),
            ask["uri"],
            content=ask.get("content"),
            headers=ask.get("headers"),
            token_source=token,
            is_raw_str=ask.get("raw", False),
        )
    except df.ActivityFailedError as error:
        return {"error_type": error.error_type, "message": error.message}
    return response
