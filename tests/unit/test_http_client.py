"""durable_client_input, FunctionsDurableClient's HTTP helpers, the runtime registry and Azure hosting."""

from __future__ import annotations

import asyncio
import inspect
import json
import threading
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest

import durable_azure as df
from durable_azure.client import DurableOrchestrationStatus
from durable_azure.config import Settings
from durable_azure.errors import FunctionNotFoundError
from durable_azure.functions import runtime
from durable_azure.functions.azure_hosting import AzureHosting
from durable_azure.functions.http_client import FunctionsDurableClient
from durable_azure.functions.loader import find_app, load_module
from durable_azure.orchestration.status import OrchestrationRuntimeStatus as Status
from durable_azure.storage.taskhub import TaskHubStorage

REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2024, 5, 1, tzinfo=timezone.utc)


def _request(url: str = "http://example.org:8080/api/orchestrators/Hello?code=abc") -> func.HttpRequest:
    return func.HttpRequest(method="POST", url=url, body=b"")


def _client(**kwargs: Any) -> FunctionsDurableClient:
    return FunctionsDurableClient(TaskHubStorage("UseDevelopmentStorage=true", "MyHub"), **kwargs)


@pytest.fixture(autouse=True)
def _no_runtimes() -> Iterator[None]:
    yield
    with runtime._lock:
        runtime._runtimes.clear()
        runtime._clients.clear()


# ---------------------------------------------------------------- durable_client_input
def _app_with_client() -> tuple[df.DFApp, Any]:
    app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)

    @app.orchestration_trigger(context_name="context")
    def Hello(context: Any) -> Any:
        return None
        yield

    @app.route(route="start/{name}")
    @app.durable_client_input(client_name="starter")
    async def start(
        req: func.HttpRequest, starter: df.DurableOrchestrationClient, context: func.Context
    ) -> str:
        return f"{type(starter).__name__}:{starter.task_hub_name}:{context}"

    return app, start


def test_client_parameter_is_hidden_from_the_host() -> None:
    app, _ = _app_with_client()
    (function,) = app.get_functions()
    user = function.get_user_function()
    assert list(inspect.signature(user).parameters) == ["req", "context"]
    assert "starter" not in user.__annotations__
    assert user.__annotations__["req"] is func.HttpRequest
    assert [b.type for b in function.get_bindings()] == ["httpTrigger", "http"]
    assert "durableClient" not in function.get_function_json()
    assert inspect.iscoroutinefunction(user)


def test_client_function_test_hook() -> None:
    _app, builder = _app_with_client()
    user = builder.build().get_user_function()
    fake = type("Fake", (), {"task_hub_name": "X"})()
    assert asyncio.run(user.client_function(_request(), fake, "ctx")) == "Fake:X:ctx"


def test_wrapper_builds_a_client_for_the_app_hub(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DURABLE_AZURE_HUB", "WrapperHub")
    runtime._settings_for.cache_clear()
    _app, builder = _app_with_client()
    user = builder.build().get_user_function()
    assert asyncio.run(user(_request(), context="c")) == "FunctionsDurableClient:WrapperHub:c"
    runtime._settings_for.cache_clear()


def test_missing_client_parameter_is_an_error() -> None:
    app = df.DFApp()
    with pytest.raises(ValueError, match="no parameter named 'client'"):

        @app.route(route="x")
        @app.durable_client_input(client_name="client")
        async def start(req: func.HttpRequest) -> str:
            return ""


def test_sample_app_indexes_only_host_bindings() -> None:
    app = find_app(load_module(REPO))
    functions = app.get_functions()
    kinds = {b.type for f in functions for b in f.get_bindings()}
    assert kinds <= {"httpTrigger", "http", "timerTrigger", "queueTrigger"}
    names = {f.get_function_name(): f for f in functions}
    assert {
        "http_start",
        "counter_signal",
        "counter_read",
        "durable_management_api",
        "durable_worker_supervisor",
    } <= set(names)
    api = names["durable_management_api"].get_trigger()
    assert api.route == "durabletask/{*path}" and str(api.auth_level.value).lower() == "function"
    timer = names["durable_worker_supervisor"].get_trigger()
    assert timer.run_on_startup is True and timer.schedule == "*/30 * * * * *"
    registry = app.durable_registry()
    assert set(registry.orchestrators) == {
        "hello_cities",
        "function_chaining",
        "fan_out_fan_in",
        "monitor_job",
        "approval_workflow",
    }
    assert registry.entity("Counter") is not None


def test_enable_azure_hosting_is_idempotent() -> None:
    app = df.DFApp()
    first = df.enable_azure_hosting(app)
    assert df.enable_azure_hosting(app) is first
    assert app.enable_azure_hosting() is app
    names = sorted(f.get_function_name() for f in app.get_functions())
    assert names == [
        "durable_dashboard",
        "durable_management_api",
        "durable_worker_supervisor",
        "durable_workitems",
    ]


# ---------------------------------------------------------------- HTTP helpers
def test_create_check_status_response() -> None:
    client = _client()
    response = client.create_check_status_response(_request(), "abc 1")
    assert response.status_code == 202
    body = json.loads(response.get_body())
    assert list(body) == [
        "id",
        "statusQueryGetUri",
        "sendEventPostUri",
        "terminatePostUri",
        "rewindPostUri",
        "purgeHistoryDeleteUri",
        "restartPostUri",
        "suspendPostUri",
        "resumePostUri",
    ]
    base = "http://example.org:8080/runtime/webhooks/durabletask/instances/abc%201"
    query = "taskHub=MyHub&connection=Storage&code=abc"
    assert body["id"] == "abc 1"
    assert body["statusQueryGetUri"] == f"{base}?{query}"
    assert body["sendEventPostUri"] == f"{base}/raiseEvent/{{eventName}}?{query}"
    assert body["terminatePostUri"] == f"{base}/terminate?reason={{text}}&{query}"
    assert body["rewindPostUri"] == f"{base}/rewind?reason={{text}}&{query}"
    assert body["purgeHistoryDeleteUri"] == f"{base}?{query}"
    assert body["restartPostUri"] == f"{base}/restart?{query}"
    assert body["suspendPostUri"] == f"{base}/suspend?reason={{text}}&{query}"
    assert body["resumePostUri"] == f"{base}/resume?reason={{text}}&{query}"
    assert response.headers["Location"] == body["statusQueryGetUri"]
    assert response.headers["Retry-After"] == "10"


def test_management_payload_uses_configured_base_and_origin() -> None:
    client = _client(management_base="/api/durabletask", origin="https://app.example.net/")
    payload = client.create_http_management_payload("i1")
    assert payload["statusQueryGetUri"] == (
        "https://app.example.net/api/durabletask/instances/i1?taskHub=MyHub&connection=Storage"
    )


class _ScriptedClient(FunctionsDurableClient):
    def __init__(self, statuses: list[DurableOrchestrationStatus]) -> None:
        super().__init__(TaskHubStorage("UseDevelopmentStorage=true", "MyHub"))
        self.statuses = statuses

    async def get_status(self, *args: Any, **kwargs: Any) -> DurableOrchestrationStatus:
        return self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]


def _status(status: Status, output: Any = None) -> DurableOrchestrationStatus:
    return DurableOrchestrationStatus(
        name="Hello", instanceId="i", createdTime=T0, lastUpdatedTime=T0, runtimeStatus=status, output=output
    )


@pytest.mark.parametrize(
    ("status", "output", "code", "body"),
    [
        (Status.Completed, {"a": 1}, 200, '{"a": 1}'),
        (Status.Completed, "text", 200, "text"),  # as DF: a string output is the body as is
        (Status.Terminated, None, 200, None),
        (Status.Canceled, None, 200, None),
        (Status.Failed, "boom", 500, None),
    ],
)
def test_wait_for_completion_finished(status: Status, output: Any, code: int, body: str | None) -> None:
    client = _ScriptedClient([_status(Status.Running), _status(status, output)])
    response = asyncio.run(
        client.wait_for_completion_or_create_check_status_response(_request(), "i", 2000, 10)
    )
    assert response.status_code == code
    if body is not None:
        assert response.get_body().decode() == body
    else:
        assert json.loads(response.get_body())["runtimeStatus"] == status.value


def test_wait_for_completion_times_out_to_check_status() -> None:
    client = _ScriptedClient([_status(Status.Running)])
    response = asyncio.run(
        client.wait_for_completion_or_create_check_status_response(_request(), "i", 50, 10)
    )
    assert response.status_code == 202 and "statusQueryGetUri" in json.loads(response.get_body())
    with pytest.raises(ValueError, match="should be bigger"):
        asyncio.run(client.wait_for_completion_or_create_check_status_response(_request(), "i", 10, 50))


def test_unknown_function_names_are_rejected_with_a_registry() -> None:
    registry = df.DFApp().durable_registry()
    registry.orchestrators["Known"] = lambda ctx: None
    client = _client(registry=registry)
    with pytest.raises(FunctionNotFoundError, match="The function 'Unknown' doesn't exist"):
        asyncio.run(client.start_new("Unknown"))
    with pytest.raises(FunctionNotFoundError, match="is not an entity function"):
        asyncio.run(client.signal_entity(df.EntityId("Nope", "k"), "add", 1))


# ---------------------------------------------------------------- runtime registry
class _FakeWorker:
    def __init__(self) -> None:
        self.storage = TaskHubStorage("UseDevelopmentStorage=true", "RtHub")
        self.notified: list[str] = []
        self.registry = df.DFApp().durable_registry()

    def notify(self, instance_id: str) -> None:
        self.notified.append(instance_id)


def _settings() -> Settings:
    return Settings(hub_name="RtHub", connection_string="UseDevelopmentStorage=true")


def test_client_on_the_worker_loop_shares_its_storage() -> None:
    async def main() -> None:
        worker = _FakeWorker()
        hosted = runtime.install(
            runtime.HostedRuntime(_settings(), worker=worker, loop=asyncio.get_running_loop())  # type: ignore[arg-type]
        )
        client = runtime.client_for()
        assert client.storage is worker.storage and client.runtime is hosted
        assert runtime.client_for() is client  # cached
        client._notify("x")  # type: ignore[misc]
        assert worker.notified == ["x"]
        other = runtime.client_for(task_hub="OtherHub")
        assert other.storage is not worker.storage and other.task_hub_name == "OtherHub"
        assert other.registry is None

    asyncio.run(main())


def test_client_on_another_loop_wakes_the_worker_thread_safely() -> None:
    worker = _FakeWorker()
    worker_loop = asyncio.new_event_loop()
    thread = threading.Thread(target=worker_loop.run_forever, daemon=True)
    thread.start()
    try:
        runtime.install(runtime.HostedRuntime(_settings(), worker=worker, loop=worker_loop, owner="azure"))  # type: ignore[arg-type]

        async def main() -> None:
            client = runtime.client_for()
            assert client.storage is not worker.storage
            client._notify("y")  # type: ignore[misc]

        asyncio.run(main())
        done = threading.Event()
        worker_loop.call_soon_threadsafe(done.set)
        assert done.wait(5)
        assert worker.notified == ["y"]
    finally:
        worker_loop.call_soon_threadsafe(worker_loop.stop)
        thread.join(5)
        worker_loop.close()


def test_resolve_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _settings()
    assert runtime.resolve_connection(None, settings) == "UseDevelopmentStorage=true"
    assert runtime.resolve_connection("Storage", settings) == "UseDevelopmentStorage=true"
    monkeypatch.setenv("AzureWebJobsOther", "AccountName=x")
    assert runtime.resolve_connection("Other", settings) == "AccountName=x"
    with pytest.raises(ValueError, match="No connection string found for connection 'Missing'"):
        runtime.resolve_connection("Missing", settings)


def test_supervisor_defers_to_a_host_that_runs_the_worker() -> None:
    hosting = AzureHosting(df.DFApp(), settings=_settings())
    runtime.install(runtime.HostedRuntime(_settings(), owner="serve"))
    assert hosting.ensure_worker() == "hosted"
    assert not hosting.is_running()
    assert hosting.management_path == "/api/durabletask"
