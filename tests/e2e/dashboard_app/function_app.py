"""The function app the dashboard's browser tests serve: cheap orchestrations, one that waits for an
event, one that fails in an activity, a parent with a sub-orchestration, one on a long timer, and a counter
entity."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import durable_azure as df

app = df.DFApp()


@app.orchestration_trigger(context_name="context")
def Quick(context: df.DurableOrchestrationContext) -> Any:
    return context.get_input()


@app.orchestration_trigger(context_name="context")
def WaitForApproval(context: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
    context.set_custom_status({"stage": "waiting for Approve"})
    approval = yield context.wait_for_external_event("Approve")
    return {"approved": approval}


@app.activity_trigger(input_name="value")
def Boom(value: Any) -> None:
    raise ValueError(f"kaboom: {value}")


@app.orchestration_trigger(context_name="context")
def Fails(context: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
    yield context.call_activity("Boom", context.get_input())


@app.orchestration_trigger(context_name="context")
def Parent(context: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
    child = yield context.call_sub_orchestrator("Quick", {"from": "parent"}, f"{context.instance_id}-child")
    return {"child": child}


@app.entity_trigger(context_name="context")
def Counter(context: df.DurableEntityContext) -> None:
    value = context.get_state(lambda: 0)
    if context.operation_name == "add":
        context.set_state(value + int(context.get_input() or 0))
    elif context.operation_name == "reset":
        context.set_state(0)


@app.orchestration_trigger(context_name="context")
def Sleeper(context: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
    context.set_custom_status("sleeping for an hour")
    yield context.create_timer(context.current_utc_datetime + timedelta(hours=1))
    return "woke up"
