"""Sample function app: the six Durable Functions patterns, run by durable-azure.

Start it with ``durable-azure serve`` (or ``func start``), then see the README for curl commands.
Every orchestration is started the same way: ``POST /api/orchestrators/{functionName}`` with an
optional JSON body as input, answered by the standard 202 check-status response.

The HTTP functions use auth level ``function`` (the ``DFApp`` default): in Azure callers pass a
function key (``?code=`` or ``x-functions-key``); ``durable-azure serve`` on 127.0.0.1 needs none.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta, timezone
from typing import Any

import azure.functions as func

import durable_azure as df

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)
# In Azure, the host reserves /runtime/: serve the management API at /api/durabletask/... and run the
# engine in the background, supervised by a timer. Locally, `durable-azure serve` runs the engine itself.
df.enable_azure_hosting(app)


_MAX_JSON_DEPTH = 64


def _json_error(status_code: int, message: str) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps({"Message": message}), status_code=status_code, mimetype="application/json"
    )


def _depth(value: Any) -> int:
    """How deeply lists and dicts nest in ``value`` (iteratively: no recursion limit to hit)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, (list, dict)):
            deepest = max(deepest, level)
            stack.extend((child, level + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def _finite(text: str) -> float:
    number = float(text)
    if number in (float("inf"), float("-inf")) or number != number:
        raise ValueError(f"{text} is not a finite number")
    return number


def _json_input(req: func.HttpRequest, default: Any = None) -> tuple[Any, func.HttpResponse | None]:
    """The request's JSON body (``default`` when empty), or a 400 response explaining what is wrong."""
    body = req.get_body()
    if not body.strip():
        return default, None
    try:
        value = json.loads(body, parse_float=_finite, parse_constant=_finite)  # no NaN/Infinity
        json.dumps(value, ensure_ascii=False).encode("utf-8")  # lone surrogates cannot be stored
    except (ValueError, RecursionError) as e:  # not UTF-8, not JSON, or absurdly deep
        return None, _json_error(400, f"The request body is not valid JSON: {e}")
    if _depth(value) > _MAX_JSON_DEPTH:
        return None, _json_error(400, f"The request body nests deeper than {_MAX_JSON_DEPTH} levels.")
    return value, None


# ---------------------------------------------------------------- HTTP starter
@app.route(route="orchestrators/{functionName}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def http_start(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """Start any orchestrator; the JSON body (optional) is its input."""
    function_name = req.route_params["functionName"]
    client_input, problem = _json_input(req)
    if problem is not None:
        return problem
    try:
        instance_id = await client.start_new(function_name, None, client_input)
    except df.FunctionNotFoundError as e:
        return _json_error(400, str(e))
    logging.info("Started orchestration %s with ID %s", function_name, instance_id)
    return client.create_check_status_response(req, instance_id)


# ---------------------------------------------------------------- 1. Function chaining
@app.orchestration_trigger(context_name="context")
def hello_cities(context: df.DurableOrchestrationContext):
    """E1_HelloSequence: greet cities one after the other (input: optional list of cities)."""
    cities = context.get_input() or ["Tokyo", "Seattle", "London"]
    outputs = []
    for city in cities:
        outputs.append((yield context.call_activity(say_hello, city)))
    return outputs


@app.activity_trigger(input_name="city")
def say_hello(city: str) -> str:
    return f"Hello {city}!"


@app.orchestration_trigger(context_name="context")
def function_chaining(context: df.DurableOrchestrationContext):
    """F1 → F2 → F3 → F4, each step's output is the next step's input (input: a number, default 1)."""
    x = yield context.call_activity(F1, context.get_input() or 1)
    y = yield context.call_activity(F2, x)
    z = yield context.call_activity(F3, y)
    return (yield context.call_activity(F4, z))


@app.activity_trigger(input_name="value")
def F1(value: int) -> int:
    return value + 1


@app.activity_trigger(input_name="value")
def F2(value: int) -> int:
    return value * 2


@app.activity_trigger(input_name="value")
def F3(value: int) -> int:
    return value - 3


@app.activity_trigger(input_name="value")
def F4(value: int) -> str:
    return f"F4({value})"


# ---------------------------------------------------------------- 2. Fan-out/fan-in
@app.orchestration_trigger(context_name="context")
def fan_out_fan_in(context: df.DurableOrchestrationContext):
    """Process a batch of work items in parallel and sum the results (input: {"count": n}, default 10)."""
    count = (context.get_input() or {}).get("count", 10)
    work_batch = yield context.call_activity(get_work_batch, count)
    results = yield context.task_all([context.call_activity(process_item, item) for item in work_batch])
    return {"items": len(results), "sum": sum(results)}


@app.activity_trigger(input_name="count")
def get_work_batch(count: int) -> list[int]:
    return list(range(1, int(count) + 1))


@app.activity_trigger(input_name="item")
def process_item(item: int) -> int:
    return item * item


# ---------------------------------------------------------------- 3. Monitor
@app.orchestration_trigger(context_name="context")
def monitor_job(context: df.DurableOrchestrationContext):
    """Poll a job's status on a durable timer until it completes or the monitor expires.

    Input: {"jobId": str, "pollingIntervalSeconds": 30, "expirySeconds": 3600, "readyAfterSeconds": 0}
    (``readyAfterSeconds`` simulates how long the job takes).
    """
    job = context.get_input() or {}
    job_id = job.get("jobId", "job-1")
    interval = timedelta(seconds=float(job.get("pollingIntervalSeconds", 30)))
    started = context.current_utc_datetime
    expiry = started + timedelta(seconds=float(job.get("expirySeconds", 3600)))
    ready_at = started + timedelta(seconds=float(job.get("readyAfterSeconds", 0)))
    checks = 0
    while context.current_utc_datetime < expiry:
        checks += 1
        status = yield context.call_activity(
            check_job_status, {"jobId": job_id, "readyAt": ready_at.isoformat()}
        )
        context.set_custom_status({"checks": checks, "lastStatus": status})
        if status == "Completed":
            yield context.call_activity(send_alert, f"Job {job_id} completed")
            return {"jobId": job_id, "status": "Completed", "checks": checks}
        yield context.create_timer(min(context.current_utc_datetime + interval, expiry))
    return {"jobId": job_id, "status": "Expired", "checks": checks}


@app.activity_trigger(input_name="job")
def check_job_status(job: dict[str, Any]) -> str:
    """Stands in for a call to an external system: Completed once ``readyAt`` has passed."""
    ready_at = datetime.fromisoformat(job["readyAt"])
    return "Completed" if datetime.now(timezone.utc) >= ready_at else "Running"


@app.activity_trigger(input_name="message")
def send_alert(message: str) -> str:
    logging.info("ALERT: %s", message)
    return message


# ---------------------------------------------------------------- 4. Human interaction (approval)
@app.orchestration_trigger(context_name="context")
def approval_workflow(context: df.DurableOrchestrationContext):
    """Ask for approval, then wait for ``ApprovalEvent`` or escalate when the timer (72 h) fires first.

    Input: {"requestId": str, "timeoutSeconds": 259200}; the event data: {"approved": bool, "approver": str}.
    """
    request = context.get_input() or {}
    request_id = request.get("requestId", context.instance_id)
    yield context.call_activity(request_approval, request_id)
    deadline = context.current_utc_datetime + timedelta(
        seconds=float(request.get("timeoutSeconds", 72 * 3600))
    )
    timeout = context.create_timer(deadline)
    approval = context.wait_for_external_event("ApprovalEvent")
    winner = yield context.task_any([approval, timeout])
    if winner == approval:
        timeout.cancel()
        return (
            yield context.call_activity(
                process_approval, {"requestId": request_id, **(approval.result or {})}
            )
        )
    return (yield context.call_activity(escalate, request_id))


@app.activity_trigger(input_name="requestId")
def request_approval(requestId: str) -> str:
    logging.info("Approval requested for %s", requestId)
    return requestId


@app.activity_trigger(input_name="decision")
def process_approval(decision: dict[str, Any]) -> dict[str, Any]:
    outcome = "Approved" if decision.get("approved") else "Rejected"
    return {"requestId": decision["requestId"], "outcome": outcome, "approver": decision.get("approver")}


@app.activity_trigger(input_name="requestId")
def escalate(requestId: str) -> dict[str, Any]:
    return {"requestId": requestId, "outcome": "Escalated", "escalatedTo": "manager"}


# ---------------------------------------------------------------- 5. Durable entity: Counter
@app.entity_trigger(context_name="context")
def Counter(context: df.DurableEntityContext) -> None:
    """A counter: ``add`` (input: a number), ``reset`` and ``get``."""
    current = context.get_state(lambda: 0)
    operation = context.operation_name
    if operation == "add":
        current += context.get_input()
        context.set_state(current)
    elif operation == "reset":
        context.set_state(0)
    elif operation == "get":
        context.set_result(current)


@app.route(route="counters/{key}/{operation}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def counter_signal(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """Signal the counter ``key``: ``add`` (JSON number body, default 1), ``reset`` or ``get``."""
    operation = req.route_params["operation"]
    if operation not in ("add", "reset", "get"):
        return _json_error(400, f"Unknown operation '{operation}'; use add, reset or get.")
    amount: Any = None
    if operation == "add":
        amount, problem = _json_input(req, default=1)
        if problem is not None:
            return problem
        if not isinstance(amount, (int, float)) or isinstance(amount, bool):
            return _json_error(400, "The amount to add must be a number.")
    try:
        counter = df.EntityId("Counter", req.route_params["key"])
    except ValueError as e:
        return _json_error(400, str(e))
    await client.signal_entity(counter, operation, amount)
    return func.HttpResponse(status_code=202)


@app.route(route="counters/{key}", methods=["GET"])
@app.durable_client_input(client_name="client")
async def counter_read(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """The counter's current value, or 404 if it was never signalled."""
    key = req.route_params["key"]
    try:
        counter = df.EntityId("Counter", key)
    except ValueError as e:
        return _json_error(400, str(e))
    state = await client.read_entity_state(counter)
    if not state.entity_exists:
        return _json_error(404, f"Counter '{key}' does not exist.")
    body = json.dumps({"key": key, "value": state.entity_state})
    return func.HttpResponse(body, status_code=200, mimetype="application/json")
