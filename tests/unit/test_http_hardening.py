"""Regressions from fuzzing the management API (issue 13), against an in-memory client (no storage).

Client errors are 4xx with a JSON message (deep JSON, lone surrogates, NaN), never 500; an
unreachable storage account is a 503 with ``Retry-After`` and no host names; ids are never altered
(the Azure route decodes once, ``Location`` is percent-encoded); waits are bounded and stop when the
caller leaves; ``taskHub``/``connection`` name only what the app uses; URLs honour a public base URL.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest
from azure.core.exceptions import HttpResponseError, ServiceRequestError
from starlette.applications import Starlette
from starlette.routing import Mount

with warnings.catch_warnings():  # Starlette 1.x prefers httpx2; httpx works the same here
    warnings.filterwarnings("ignore", message=".*httpx2.*")
    from starlette.testclient import TestClient

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)  # the in-memory client of the management API tests

from test_http_management_api import BASE, FakeClient  # noqa: E402

import durable_azure as df  # noqa: E402
from durable_azure.config import Settings  # noqa: E402
from durable_azure.functions import runtime  # noqa: E402
from durable_azure.functions.azure_hosting import AzureHosting  # noqa: E402
from durable_azure.functions.management_api import create_management_app  # noqa: E402
from durable_azure.orchestration.status import OrchestrationRuntimeStatus as Status  # noqa: E402

JSON = {"content-type": "application/json"}


@pytest.fixture
def app_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The app's configured hub is FakeHub (as the in-memory client calls itself); no runtime installed."""
    monkeypatch.setenv("AzureWebJobsScriptRoot", str(tmp_path))
    monkeypatch.setenv("DURABLE_AZURE_HUB", "FakeHub")
    for name in ("DURABLE_AZURE_PUBLIC_BASE_URL", "WEBSITE_HOSTNAME"):
        monkeypatch.delenv(name, raising=False)
    runtime._settings_for.cache_clear()
    yield
    runtime._settings_for.cache_clear()


@pytest.fixture
def resolved() -> list[tuple[str | None, str | None]]:
    return []


@pytest.fixture
def http(app_env: None, resolved: list[tuple[str | None, str | None]], fake: FakeClient) -> TestClient:
    """The management API with the default hub/connection policy (the app's configured hub only)."""

    def resolve(hub: str | None, connection: str | None) -> Any:
        resolved.append((hub, connection))
        return fake

    app = Starlette(routes=[Mount(BASE, app=create_management_app(resolve))])
    return TestClient(app, base_url="http://localhost:7071")


@pytest.fixture
def fake() -> FakeClient:
    return FakeClient()


def _mutations(fake: FakeClient) -> list[tuple[Any, ...]]:
    return [c for c in fake.calls if c[0] in ("start", "raise_event", "signal")]


# ---------------------------------------------------------------- JSON bodies
@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"[" * 1000 + b"]" * 1000, id="nested-1000-deep"),
        pytest.param(b'{"a": ' * 65 + b"1" + b"}" * 65, id="nested-65-deep"),
        pytest.param(b'"\\ud800"', id="lone-high-surrogate"),
        pytest.param(b'{"k": ["x\\udfff"]}', id="lone-low-surrogate"),
        pytest.param(b"NaN", id="nan"),
        pytest.param(b"[1e400]", id="infinite-number"),
    ],
)
def test_bad_json_bodies_are_400_and_nothing_is_sent(http: TestClient, fake: FakeClient, body: bytes) -> None:
    fake.add("a", Status.Running)
    for url in (
        f"{BASE}/orchestrators/Hello",
        f"{BASE}/orchestrators/Hello/chosen",
        f"{BASE}/instances/a/raiseEvent/E",
        f"{BASE}/entities/Counter/k?op=add",
    ):
        r = http.post(url, content=body, headers=JSON)
        assert r.status_code == 400, (url, r.status_code, r.text)
        assert r.json()["Message"] and r.json()["ExceptionMessage"]
    assert _mutations(fake) == []


@pytest.mark.timeout(30)
def test_scanning_a_hostile_body_takes_linear_time(http: TestClient, fake: FakeClient) -> None:
    """Backslash-quote pairs with no closing quote: a backtracking string pattern took minutes."""
    for body in (b'"\\' * 300_000, b"[" * 1_000_000, b'["' + b"a" * 1_000_000):
        started = time.monotonic()
        r = http.post(f"{BASE}/orchestrators/Hello", content=body, headers=JSON)
        assert r.status_code == 400 and time.monotonic() - started < 5
    assert _mutations(fake) == []


def test_json_64_deep_and_surrogate_pairs_are_accepted(http: TestClient, fake: FakeClient) -> None:
    deep = b"[" * 64 + b"]" * 64
    assert http.post(f"{BASE}/orchestrators/Hello", content=deep, headers=JSON).status_code == 202
    r = http.post(f"{BASE}/orchestrators/Hello", content=b'"\\ud83d\\ude00 \\\\ud800"', headers=JSON)
    assert r.status_code == 202  # a real pair, and an escaped backslash followed by "ud800"
    assert fake.calls[-1][3] == "\U0001f600 \\ud800"


# ---------------------------------------------------------------- waits
@pytest.mark.timeout(20)
@pytest.mark.parametrize(
    "query",
    [
        "timeout=inf&pollingInterval=0",
        "timeout=Infinity&pollingInterval=1",
        "timeout=nan&pollingInterval=1",
        "timeout=1e400&pollingInterval=1",
        "timeout=5&pollingInterval=-1",
        "timeout=5&pollingInterval=inf",
        "timeout=231&pollingInterval=1",
        "timeout=100000000&pollingInterval=1",
        "timeout=1&pollingInterval=2",
    ],
)
def test_unbounded_or_invalid_waits_are_400_before_starting(
    http: TestClient, fake: FakeClient, query: str
) -> None:
    for url in (f"{BASE}/orchestrators/Slow?{query}", f"{BASE}/instances/done/restart?{query}"):
        fake.add("done", Status.Completed)
        r = http.post(url)
        assert r.status_code == 400, (url, r.text)
        assert "ExceptionMessage" in r.json()
    assert _mutations(fake) == []


@pytest.mark.timeout(20)
def test_polling_interval_zero_does_not_hammer_storage(http: TestClient, fake: FakeClient) -> None:
    r = http.post(f"{BASE}/orchestrators/Slow?timeout=1&pollingInterval=0")
    assert r.status_code == 202
    polls = [c for c in fake.calls if c[0] == "get_status"]
    assert 5 <= len(polls) <= 12  # ~10 at the 0.1 s floor (the old 50 ms floor made ~20)


@pytest.mark.timeout(20)
async def test_wait_stops_polling_when_the_client_disconnects(app_env: None, fake: FakeClient) -> None:
    app = create_management_app(lambda hub, conn: fake)
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": f"{BASE}/orchestrators/Slow",
        "raw_path": f"{BASE}/orchestrators/Slow".encode(),
        "root_path": BASE,
        "query_string": b"timeout=30&pollingInterval=0.1",
        "headers": [(b"host", b"localhost")],
        "server": ("localhost", 80),
        "client": ("127.0.0.1", 5000),
    }
    gone = asyncio.Event()
    started = False

    async def receive() -> dict[str, Any]:
        nonlocal started
        if not started:
            started = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        pass

    call = asyncio.ensure_future(app(scope, receive, send))
    await asyncio.sleep(0.5)
    assert not call.done() and fake.calls[-1][0] == "get_status"  # waiting
    gone.set()
    await asyncio.wait_for(call, 3)  # was: polled on for the whole 30 s
    polls = len(fake.calls)
    await asyncio.sleep(0.4)
    assert len(fake.calls) == polls


# ---------------------------------------------------------------- ids and URLs
@pytest.mark.parametrize(
    ("instance_id", "encoded"),
    # ('%' is covered over real HTTP in tests/e2e: Starlette's TestClient decodes paths twice itself.)
    [
        ("ends-in-space ", "ends-in-space%20"),
        ("euro-€", "euro-%E2%82%AC"),
        ("tab-in-reason", "tab-in-reason"),
    ],
)
def test_location_of_a_running_instance_is_percent_encoded(
    http: TestClient, fake: FakeClient, instance_id: str, encoded: str
) -> None:
    fake.add(instance_id, Status.Running)
    r = http.get(f"{BASE}/instances/{encoded}?showInput=false")
    assert r.status_code == 202, r.text
    assert r.json()["instanceId"] == instance_id
    assert r.headers["location"] == f"http://localhost:7071{BASE}/instances/{encoded}?showInput=false"


def _hosting(fake: FakeClient, monkeypatch: pytest.MonkeyPatch) -> AzureHosting:
    hosting = AzureHosting(df.DFApp(), settings=Settings(hub_name="FakeHub"))
    hosting.management_app = create_management_app(lambda hub, conn: fake)
    monkeypatch.setattr(hosting, "ensure_worker", lambda: "running")  # no engine thread in a unit test
    return hosting


def test_azure_route_decodes_the_path_exactly_once(
    app_env: None, fake: FakeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``GET /api/durabletask/instances/dd%252D1`` is about ``dd%2D1``, never ``dd-1``.

    The Functions host passes the route value decoded once (``dd%2D1``) and a URL whose path it
    re-encodes only partly (``%2D`` stays): decoding that URL again gave ``dd-1``.
    """
    fake.add("dd-1", Status.Running)
    hosting = _hosting(fake, monkeypatch)
    request = func.HttpRequest(
        method="GET",
        url="https://myapp.azurewebsites.net/api/durabletask/instances/dd%2D1",
        route_params={"path": "instances/dd%2D1"},
        body=b"",
    )
    response = asyncio.run(hosting.handle(request))
    assert response.status_code == 404
    assert "dd%2D1" in json.loads(response.get_body())["Message"]
    assert [c[1] for c in fake.calls if c[0] == "get_status"] == ["dd%2D1"]


def test_azure_route_keeps_control_characters_in_ids(
    app_env: None, fake: FakeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake.add("dd-1", Status.Running)
    hosting = _hosting(fake, monkeypatch)
    request = func.HttpRequest(
        method="POST",
        url="https://myapp.azurewebsites.net/api/durabletask/instances/d\td-1/terminate",
        route_params={"path": "instances/d\td-1/terminate"},
        body=b"",
    )
    response = asyncio.run(hosting.handle(request))
    assert response.status_code == 400
    assert not any(c[0] == "terminate" for c in fake.calls)


# ---------------------------------------------------------------- storage failures
@pytest.mark.parametrize(
    "failure",
    [
        ServiceRequestError("Cannot connect to host storage.internal.example:10002 ssl:default"),
        HttpResponseError("The server is busy (storage.internal.example)", response=None),
    ],
)
def test_unreachable_storage_is_503_with_retry_after(
    http: TestClient, fake: FakeClient, failure: Exception
) -> None:
    if isinstance(failure, HttpResponseError):
        failure.status_code = 503

    async def down(*args: Any, **kwargs: Any) -> Any:
        raise failure

    fake.get_status = down  # type: ignore[method-assign]
    fake.list_instances = down  # type: ignore[method-assign]
    for r in (http.get(f"{BASE}/instances/a"), http.get(f"{BASE}/instances")):
        assert r.status_code == 503 and r.headers["retry-after"] == "10"
        assert r.json()["Message"] and "internal.example" not in r.text


def test_server_errors_do_not_echo_the_exception(http: TestClient, fake: FakeClient) -> None:
    async def boom(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("connection to db.internal.example refused")

    fake.get_status = boom  # type: ignore[method-assign]
    r = http.get(f"{BASE}/instances/a")
    assert r.status_code == 500 and "internal.example" not in r.text
    assert r.json() == {"Message": "Something went wrong while processing your request"}


# ---------------------------------------------------------------- taskHub / connection
@pytest.mark.parametrize(
    "query",
    ["taskHub=OtherHub", "connection=PATH", "connection=NoSuchSetting", "taskHub=x&connection=Storage"],
)
def test_hubs_and_connections_the_app_does_not_use_are_400(
    http: TestClient, fake: FakeClient, resolved: list[Any], query: str
) -> None:
    for method, url in (
        ("POST", f"{BASE}/orchestrators/Hello?{query}"),
        ("GET", f"{BASE}/instances?{query}"),
        ("GET", f"{BASE}/instances/a?{query}"),
        ("POST", f"{BASE}/entities/Counter/k?op=add&{query}"),
    ):
        r = http.request(method, url)
        assert r.status_code == 400, (url, r.text)
        assert "does not serve" in r.json()["ExceptionMessage"]
    assert resolved == [] and fake.calls == []  # no client was even built


def test_unknown_connection_names_get_the_same_answer_whether_the_setting_exists(
    http: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RealSetting", "DefaultEndpointsProtocol=https;AccountName=other;AccountKey=eA==")
    exists = http.get(f"{BASE}/instances?connection=RealSetting")
    missing = http.get(f"{BASE}/instances?connection=MissingSetting")
    assert exists.status_code == missing.status_code == 400
    assert exists.json()["ExceptionMessage"].replace("RealSetting", "X") == missing.json()[
        "ExceptionMessage"
    ].replace("MissingSetting", "X")


def test_the_apps_own_hub_and_connection_names_are_accepted(http: TestClient, resolved: list[Any]) -> None:
    for query in (
        "taskHub=FakeHub",
        "taskHub=fakehub",
        "connection=Storage",
        "connection=AzureWebJobsStorage",
    ):
        assert http.post(f"{BASE}/orchestrators/Hello?{query}").status_code == 202, query
    assert len(resolved) == 4


def test_hubs_named_by_durable_client_bindings_are_accepted(app_env: None) -> None:
    app = df.DFApp()

    @app.route(route="other")
    @app.durable_client_input(client_name="client", task_hub="OtherHub", connection_name="OtherConn")
    async def other(req: func.HttpRequest, client: Any) -> str:
        return "ok"

    targets = AzureHosting(app, settings=Settings(hub_name="MainHub")).targets()
    assert targets.allows(None, None) and targets.allows("mainhub", "Storage")
    assert targets.allows("OtherHub", "OtherConn") and targets.allows("otherhub", "otherconn")
    assert not targets.allows("OtherHub", None)  # that hub, but on the app's own account: not used
    assert not targets.allows("MainHub", "OtherConn")


# ---------------------------------------------------------------- public base URL
def test_check_status_urls_use_the_public_base_url(http: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DURABLE_AZURE_PUBLIC_BASE_URL", "https://durable.example.com/gw/")
    r = http.post(f"{BASE}/orchestrators/Hello", headers={"host": "10.0.0.7:7071"})
    assert r.status_code == 202
    expected = f"https://durable.example.com/gw{BASE}/instances/id1?taskHub=FakeHub&connection=Storage"
    assert r.json()["statusQueryGetUri"] == expected and r.headers["location"] == expected
    assert "10.0.0.7" not in r.text


def test_check_status_urls_use_website_hostname_in_azure(
    http: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEBSITE_HOSTNAME", "myapp.azurewebsites.net")
    r = http.post(f"{BASE}/orchestrators/Hello", headers={"host": "internal-worker:8080"})
    assert r.json()["statusQueryGetUri"].startswith(f"https://myapp.azurewebsites.net{BASE}/instances/")
    monkeypatch.setenv("WEBSITE_HOSTNAME", "localhost:7071")  # Core Tools locally: the request decides
    r = http.post(f"{BASE}/orchestrators/Hello")
    assert r.json()["statusQueryGetUri"].startswith(f"http://localhost:7071{BASE}/instances/")


def test_an_invalid_public_base_url_is_ignored(http: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DURABLE_AZURE_PUBLIC_BASE_URL", "ftp://nope?x=1")
    r = http.post(f"{BASE}/orchestrators/Hello")
    assert r.json()["statusQueryGetUri"].startswith(f"http://localhost:7071{BASE}/instances/")


def test_json_bodies_with_a_utf8_byte_order_mark_are_read_as_dotnet_reads_them(
    http: TestClient, fake: FakeClient
) -> None:
    """The extension's ``ReadAsStringAsync`` drops a byte-order mark (Windows tools write one)."""
    fake.add("a", Status.Running)
    body = b'\xef\xbb\xbf{"a": 1}'
    for url in (
        f"{BASE}/orchestrators/Hello",
        f"{BASE}/instances/a/raiseEvent/E",
        f"{BASE}/entities/Counter/k?op=add",
    ):
        r = http.post(url, content=body, headers=JSON)
        assert r.status_code == 202, (url, r.status_code, r.text)
    assert [call[-1] for call in _mutations(fake)] == [{"a": 1}] * 3
