"""The DF management API of a served app, over HTTP: control, purge, list paging, entities and errors."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

pytestmark = pytest.mark.e2e

LONG_APPROVAL = {"requestId": "r", "timeoutSeconds": 3600}


def _start_waiting(api: Any) -> dict[str, Any]:
    """An approval that waits (an hour) for its event: a reliably Running instance."""
    payload = api.start("approval_workflow", LONG_APPROVAL)
    api.until(
        lambda: any(e["EventType"] == "TimerCreated" for e in api.history(payload)), what="the approval timer"
    )
    return payload


def test_terminate(api: Any) -> None:
    payload = _start_waiting(api)
    response = api.http.post(api.fill(payload["terminatePostUri"], text="no longer needed"))
    assert response.status_code == 202
    status = api.wait_done(payload)
    assert status["runtimeStatus"] == "Terminated"
    assert status["output"] == "no longer needed"
    again = api.http.post(api.fill(payload["terminatePostUri"], text="again"))
    assert again.status_code == 410


def test_suspend_and_resume(api: Any) -> None:
    payload = _start_waiting(api)
    assert api.http.post(api.fill(payload["suspendPostUri"], text="pause")).status_code == 202
    suspended = api.wait_for(payload, {"Suspended"})
    assert suspended["runtimeStatus"] == "Suspended"
    assert api.status(payload).status_code == 202  # still "running" for pollers
    event = api.http.post(
        api.fill(payload["sendEventPostUri"], eventName="ApprovalEvent"),
        json={"approved": False, "approver": "bob"},
    )
    assert event.status_code == 202  # kept until resumed
    assert api.status(payload).json()["runtimeStatus"] == "Suspended"
    assert api.http.post(api.fill(payload["resumePostUri"], text="go")).status_code == 202
    status = api.wait_done(payload)
    assert status["runtimeStatus"] == "Completed"
    assert status["output"] == {"requestId": "r", "outcome": "Rejected", "approver": "bob"}


def test_purge(api: Any) -> None:
    payload = api.start("hello_cities")
    api.wait_done(payload)
    response = api.http.delete(payload["purgeHistoryDeleteUri"])
    assert response.status_code == 200 and response.json() == {"instancesDeleted": 1}
    assert api.status(payload).status_code == 404
    assert api.http.delete(payload["purgeHistoryDeleteUri"]).status_code == 404


def test_restart(api: Any) -> None:
    payload = api.start("hello_cities", ["Rome"])
    api.wait_done(payload)
    response = api.http.post(payload["restartPostUri"])
    assert response.status_code == 202
    restarted = response.json()
    assert restarted["id"] != payload["id"]
    status = api.wait_done(restarted)
    assert status["output"] == ["Hello Rome!"]


def test_start_through_the_api_with_wait(api: Any) -> None:
    response = api.http.post(
        api.mgmt("orchestrators/fan_out_fan_in?timeout=20&pollingInterval=0.2"), json={"count": 3}
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"items": 3, "sum": 14}


def test_start_with_chosen_instance_id(api: Any) -> None:
    instance_id = f"chosen-{uuid.uuid4().hex[:8]}"
    response = api.http.post(api.mgmt(f"orchestrators/hello_cities/{instance_id}"), json=["Kyiv"])
    assert response.status_code == 202
    assert response.json()["id"] == instance_id
    assert api.wait_done(response.json())["output"] == ["Hello Kyiv!"]


def test_history_and_input_flags(api: Any) -> None:
    payload = api.start("hello_cities", ["Nice"])
    api.wait_done(payload)
    plain = api.status(payload).json()
    assert "historyEvents" not in plain and plain["input"] == ["Nice"]
    no_input = api.status(payload, showInput="false").json()
    assert no_input["input"] is None
    history = api.status(payload, showHistory="true").json()["historyEvents"]
    assert [e["EventType"] for e in history] == ["ExecutionStarted", "TaskCompleted", "ExecutionCompleted"]
    assert "Result" not in history[1]
    with_output = api.status(payload, showHistory="true", showHistoryOutput="true").json()["historyEvents"]
    assert with_output[1]["Result"] == "Hello Nice!"


def test_list_with_paging(api: Any) -> None:
    prefix = f"page-{uuid.uuid4().hex[:8]}-"
    ids = [f"{prefix}{i}" for i in range(5)]
    for instance_id in ids:
        assert (
            api.http.post(api.mgmt(f"orchestrators/hello_cities/{instance_id}"), json=["X"]).status_code
            == 202
        )
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        headers = {"x-ms-continuation-token": token} if token else {}
        response = api.http.get(
            api.mgmt("instances/"), params={"instanceIdPrefix": prefix, "top": 2}, headers=headers
        )
        assert response.status_code == 200
        assert "x-ms-continuation-token" in response.headers
        page = response.json()
        assert len(page) <= 2
        seen += [s["instanceId"] for s in page]
        pages += 1
        token = response.headers["x-ms-continuation-token"]
        if not token:
            break
    assert sorted(seen) == ids and pages >= 3
    for instance_id in ids:
        api.wait_done({"id": instance_id, "statusQueryGetUri": api.mgmt(f"instances/{instance_id}")})
    done = api.http.get(
        api.mgmt("instances"), params={"instanceIdPrefix": prefix, "runtimeStatus": "Completed,Failed"}
    ).json()
    assert sorted(s["instanceId"] for s in done) == ids
    running = api.http.get(
        api.mgmt("instances"), params={"instanceIdPrefix": prefix, "runtimeStatus": "Running"}
    )
    assert running.json() == []


def test_entities_through_the_api(api: Any) -> None:
    key = f"m-{uuid.uuid4().hex[:8]}"
    assert api.http.get(api.mgmt(f"entities/Counter/{key}")).status_code == 404
    assert api.http.post(api.mgmt(f"entities/Counter/{key}?op=add"), json=4).status_code == 202
    assert api.http.post(api.mgmt(f"entities/Counter/{key}?op=add"), json=3).status_code == 202
    api.until(lambda: api.http.get(api.mgmt(f"entities/Counter/{key}")).text == "7", what="counter = 7")
    listed = api.http.get(api.mgmt("entities/Counter"), params={"fetchState": "true", "top": 1000}).json()
    assert {"name": "counter", "key": key} in [e["entityId"] for e in listed]
    assert api.http.delete(api.mgmt(f"entities/Counter/{key}")).status_code == 202
    api.until(lambda: api.http.get(api.mgmt(f"entities/Counter/{key}")).status_code == 404, what="deletion")


def test_the_azure_route_serves_the_same_api(api: Any) -> None:
    payload = api.start("hello_cities")
    api.wait_done(payload)
    response = api.http.get(api.url(f"api/durabletask/instances/{payload['id']}"))
    assert response.status_code == 200 and response.json()["runtimeStatus"] == "Completed"
    started = api.http.post(api.url("api/durabletask/orchestrators/hello_cities"))
    assert started.status_code == 202
    assert started.json()["statusQueryGetUri"].startswith(f"{api.base}/api/durabletask/instances/")


# ---------------------------------------------------------------- errors
def test_unknown_instance_is_404(api: Any) -> None:
    response = api.http.get(api.mgmt("instances/does-not-exist"))
    assert response.status_code == 404 and "does-not-exist" in response.json()["Message"]
    for operation in ("terminate", "suspend", "resume"):
        assert api.http.post(api.mgmt(f"instances/does-not-exist/{operation}")).status_code == 404
    assert api.http.post(api.mgmt("instances/does-not-exist/raiseEvent/E"), json=1).status_code == 404


def test_unknown_function_names_are_400(api: Any) -> None:
    response = api.http.post(api.url("api/orchestrators/NoSuchOrchestrator"))
    assert response.status_code == 400
    assert "doesn't exist, is disabled, or is not an orchestrator function" in response.json()["Message"]
    response = api.http.post(api.mgmt("orchestrators/NoSuchOrchestrator"))
    assert response.status_code == 400
    assert "NoSuchOrchestrator" in response.json()["ExceptionMessage"]
    response = api.http.post(api.mgmt("entities/NoSuchEntity/k?op=add"), json=1)
    assert response.status_code == 400
    assert "is not an entity function" in response.json()["ExceptionMessage"]


@pytest.mark.parametrize("body", [b"{not json", b'{"a": ', b"\xff"])
def test_malformed_bodies_are_400(api: Any, body: bytes) -> None:
    json_header = {"content-type": "application/json"}
    assert api.http.post(api.url("api/orchestrators/hello_cities"), content=body).status_code == 400
    response = api.http.post(api.mgmt("orchestrators/hello_cities"), content=body, headers=json_header)
    assert response.status_code == 400 and response.json()["Message"] == "Invalid JSON content"
    assert api.http.post(api.url("api/counters/x/add"), content=body).status_code == 400


def test_bad_event_content_and_parameters_are_400(api: Any) -> None:
    payload = _start_waiting(api)
    url = api.fill(payload["sendEventPostUri"], eventName="ApprovalEvent")
    response = api.http.post(url, content=b"yes", headers={"content-type": "text/plain"})
    assert response.status_code == 400
    assert response.json() == {"Message": "Only application/json request content is supported"}
    response = api.http.post(url, content=b"{bad", headers={"content-type": "application/json"})
    assert response.status_code == 400
    for params in ({"top": "0"}, {"runtimeStatus": "Sleeping"}, {"createdTimeFrom": "yesterday"}):
        assert api.http.get(api.mgmt("instances"), params=params).status_code == 400
    assert api.http.get(api.mgmt("instances/x"), params={"showHistory": "perhaps"}).status_code == 400
    assert api.http.post(api.mgmt("orchestrators/hello_cities/@bad-id")).status_code == 400
    assert api.http.delete(api.mgmt("instances/")).status_code == 400
    api.http.post(api.fill(payload["terminatePostUri"], text="cleanup"))


def test_timeline_page(api: Any) -> None:
    payload = api.start("hello_cities")
    api.wait_done(payload)
    response = api.http.get(api.url(f"durable/instances/{payload['id']}"))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert payload["id"] in response.text and "say_hello" in response.text
    assert api.http.get(api.url("durable/instances/no-such-instance")).status_code == 404
