"""Long timers: the history our engine writes is the one Durable Functions for Python would write.

Our executor runs an orchestrator with a long timer episode by episode (each timer taken in a little
after its FireAt, as on a real queue); the finished history is then handed, as the extension hands
it, to azure-functions-durable 1.7.0's own ``Orchestrator`` in its venv (tests/e2e/df_venv.py) with
the extension's long-timer settings (``maximumShortTimerDuration`` 6 days,
``longRunningTimerIntervalDuration`` 3 days, replay schema V3, as
``OrchestrationTriggerAttributeBindingProvider`` sends them). DF must ask for exactly the timers
(same FireAt) and the activity our history recorded, and finish with the same output.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Generator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from app_copies import HERE
from df_venv import df_python

from durable_azure.orchestration import history as h
from durable_azure.orchestration.context import DurableOrchestrationContext
from durable_azure.orchestration.executor import execute

pytestmark = [pytest.mark.e2e]

T = datetime(2026, 3, 1, 8, 30, tzinfo=timezone.utc)
SCRIPT = HERE / "df_long_timer_script.py"


def wait_days(context: DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    """The same orchestrator as ``df_long_timer_script.wait_days``."""
    days = context.get_input()
    deadline = context.current_utc_datetime + timedelta(days=days)
    yield context.create_timer(deadline)
    greeting = yield context.call_activity("Hello", "world")
    return {"greeting": greeting, "late_enough": context.current_utc_datetime >= deadline}


def run_ours(days: int) -> list[h.HistoryEvent]:
    """Episode by episode, every message taken in 1.7 s after it is due; the full history."""
    history: list[h.HistoryEvent] = []
    now = T
    new: list[h.HistoryEvent] = [
        h.OrchestratorStarted(timestamp=now),
        h.ExecutionStarted(
            name="wait_days", instance_id="i", execution_id="e", input=str(days), timestamp=now
        ),
    ]
    for _ in range(50):
        result = execute(wait_days, history, new)
        history += result.new_events
        if result.completion is not None:
            return history
        (action,) = result.actions
        if isinstance(action, h.TimerCreated):
            now = action.fire_at + timedelta(seconds=1.7)
            answer: h.HistoryEvent = h.TimerFired(
                timer_id=action.event_id, fire_at=action.fire_at, timestamp=now
            )
        else:
            assert isinstance(action, h.TaskScheduled)
            now += timedelta(seconds=0.4)
            answer = h.TaskCompleted(task_scheduled_id=action.event_id, result='"hi"', timestamp=now)
        new = [h.OrchestratorStarted(timestamp=now), answer]
    raise AssertionError("the orchestration did not finish")


def df_time(value: datetime) -> str:
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def df_event(event: h.HistoryEvent) -> dict[str, Any]:
    """One history event as the extension hands it to the Python worker (already played)."""
    fields: dict[str, Any] = {}
    if isinstance(event, h.ExecutionStarted):
        fields = {
            "OrchestrationInstance": {"InstanceId": event.instance_id, "ExecutionId": event.execution_id},
            "ParentInstance": None,
            "Name": event.name,
            "Version": "",
            "Input": event.input,
            "Tags": None,
        }
    elif isinstance(event, h.TimerCreated):
        fields = {"FireAt": df_time(event.fire_at)}
    elif isinstance(event, h.TimerFired):
        fields = {"TimerId": event.timer_id, "FireAt": df_time(event.fire_at)}
    elif isinstance(event, h.TaskScheduled):
        fields = {"Name": event.name, "Version": "", "Input": event.input}
    elif isinstance(event, h.TaskCompleted):
        fields = {"TaskScheduledId": event.task_scheduled_id, "Result": event.result}
    elif isinstance(event, h.ExecutionCompleted):
        fields = {"OrchestrationStatus": int(event.orchestration_status), "Result": event.result}
    return {
        "EventType": int(event.EVENT_TYPE),
        "EventId": event.event_id,
        "IsPlayed": True,
        "Timestamp": df_time(event.timestamp),
        **fields,
    }


def leaf_actions(actions: list[Any]) -> list[dict[str, Any]]:
    """DF's action tree (schema V3 wraps a long timer's parts in a compound action), flattened in
    order, as the extension flattens it before DTFx records it."""
    leaves: list[dict[str, Any]] = []
    for action in actions:
        if isinstance(action, list):
            leaves += leaf_actions(action)
        elif action.get("compoundActions"):
            leaves += leaf_actions(action["compoundActions"])
        else:
            leaves.append(action)
    return leaves


@pytest.mark.parametrize("days", [10, 30])
def test_durable_functions_replays_our_split_timer_history_asking_for_the_same_timers(days: int) -> None:
    events = run_ours(days)
    ours = [
        e.fire_at if isinstance(e, h.TimerCreated) else e.name
        for e in events
        if isinstance(e, (h.TimerCreated, h.TaskScheduled))
    ]
    assert len(ours) > 2, ours  # the timer was split
    completed = next(e for e in events if isinstance(e, h.ExecutionCompleted))
    context = {
        "history": [df_event(e) for e in events if not isinstance(e, h.ExecutionCompleted)],
        "input": str(days),
        "instanceId": "i",
        "isReplaying": True,
        "parentInstanceId": None,
        "upperSchemaVersion": 2,
        "upperSchemaVersionNew": 3,
        "maximumShortTimerDuration": "6.00:00:00",
        "longRunningTimerIntervalDuration": "3.00:00:00",
    }
    done = subprocess.run(
        [str(df_python()), str(SCRIPT)],
        input=json.dumps(context),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    state = json.loads(done.stdout.strip().splitlines()[-1])
    theirs = [
        datetime.fromisoformat(a["fireAt"].replace("Z", "+00:00"))
        if a["actionType"] == 5
        else a["functionName"]
        for a in leaf_actions(state["actions"])
    ]
    assert theirs == ours
    assert state["isDone"] is True
    output = state["output"]
    assert (json.loads(output) if isinstance(output, str) else output) == json.loads(
        completed.result or "null"
    )
    assert output  # {"greeting": "hi", "late_enough": true}
