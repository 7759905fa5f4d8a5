"""The local host serving a plain (non-durable) function app: routes, methods, requests, responses, timers."""

from __future__ import annotations

import json
import sys
import textwrap
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

with warnings.catch_warnings():  # Starlette 1.x prefers httpx2; httpx works the same here
    warnings.filterwarnings("ignore", message=".*httpx2.*")
    from starlette.testclient import TestClient

from durable_azure.functions import runtime
from durable_azure.functions.host import LocalHost, describe_connection

APP = textwrap.dedent(
    """
    import json
    import azure.functions as func

    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
    TICKS = []

    @app.route(route="hello/{name}", methods=["GET"])
    def hello(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse(f"Hello {req.route_params['name']} {req.params.get('suffix', '')}".strip())

    @app.route(route="echo", methods=["POST", "PUT"])
    async def echo(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
        body = {
            "method": req.method,
            "json": req.get_json(),
            "header": req.headers.get("x-test"),
            "url": req.url,
            "function": context.function_name,
        }
        return func.HttpResponse(json.dumps(body), status_code=201, mimetype="application/json",
                                 headers={"X-Reply": "yes"})

    @app.route(route="items/{id:int}")
    def item(req: func.HttpRequest) -> str:
        return "item " + req.route_params["id"]

    @app.route(route="items/special")
    def special(req: func.HttpRequest) -> dict:
        return {"special": True}

    @app.route(route="files/{*path}")
    def files(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse(req.route_params.get("path", ""))

    @app.route(route="empty")
    def empty(req: func.HttpRequest) -> None:
        return None

    @app.route(route="boom")
    def boom(req: func.HttpRequest) -> func.HttpResponse:
        raise RuntimeError("kaboom")

    @app.function_name("ticker")
    @app.timer_trigger(arg_name="timer", schedule="*/1 * * * * *", run_on_startup=True, use_monitor=False)
    def tick(timer: func.TimerRequest) -> None:
        TICKS.append(timer.past_due)
    """
)


@pytest.fixture
def http(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    (tmp_path / "function_app.py").write_text(APP)
    (tmp_path / "host.json").write_text(
        json.dumps({"version": "2.0", "extensions": {"http": {"routePrefix": "v1"}}})
    )
    monkeypatch.setenv("AzureWebJobsScriptRoot", str(tmp_path))
    monkeypatch.setenv("DURABLE_AZURE_HUB", "HostTestHub")
    monkeypatch.syspath_prepend(str(tmp_path))
    local = LocalHost(tmp_path, port=7999)
    with TestClient(local.asgi(), base_url="http://127.0.0.1:7999") as client:
        client.local = local  # type: ignore[attr-defined]
        yield client
    sys.modules.pop("function_app", None)
    assert runtime.active() is None  # the host uninstalled its runtime


def test_routes_use_the_route_prefix(http: TestClient) -> None:
    assert http.get("/v1/hello/Ann?suffix=!").text == "Hello Ann !"
    assert http.get("/api/hello/Ann").status_code == 404
    assert http.get("/V1/HELLO/Bob").text == "Hello Bob"


def test_methods_are_enforced(http: TestClient) -> None:
    assert http.post("/v1/hello/Ann").status_code == 404
    assert http.head("/v1/hello/Ann").status_code == 200


def test_request_and_response_mapping(http: TestClient) -> None:
    r = http.put("/v1/echo?q=1", json={"a": [1, 2]}, headers={"x-test": "t"})
    assert r.status_code == 201
    assert r.headers["x-reply"] == "yes"
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert body == {
        "method": "PUT",
        "json": {"a": [1, 2]},
        "header": "t",
        "url": "http://127.0.0.1:7999/v1/echo?q=1",
        "function": "echo",
    }


def test_route_constraints_literals_and_catch_all(http: TestClient) -> None:
    assert http.get("/v1/items/12").text == "item 12"
    assert http.get("/v1/items/special").json() == {"special": True}
    assert http.get("/v1/items/abc").status_code == 404
    assert http.get("/v1/files/a/b/c.txt").text == "a/b/c.txt"


def test_return_values_and_errors(http: TestClient) -> None:
    assert http.get("/v1/empty").status_code == 204
    r = http.get("/v1/boom")
    assert r.status_code == 500 and "Functions.boom" in r.text
    assert http.get("/").status_code == 200
    assert "hello" in http.get("/").text


def test_timer_runs_on_startup_and_on_schedule(http: TestClient) -> None:
    local: LocalHost = http.local  # type: ignore[attr-defined]
    deadline = time.monotonic() + 10
    while local.timers.fired.get("ticker", 0) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert local.timers.fired["ticker"] >= 2
    assert local.timers.schedules == [("ticker", "*/1 * * * * *")]


def test_banner_and_connection_description(http: TestClient) -> None:
    local: LocalHost = http.local  # type: ignore[attr-defined]
    banner = local.banner()
    assert "hello: [GET] http://127.0.0.1:7999/v1/hello/{name}" in banner
    assert "ticker: timerTrigger (*/1 * * * * *)" in banner
    assert (
        describe_connection("DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=SECRET")
        == "account acct"
    )
    assert "SECRET" not in describe_connection("AccountName=acct;AccountKey=SECRET")
