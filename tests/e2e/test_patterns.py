"""The sample app's patterns over HTTP: start → poll statusQueryGetUri → Completed with the expected output."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.e2e


def test_hello_cities(api: Any) -> None:
    payload = api.start("hello_cities")
    status = api.wait_done(payload)
    assert status["runtimeStatus"] == "Completed"
    assert status["output"] == ["Hello Tokyo!", "Hello Seattle!", "Hello London!"]
    assert status["name"] == "hello_cities"
    response = api.status(payload)
    assert response.status_code == 200
    assert "retry-after" not in response.headers


def test_hello_cities_with_input(api: Any) -> None:
    status = api.wait_done(api.start("hello_cities", ["Oslo", "Lima"]))
    assert status["output"] == ["Hello Oslo!", "Hello Lima!"]
    assert status["input"] == ["Oslo", "Lima"]


def test_function_chaining(api: Any) -> None:
    payload = api.start("function_chaining", 5)
    status = api.wait_done(payload)
    assert status["runtimeStatus"] == "Completed"
    assert status["output"] == "F4(9)"  # ((5 + 1) * 2) - 3
    steps = [
        (e["FunctionName"], e["Result"]) for e in api.history(payload) if e["EventType"] == "TaskCompleted"
    ]
    assert steps == [("F1", 6), ("F2", 12), ("F3", 9), ("F4", "F4(9)")]


def test_fan_out_fan_in(api: Any) -> None:
    payload = api.start("fan_out_fan_in", {"count": 10})
    status = api.wait_done(payload)
    assert status["runtimeStatus"] == "Completed"
    assert status["output"] == {"items": 10, "sum": 385}
    completed = [e for e in api.history(payload) if e["EventType"] == "TaskCompleted"]
    assert sum(1 for e in completed if e["FunctionName"] == "process_item") == 10


def test_monitor_until_job_completes(api: Any) -> None:
    job = {"jobId": "job-7", "pollingIntervalSeconds": 0.5, "expirySeconds": 60, "readyAfterSeconds": 1.0}
    payload = api.start("monitor_job", job)
    status = api.wait_done(payload)
    assert status["runtimeStatus"] == "Completed"
    assert status["output"]["jobId"] == "job-7" and status["output"]["status"] == "Completed"
    assert status["output"]["checks"] >= 2  # polled at least once before the job was ready
    assert status["customStatus"]["lastStatus"] == "Completed"
    timers = [e for e in api.history(payload) if e["EventType"] == "TimerFired"]
    assert len(timers) == status["output"]["checks"] - 1


def test_monitor_expires(api: Any) -> None:
    # Queue visibility delays have a 1 s granularity, so a durable timer fires about 1-2 s after it was set.
    job = {"jobId": "never", "pollingIntervalSeconds": 1, "expirySeconds": 5, "readyAfterSeconds": 3600}
    status = api.wait_done(api.start("monitor_job", job))
    assert status["runtimeStatus"] == "Completed"
    assert status["output"]["status"] == "Expired" and status["output"]["checks"] >= 2


def test_approval_approved_via_send_event_uri(api: Any) -> None:
    payload = api.start("approval_workflow", {"requestId": "req-1", "timeoutSeconds": 300})
    running = api.status(payload)
    assert running.status_code == 202 and running.headers["retry-after"] == "5"
    url = api.fill(payload["sendEventPostUri"], eventName="ApprovalEvent")
    response = api.http.post(url, json={"approved": True, "approver": "alice"})
    assert response.status_code == 202, response.text
    status = api.wait_done(payload)
    assert status["runtimeStatus"] == "Completed"
    assert status["output"] == {"requestId": "req-1", "outcome": "Approved", "approver": "alice"}


def test_approval_times_out_and_escalates(api: Any) -> None:
    payload = api.start("approval_workflow", {"requestId": "req-2", "timeoutSeconds": 1})
    status = api.wait_done(payload)
    assert status["runtimeStatus"] == "Completed"
    assert status["output"] == {"requestId": "req-2", "outcome": "Escalated", "escalatedTo": "manager"}
    events = [e["EventType"] for e in api.history(payload)]
    assert "TimerFired" in events and "EventRaised" not in events
    late = api.http.post(
        api.fill(payload["sendEventPostUri"], eventName="ApprovalEvent"), json={"approved": True}
    )
    assert late.status_code == 410


def test_counter_entity(api: Any) -> None:
    key = f"c-{api.server.hub}"
    assert api.http.get(api.url(f"api/counters/{key}")).status_code == 404
    for operation, body in (("add", 5), ("add", 10), ("reset", None), ("add", 7), ("add", None)):
        response = api.http.post(api.url(f"api/counters/{key}/{operation}"), json=body)
        assert response.status_code == 202, response.text

    def value() -> Any:
        response = api.http.get(api.url(f"api/counters/{key}"))
        return response.status_code == 200 and response.json()["value"] == 8 and response.json()

    api.until(value, what="the counter to reach 8")
    # The same state through the management API.
    response = api.http.get(api.mgmt(f"entities/Counter/{key}"))
    assert response.status_code == 200 and response.json() == 8
