"""The DF management API's route handlers against an in-memory client (no storage)."""

from __future__ import annotations

import asyncio
import json
import warnings
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qs, urlsplit

import azure.functions as func
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

with warnings.catch_warnings():  # Starlette 1.x prefers httpx2; httpx works the same here
    warnings.filterwarnings("ignore", message=".*httpx2.*")
    from starlette.testclient import TestClient

from durable_azure.client import DurableOrchestrationStatus, EntityStateResponse, PurgeHistoryResult
from durable_azure.errors import (
    InstanceAlreadyExistsError,
    InstanceNotFoundError,
    InvalidOperationError,
)
from durable_azure.functions.asgi_bridge import call_asgi
from durable_azure.functions.http_client import function_not_found
from durable_azure.functions.management_api import create_management_app
from durable_azure.functions.targets import AppTargets
from durable_azure.orchestration.entity_id import EntityId
from durable_azure.orchestration.status import OrchestrationRuntimeStatus as Status

BASE = "/runtime/webhooks/durabletask"
T0 = datetime(2024, 5, 1, 10, 0, 0, tzinfo=timezone.utc)


class FakeClient:
    """The slice of FunctionsDurableClient the management API uses, in memory."""

    task_hub_name = "FakeHub"

    def __init__(self) -> None:
        self.instances: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[Any, ...]] = []
        self.entities: dict[str, Any] = {}
        self.finish_on_start: Status | None = None
        self.counter = 0

    def add(self, instance_id: str, status: Status, output: Any = None, name: str = "Hello") -> None:
        self.instances[instance_id] = {"name": name, "status": status, "output": output, "input": {"x": 1}}

    def validate_orchestrator(self, name: str) -> None:
        if name not in ("Hello", "Slow"):
            raise function_not_found(name, "orchestrator", ["Hello", "Slow"])

    def validate_entity(self, name: str) -> None:
        if name.lower() != "counter":
            raise function_not_found(name, "entity", ["counter"])

    async def start_new(
        self, name: str, instance_id: str | None = None, client_input: Any = None, version: str | None = None
    ) -> str:
        if instance_id is None:
            self.counter += 1
            instance_id = f"id{self.counter}"
        elif instance_id in self.instances and self.instances[instance_id]["status"] is Status.Running:
            raise InstanceAlreadyExistsError(f"An instance with id '{instance_id}' is already Running.")
        self.calls.append(("start", name, instance_id, client_input))
        status = self.finish_on_start if name == "Hello" and self.finish_on_start else Status.Running
        self.add(instance_id, status, output=f"out:{client_input}", name=name)
        return instance_id

    def _status(
        self, instance_id: str, show_input: bool = True, history: Any = None
    ) -> DurableOrchestrationStatus:
        data = self.instances.get(instance_id)
        if data is None:
            return DurableOrchestrationStatus()
        return DurableOrchestrationStatus(
            name=data["name"],
            instanceId=instance_id,
            createdTime=T0,
            lastUpdatedTime=T0,
            input=data["input"] if show_input else None,
            output=data["output"],
            runtimeStatus=data["status"],
            history=history,
        )

    async def get_status(
        self,
        instance_id: str,
        show_history: bool = False,
        show_history_output: bool = False,
        show_input: bool = False,
    ) -> DurableOrchestrationStatus:
        self.calls.append(("get_status", instance_id, show_history, show_history_output, show_input))
        history = [{"EventType": "ExecutionStarted"}] if show_history else None
        return self._status(instance_id, show_input, history)

    async def list_instances(self, **kwargs: Any) -> tuple[list[DurableOrchestrationStatus], str | None]:
        self.calls.append(("list", kwargs))
        ids = sorted(self.instances)
        if kwargs.get("instance_id_prefix"):
            ids = [i for i in ids if i.startswith(kwargs["instance_id_prefix"])]
        if kwargs.get("runtime_status"):
            ids = [i for i in ids if self.instances[i]["status"] in kwargs["runtime_status"]]
        start = int(kwargs.get("continuation_token") or 0)
        size = kwargs["page_size"]
        page = ids[start : start + size]
        token = str(start + size) if start + size < len(ids) else None
        return [self._status(i, kwargs.get("show_input", False)) for i in page], token

    def _require(self, instance_id: str) -> dict[str, Any]:
        if instance_id not in self.instances:
            raise InstanceNotFoundError(f"No instance '{instance_id}'.")
        return self.instances[instance_id]

    async def raise_event(self, instance_id: str, event_name: str, event_data: Any = None) -> None:
        data = self._require(instance_id)
        if data["status"].is_terminal:
            raise InvalidOperationError("finished")
        self.calls.append(("raise_event", instance_id, event_name, event_data))

    async def _control(self, verb: str, instance_id: str, reason: str | None) -> None:
        data = self._require(instance_id)
        if data["status"].is_terminal:
            raise InvalidOperationError(f"Cannot {verb} a finished instance.")
        self.calls.append((verb, instance_id, reason))

    async def terminate(self, instance_id: str, reason: str | None = None) -> None:
        await self._control("terminate", instance_id, reason)

    async def suspend(self, instance_id: str, reason: str | None = None) -> None:
        await self._control("suspend", instance_id, reason)

    async def resume(self, instance_id: str, reason: str | None = None) -> None:
        await self._control("resume", instance_id, reason)

    async def rewind(self, instance_id: str, reason: str | None = None) -> None:
        self.calls.append(("rewind", instance_id, reason))

    async def restart(self, instance_id: str, restart_with_new_instance_id: bool = True) -> str:
        data = self._require(instance_id)
        new_id = None if restart_with_new_instance_id else instance_id
        return await self.start_new(data["name"], new_id, data["input"])

    async def purge_instance_history(self, instance_id: str) -> PurgeHistoryResult:
        return PurgeHistoryResult(1 if self.instances.pop(instance_id, None) else 0)

    async def purge_instance_history_by(
        self, created_from: Any, created_to: Any, statuses: Any
    ) -> PurgeHistoryResult:
        self.calls.append(("purge_by", created_from, created_to, statuses))
        doomed = [i for i, d in self.instances.items() if d["status"].is_terminal]
        for i in doomed:
            del self.instances[i]
        return PurgeHistoryResult(len(doomed))

    async def read_entity_state(self, entity_id: EntityId) -> EntityStateResponse:
        if entity_id.instance_id in self.entities:
            return EntityStateResponse(True, self.entities[entity_id.instance_id])
        return EntityStateResponse(False)

    async def signal_entity(self, entity_id: EntityId, operation: str, value: Any = None) -> None:
        self.calls.append(("signal", entity_id.instance_id, operation, value))

    async def delete_entity(self, entity_id: EntityId) -> None:
        self.calls.append(("delete_entity", entity_id.instance_id))

    async def list_entities(self, **kwargs: Any) -> tuple[list[dict[str, Any]], str | None]:
        self.calls.append(("list_entities", kwargs))
        items = [{"entityId": {"name": "counter", "key": "a"}, "lastOperationTime": "2024-05-01T10:00:00Z"}]
        return items, "next-page"


@pytest.fixture
def fake() -> FakeClient:
    return FakeClient()


@pytest.fixture
def resolved() -> list[tuple[str | None, str | None]]:
    return []


@pytest.fixture
def http(fake: FakeClient, resolved: list[tuple[str | None, str | None]]) -> TestClient:
    def resolve(hub: str | None, connection: str | None) -> Any:
        resolved.append((hub, connection))
        return fake

    # The app's own hub plus one a durable client binding names (taskHub=Other&connection=MyConn).
    targets = AppTargets.of("FakeHub", [("Other", "MyConn")])
    app = Starlette(routes=[Mount(BASE, app=create_management_app(resolve, targets=lambda: targets))])
    return TestClient(app, base_url="http://localhost:7071")


# ---------------------------------------------------------------- start
def test_start_returns_check_status_payload(http: TestClient, fake: FakeClient) -> None:
    r = http.post(f"{BASE}/orchestrators/Hello", json={"city": "Tokyo"})
    assert r.status_code == 202
    body = r.json()
    assert list(body) == [
        "id",
        "statusQueryGetUri",
        "sendEventPostUri",
        "terminatePostUri",
        "purgeHistoryDeleteUri",
        "restartPostUri",
        "suspendPostUri",
        "resumePostUri",
    ]
    assert body["id"] == "id1"
    status_url = f"http://localhost:7071{BASE}/instances/id1?taskHub=FakeHub&connection=Storage"
    assert body["statusQueryGetUri"] == status_url
    assert body["sendEventPostUri"].startswith(
        f"http://localhost:7071{BASE}/instances/id1/raiseEvent/{{eventName}}?"
    )
    assert body["terminatePostUri"].startswith(
        f"http://localhost:7071{BASE}/instances/id1/terminate?reason={{text}}&"
    )
    assert r.headers["location"] == status_url
    assert r.headers["retry-after"] == "10"
    assert r.headers["content-type"] == "application/json; charset=utf-8"
    assert fake.calls[0] == ("start", "Hello", "id1", {"city": "Tokyo"})


def test_start_with_instance_id_and_no_body(http: TestClient, fake: FakeClient) -> None:
    r = http.post(f"{BASE}/orchestrators/Hello/my-id")
    assert r.status_code == 202 and r.json()["id"] == "my-id"
    assert fake.calls[0] == ("start", "Hello", "my-id", None)


def test_start_passes_code_hub_and_connection_into_urls(
    http: TestClient, resolved: list[tuple[str | None, str | None]]
) -> None:
    r = http.post(f"{BASE}/orchestrators/Hello?code=k3y&taskHub=Other&connection=MyConn")
    query = parse_qs(urlsplit(r.json()["statusQueryGetUri"]).query)
    assert query == {"taskHub": ["FakeHub"], "connection": ["MyConn"], "code": ["k3y"]}
    assert resolved[-1] == ("Other", "MyConn")


def test_start_with_wait_returns_output_when_completed(http: TestClient, fake: FakeClient) -> None:
    fake.finish_on_start = Status.Completed
    r = http.post(f"{BASE}/orchestrators/Hello?timeout=5&pollingInterval=1", json=3)
    assert r.status_code == 200
    assert r.json() == "out:3"


def test_start_with_wait_times_out_to_202(http: TestClient) -> None:
    r = http.post(f"{BASE}/orchestrators/Slow?timeout=0&pollingInterval=0")
    assert r.status_code == 202 and "statusQueryGetUri" in r.json()


def test_start_with_wait_failed_gives_status(http: TestClient, fake: FakeClient) -> None:
    fake.finish_on_start = Status.Failed
    r = http.post(f"{BASE}/orchestrators/Hello?timeout=5&pollingInterval=1")
    assert r.status_code == 200 and r.json()["runtimeStatus"] == "Failed"
    r = http.post(
        f"{BASE}/orchestrators/Hello?timeout=5&pollingInterval=1&returnInternalServerErrorOnFailure=true"
    )
    assert r.status_code == 500


@pytest.mark.parametrize("body", [b"{not json", b"\xff\xfe", b"[1,"])
def test_start_invalid_json_is_400(http: TestClient, body: bytes) -> None:
    r = http.post(f"{BASE}/orchestrators/Hello", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 400
    assert r.json()["Message"] == "Invalid JSON content"


def test_start_unknown_orchestrator_is_400_with_df_message(http: TestClient) -> None:
    r = http.post(f"{BASE}/orchestrators/Nope")
    assert r.status_code == 400
    body = r.json()
    assert body["Message"] == "One or more of the arguments submitted is incorrect"
    assert body["ExceptionMessage"].startswith(
        "The function 'Nope' doesn't exist, is disabled, or is not an orchestrator function."
    )


def test_start_bad_instance_id_is_400(http: TestClient) -> None:
    r = http.post(f"{BASE}/orchestrators/Hello/@reserved")
    assert r.status_code == 400 and "Invalid instance id" in r.json()["ExceptionMessage"]
    r = http.post(f"{BASE}/orchestrators/Hello/{'x' * 300}")
    assert r.status_code == 400


def test_start_running_instance_id_is_409(http: TestClient, fake: FakeClient) -> None:
    fake.add("busy", Status.Running)
    assert http.post(f"{BASE}/orchestrators/Hello/busy").status_code == 409


@pytest.mark.parametrize("query", ["timeout=abc&pollingInterval=1", "timeout=-1&pollingInterval=1"])
def test_start_bad_timeout_is_400(http: TestClient, fake: FakeClient, query: str) -> None:
    assert http.post(f"{BASE}/orchestrators/Hello?{query}").status_code == 400
    assert fake.calls == []  # nothing was started


def test_start_needs_post(http: TestClient) -> None:
    assert http.get(f"{BASE}/orchestrators/Hello").status_code == 404


# ---------------------------------------------------------------- status
def test_status_running_is_202_with_location(http: TestClient, fake: FakeClient) -> None:
    fake.add("a", Status.Running)
    r = http.get(f"{BASE}/instances/a?taskHub=FakeHub")
    assert r.status_code == 202
    assert r.headers["retry-after"] == "5"
    assert r.headers["location"] == f"http://localhost:7071{BASE}/instances/a?taskHub=FakeHub"
    body = r.json()
    assert body["runtimeStatus"] == "Running" and body["input"] == {"x": 1}
    assert set(body) >= {"name", "instanceId", "createdTime", "lastUpdatedTime", "output", "customStatus"}
    assert body["createdTime"] == "2024-05-01T10:00:00Z"


@pytest.mark.parametrize("status", [Status.Pending, Status.Suspended, Status.ContinuedAsNew])
def test_status_active_states_are_202(http: TestClient, fake: FakeClient, status: Status) -> None:
    fake.add("a", status)
    assert http.get(f"{BASE}/instances/a").status_code == 202


@pytest.mark.parametrize("status", [Status.Completed, Status.Terminated, Status.Canceled, Status.Failed])
def test_status_finished_is_200(http: TestClient, fake: FakeClient, status: Status) -> None:
    fake.add("a", status)
    assert http.get(f"{BASE}/instances/a").status_code == 200


def test_status_failed_500_on_request(http: TestClient, fake: FakeClient) -> None:
    fake.add("a", Status.Failed)
    assert http.get(f"{BASE}/instances/a?returnInternalServerErrorOnFailure=true").status_code == 500


def test_status_flags(http: TestClient, fake: FakeClient) -> None:
    fake.add("a", Status.Completed)
    r = http.get(f"{BASE}/instances/a?SHOWHISTORY=true&showHistoryOutput=true&showInput=false")
    assert r.json()["historyEvents"] == [{"EventType": "ExecutionStarted"}]
    assert r.json()["input"] is None
    assert fake.calls[-1] == ("get_status", "a", True, True, False)
    http.get(f"{BASE}/instances/a")
    assert fake.calls[-1] == ("get_status", "a", False, False, True)  # showInput defaults to true


def test_status_unknown_is_404_json(http: TestClient) -> None:
    r = http.get(f"{BASE}/instances/nobody")
    assert r.status_code == 404 and "nobody" in r.json()["Message"]


def test_status_bad_flag_is_400(http: TestClient, fake: FakeClient) -> None:
    fake.add("a", Status.Completed)
    assert http.get(f"{BASE}/instances/a?showHistory=maybe").status_code == 400


# ---------------------------------------------------------------- list
def test_list_pages_with_top_and_continuation_header(http: TestClient, fake: FakeClient) -> None:
    for i in range(5):
        fake.add(f"i{i}", Status.Completed)
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        headers = {"x-ms-continuation-token": token} if token else {}
        r = http.get(f"{BASE}/instances/?top=2", headers=headers)
        assert r.status_code == 200
        assert "x-ms-continuation-token" in r.headers
        seen += [s["instanceId"] for s in r.json()]
        pages += 1
        token = r.headers["x-ms-continuation-token"]
        if not token:
            break
    assert seen == [f"i{i}" for i in range(5)] and pages == 3


def test_list_filters(http: TestClient, fake: FakeClient) -> None:
    fake.add("a1", Status.Completed)
    fake.add("a2", Status.Running)
    fake.add("b1", Status.Failed)
    r = http.get(
        f"{BASE}/instances?instanceIdPrefix=a&runtimeStatus=completed,Running&runtimeStatus=Failed"
        "&createdTimeFrom=2024-05-01T00:00:00Z&createdTimeTo=2024-05-02&showInput=true"
    )
    assert [s["instanceId"] for s in r.json()] == ["a1", "a2"]
    kwargs = fake.calls[-1][1]
    assert kwargs["runtime_status"] == [Status.Completed, Status.Running, Status.Failed]
    assert kwargs["created_time_from"] == datetime(2024, 5, 1, tzinfo=timezone.utc)
    assert kwargs["created_time_to"] == datetime(2024, 5, 2, tzinfo=timezone.utc)
    assert kwargs["show_input"] is True and kwargs["page_size"] == 100


@pytest.mark.parametrize(
    "query", ["top=0", "top=x", "runtimeStatus=Sleeping", "createdTimeFrom=yesterday", "showInput=yes please"]
)
def test_list_malformed_query_is_400(http: TestClient, query: str) -> None:
    r = http.get(f"{BASE}/instances?{query}")
    assert r.status_code == 400 and r.json()["ExceptionMessage"]


# ---------------------------------------------------------------- purge
def test_purge_one(http: TestClient, fake: FakeClient) -> None:
    fake.add("a", Status.Completed)
    r = http.delete(f"{BASE}/instances/a")
    assert r.status_code == 200 and r.json() == {"instancesDeleted": 1}
    assert http.delete(f"{BASE}/instances/a").status_code == 404


def test_purge_many(http: TestClient, fake: FakeClient) -> None:
    r = http.delete(f"{BASE}/instances/")
    assert r.status_code == 400 and r.json() == "Please provide value for 'createdTimeFrom' parameter."
    assert http.delete(f"{BASE}/instances/?createdTimeFrom=2024-01-01T00:00:00Z").status_code == 404
    fake.add("a", Status.Completed)
    fake.add("b", Status.Terminated)
    r = http.delete(
        f"{BASE}/instances?createdTimeFrom=2024-01-01T00:00:00Z&runtimeStatus=Completed,Terminated"
    )
    assert r.status_code == 200 and r.json() == {"instancesDeleted": 2}


# ---------------------------------------------------------------- raise event
def test_raise_event(http: TestClient, fake: FakeClient) -> None:
    fake.add("a", Status.Running)
    r = http.post(f"{BASE}/instances/a/raiseEvent/Approval", json={"ok": True})
    assert r.status_code == 202
    assert fake.calls[-1] == ("raise_event", "a", "Approval", {"ok": True})


def test_raise_event_errors(http: TestClient, fake: FakeClient) -> None:
    fake.add("done", Status.Completed)
    fake.add("a", Status.Running)
    assert http.post(f"{BASE}/instances/nobody/raiseEvent/E", json=1).status_code == 404
    assert http.post(f"{BASE}/instances/done/raiseEvent/E", json=1).status_code == 410
    r = http.post(f"{BASE}/instances/a/raiseEvent/E", content=b"1", headers={"content-type": "text/plain"})
    assert r.status_code == 400 and r.json() == {
        "Message": "Only application/json request content is supported"
    }
    r = http.post(
        f"{BASE}/instances/a/raiseEvent/E", content=b"{oops", headers={"content-type": "application/json"}
    )
    assert r.status_code == 400 and r.json()["Message"] == "Invalid JSON content"
    assert http.get(f"{BASE}/instances/a/raiseEvent/E").status_code == 404


# ---------------------------------------------------------------- terminate / suspend / resume / rewind / restart
@pytest.mark.parametrize("operation", ["terminate", "suspend", "resume"])
def test_control_operations(http: TestClient, fake: FakeClient, operation: str) -> None:
    fake.add("a", Status.Running)
    fake.add("done", Status.Completed)
    r = http.post(f"{BASE}/instances/a/{operation}?reason=because")
    assert r.status_code == 202
    assert fake.calls[-1] == (operation, "a", "because")
    assert http.post(f"{BASE}/instances/done/{operation}").status_code == 410
    assert http.post(f"{BASE}/instances/nobody/{operation}").status_code == 404


def test_rewind(http: TestClient, fake: FakeClient) -> None:
    fake.add("failed", Status.Failed)
    fake.add("done", Status.Completed)
    fake.add("running", Status.Running)
    assert http.post(f"{BASE}/instances/failed/rewind?reason=retry").status_code == 202
    assert fake.calls[-1] == ("rewind", "failed", "retry")
    assert http.post(f"{BASE}/instances/done/rewind").status_code == 410
    assert http.post(f"{BASE}/instances/running/rewind").status_code == 409
    assert http.post(f"{BASE}/instances/nobody/rewind").status_code == 404


def test_restart(http: TestClient, fake: FakeClient) -> None:
    fake.add("done", Status.Completed)
    r = http.post(f"{BASE}/instances/done/restart")
    assert r.status_code == 202 and r.json()["id"] == "id1"
    r = http.post(f"{BASE}/instances/done/restart?restartWithNewInstanceId=false")
    assert r.status_code == 202 and r.json()["id"] == "done"
    r = http.post(f"{BASE}/instances/nobody/restart")
    assert r.status_code == 400
    assert r.json()["ExceptionMessage"] == "InstanceId does not match a valid orchestration instance."


def test_unknown_operation_and_route_are_404(http: TestClient, fake: FakeClient) -> None:
    fake.add("a", Status.Running)
    assert http.post(f"{BASE}/instances/a/explode").status_code == 404
    assert http.get(f"{BASE}/somewhere/else").status_code == 404
    assert http.put(f"{BASE}/instances/a").status_code == 404
    assert http.post(f"{BASE}/makeprimary/").status_code == 200


# ---------------------------------------------------------------- entities
def test_entity_get(http: TestClient, fake: FakeClient) -> None:
    fake.entities["@counter@a"] = 5
    fake.entities["@counter@"] = {"v": 1}
    r = http.get(f"{BASE}/entities/Counter/a")
    assert r.status_code == 200 and r.json() == 5
    assert http.get(f"{BASE}/entities/Counter/$").json() == {"v": 1}
    assert http.get(f"{BASE}/entities/Counter/zzz").status_code == 404


def test_entity_signal(http: TestClient, fake: FakeClient) -> None:
    assert http.post(f"{BASE}/entities/Counter/a?op=add", json=5).status_code == 202
    assert fake.calls[-1] == ("signal", "@counter@a", "add", 5)
    assert http.post(f"{BASE}/entities/Counter/a?op=note", content=b"hi there").status_code == 202
    assert fake.calls[-1] == ("signal", "@counter@a", "note", "hi there")
    assert http.post(f"{BASE}/entities/Counter/a?op=reset").status_code == 202
    assert fake.calls[-1] == ("signal", "@counter@a", "reset", None)


def test_entity_signal_errors(http: TestClient) -> None:
    r = http.post(
        f"{BASE}/entities/Counter/a?op=add", content=b"{", headers={"content-type": "application/json"}
    )
    assert r.status_code == 400 and r.json()["Message"] == "Could not parse JSON content"
    r = http.post(f"{BASE}/entities/Nope/a?op=add", json=1)
    assert r.status_code == 400
    assert "is not an entity function" in r.json()["ExceptionMessage"]
    assert http.delete(f"{BASE}/entities/Nope/a").status_code == 400


def test_entity_delete(http: TestClient, fake: FakeClient) -> None:
    assert http.delete(f"{BASE}/entities/Counter/a").status_code == 202
    assert fake.calls[-1] == ("delete_entity", "@counter@a")


def test_entity_list(http: TestClient, fake: FakeClient) -> None:
    r = http.get(
        f"{BASE}/entities/Counter?top=5&fetchState=true&lastOperationTimeFrom=2024-01-01T00:00:00Z",
        headers={"x-ms-continuation-token": "abc"},
    )
    assert r.status_code == 200 and r.headers["x-ms-continuation-token"] == "next-page"
    assert r.json()[0]["entityId"] == {"name": "counter", "key": "a"}
    kwargs = fake.calls[-1][1]
    assert kwargs["entity_name"] == "Counter" and kwargs["page_size"] == 5 and kwargs["fetch_state"] is True
    assert kwargs["continuation_token"] == "abc"
    assert http.get(f"{BASE}/entities").status_code == 200
    assert fake.calls[-1][1]["entity_name"] is None and fake.calls[-1][1]["fetch_state"] is False


# ---------------------------------------------------------------- storage failures are 500, with a JSON body
def test_unexpected_errors_are_500_json(fake: FakeClient) -> None:
    async def boom(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("storage is down")

    fake.get_status = boom  # type: ignore[method-assign]
    app = Starlette(routes=[Mount(BASE, app=create_management_app(lambda hub, conn: fake))])
    with TestClient(app) as http:
        r = http.get(f"{BASE}/instances/a")
    assert r.status_code == 500
    assert r.json()["Message"] == "Something went wrong while processing your request"


# ---------------------------------------------------------------- the Azure route (through func.HttpRequest)
def test_asgi_bridge_serves_the_api_under_an_app_route(fake: FakeClient) -> None:
    fake.add("a", Status.Running)
    app = create_management_app(lambda hub, conn: fake)
    req = func.HttpRequest(
        method="GET",
        url="https://myapp.azurewebsites.net/api/durabletask/instances/a?code=secret",
        headers={"host": "myapp.azurewebsites.net"},
        route_params={"path": "instances/a"},
        body=b"",
    )
    resp = asyncio.run(call_asgi(app, req, root_path="/api/durabletask"))
    assert resp.status_code == 202
    assert (
        resp.headers["location"] == "https://myapp.azurewebsites.net/api/durabletask/instances/a?code=secret"
    )
    assert json.loads(resp.get_body())["instanceId"] == "a"

    start = func.HttpRequest(
        method="POST",
        url="https://myapp.azurewebsites.net/api/durabletask/orchestrators/Hello?code=secret",
        headers={"content-type": "application/json"},
        body=b'{"n": 1}',
    )
    resp = asyncio.run(call_asgi(app, start, root_path="/api/durabletask"))
    payload = json.loads(resp.get_body())
    assert resp.status_code == 202
    assert payload["statusQueryGetUri"] == (
        f"https://myapp.azurewebsites.net/api/durabletask/instances/{payload['id']}"
        "?taskHub=FakeHub&connection=Storage&code=secret"
    )


def test_missing_task_hub_is_404(fake: FakeClient) -> None:
    """A hub the app's bindings name but nobody created yet."""
    from azure.core.exceptions import ResourceNotFoundError

    async def missing(**kwargs: Any) -> Any:
        raise ResourceNotFoundError("The table specified does not exist.")

    fake.list_instances = missing  # type: ignore[method-assign]
    targets = AppTargets.of("FakeHub", [("NeverCreated", None)])
    app = Starlette(
        routes=[Mount(BASE, app=create_management_app(lambda hub, conn: fake, targets=lambda: targets))]
    )
    with TestClient(app) as http:
        r = http.get(f"{BASE}/instances?taskHub=NeverCreated")
    assert r.status_code == 404 and "does not exist" in r.json()["Message"]
