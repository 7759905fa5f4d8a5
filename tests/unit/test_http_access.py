"""Keys for ``durable-azure serve``, the sample app's auth levels, and bounded waits in the HTTP client."""

from __future__ import annotations

import asyncio
import json
import sys
import textwrap
import warnings
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest

with warnings.catch_warnings():  # Starlette 1.x prefers httpx2; httpx works the same here
    warnings.filterwarnings("ignore", message=".*httpx2.*")
    from starlette.testclient import TestClient

from durable_azure.client import DurableOrchestrationStatus
from durable_azure.functions import runtime
from durable_azure.functions.access import AccessPolicy, InsecureBindError, access_policy, is_loopback
from durable_azure.functions.host import LocalHost
from durable_azure.functions.http_client import FunctionsDurableClient
from durable_azure.functions.loader import load_app
from durable_azure.functions.waits import MAX_WAIT_SECONDS, check_wait
from durable_azure.orchestration.status import OrchestrationRuntimeStatus as Status
from durable_azure.storage.taskhub import TaskHubStorage

REPO = Path(__file__).resolve().parents[2]
KEY = "k" * 20 + "-secret"
WEBHOOK = "/runtime/webhooks/durabletask"

APP = textwrap.dedent(
    """
    import azure.functions as func

    app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)

    @app.route(route="private")
    def private(req: func.HttpRequest) -> str:
        return "private"

    @app.route(route="public", auth_level=func.AuthLevel.ANONYMOUS)
    def public(req: func.HttpRequest) -> str:
        return "public"
    """
)


# ---------------------------------------------------------------- the policy
@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.5", False),
        ("myhost.example", False),
        ("", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_no_key_is_needed_on_loopback() -> None:
    assert access_policy("127.0.0.1", {}) == AccessPolicy(None)
    assert AccessPolicy(None).authorized(None, None)


def test_beyond_loopback_a_key_is_required() -> None:
    with pytest.raises(InsecureBindError, match="DURABLE_AZURE_HOST_KEY"):
        access_policy("0.0.0.0", {})
    with pytest.raises(InsecureBindError, match="too short"):
        access_policy("0.0.0.0", {"DURABLE_AZURE_HOST_KEY": "short"})
    policy = access_policy("0.0.0.0", {"DURABLE_AZURE_HOST_KEY": KEY})
    assert policy.requires_key
    assert policy.authorized(KEY, None) and policy.authorized(None, KEY)
    assert not policy.authorized(None, None) and not policy.authorized("wrong", "also-wrong")
    assert access_policy("127.0.0.1", {"DURABLE_AZURE_HOST_KEY": KEY}).requires_key  # a key set is a key used


# ---------------------------------------------------------------- serve with a key
@pytest.fixture
def keyed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    """A plain app served on all interfaces with a key (in process: nothing listens)."""
    (tmp_path / "function_app.py").write_text(APP)
    monkeypatch.setenv("AzureWebJobsScriptRoot", str(tmp_path))
    monkeypatch.setenv("DURABLE_AZURE_HUB", "KeyedHub")
    monkeypatch.setenv("DURABLE_AZURE_HOST_KEY", KEY)
    monkeypatch.syspath_prepend(str(tmp_path))
    local = LocalHost(tmp_path, host="0.0.0.0", port=7998)
    yield TestClient(local.asgi(), base_url="http://192.0.2.1:7998")
    sys.modules.pop("function_app", None)


def test_serve_without_a_key_refuses_to_bind_beyond_loopback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "function_app.py").write_text(APP)
    monkeypatch.delenv("DURABLE_AZURE_HOST_KEY", raising=False)
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        with pytest.raises(InsecureBindError):
            LocalHost(tmp_path, host="0.0.0.0", port=7998)
        LocalHost(tmp_path, host="127.0.0.1", port=7998)  # fine on loopback
    finally:
        sys.modules.pop("function_app", None)


def test_the_management_api_needs_the_key(keyed: TestClient) -> None:
    for method, path in (("GET", "instances/x"), ("POST", "orchestrators/Hello"), ("DELETE", "instances/x")):
        r = keyed.request(method, f"{WEBHOOK}/{path}")
        assert r.status_code == 401 and "x-functions-key" in r.json()["Message"]
        assert keyed.request(method, f"{WEBHOOK}/{path}?code=wrong").status_code == 401
    assert keyed.post(f"{WEBHOOK}/makeprimary?code={KEY}").status_code == 200
    assert keyed.post(f"{WEBHOOK}/makeprimary", headers={"x-functions-key": KEY}).status_code == 200
    assert keyed.get(f"{WEBHOOK}/openapi.json").status_code == 200  # the description is public
    assert keyed.get(f"{WEBHOOK}/instances/openapi.json").status_code == 401  # ... and only it


def test_function_level_functions_need_the_key_anonymous_ones_do_not(keyed: TestClient) -> None:
    assert keyed.get("/api/private").status_code == 401
    assert keyed.get(f"/api/private?code={KEY}").text == "private"
    assert keyed.get("/api/private", headers={"x-functions-key": KEY}).text == "private"
    assert keyed.get("/api/public").text == "public"
    assert keyed.get("/durable/instances/some-id").status_code == 401  # timelines show inputs/outputs


def test_the_sample_app_is_not_anonymous(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AzureWebJobsScriptRoot", str(REPO))  # load_app sets it; restore it after
    try:
        indexed = load_app(REPO)
    finally:
        sys.modules.pop("function_app", None)
        runtime._settings_for.cache_clear()
    levels = {f.get_function_name(): getattr(f.get_trigger(), "auth_level", None) for f in indexed.http}
    assert set(levels) >= {"http_start", "counter_signal", "counter_read", "durable_management_api"}
    assert all(str(getattr(level, "value", level)).lower() == "function" for level in levels.values()), levels


# ---------------------------------------------------------------- waits in user code
def test_check_wait() -> None:
    assert check_wait(10, 1).poll_every == 1
    assert check_wait(0, 0).poll_every == 0.1  # the floor
    for timeout, interval in (
        (float("inf"), 1),
        (float("nan"), 1),
        (5, float("inf")),
        (-1, 0),
        (5, -1),
        (1, 2),
    ):
        with pytest.raises(ValueError):
            check_wait(timeout, interval)
    with pytest.raises(ValueError, match="at most"):
        check_wait(MAX_WAIT_SECONDS + 1, 1)
    assert check_wait(10_000, 1, limit=None).timeout == 10_000


class _CountingClient(FunctionsDurableClient):
    def __init__(self) -> None:
        super().__init__(TaskHubStorage("UseDevelopmentStorage=true", "MyHub"))
        self.polls = 0

    async def get_status(self, *args: Any, **kwargs: Any) -> DurableOrchestrationStatus:
        self.polls += 1
        t0 = datetime(2024, 5, 1, tzinfo=timezone.utc)
        return DurableOrchestrationStatus(
            name="Hello", instanceId="i", createdTime=t0, lastUpdatedTime=t0, runtimeStatus=Status.Running
        )


def _request() -> func.HttpRequest:
    return func.HttpRequest(method="POST", url="http://localhost:7071/api/start", body=b"")


@pytest.mark.timeout(20)
@pytest.mark.parametrize(("timeout_ms", "interval_ms"), [(float("inf"), 1000), (float("nan"), 0), (-5, -10)])
def test_wait_for_completion_rejects_unbounded_waits(timeout_ms: float, interval_ms: float) -> None:
    client = _CountingClient()
    with pytest.raises(ValueError):
        asyncio.run(
            client.wait_for_completion_or_create_check_status_response(
                _request(), "i", timeout_ms, interval_ms
            )  # type: ignore[arg-type]
        )
    assert client.polls == 0


@pytest.mark.timeout(20)
def test_wait_for_completion_with_a_zero_interval_does_not_spin() -> None:
    client = _CountingClient()
    response = asyncio.run(
        client.wait_for_completion_or_create_check_status_response(_request(), "i", 500, 0)
    )
    assert response.status_code == 202 and "statusQueryGetUri" in json.loads(response.get_body())
    assert client.polls <= 7  # every 0.1 s at most (it used to poll storage back to back)


@pytest.mark.timeout(20)
def test_wait_for_completion_stops_when_the_client_disconnects() -> None:
    from durable_azure.functions.waits import attach_disconnect_waiter

    client = _CountingClient()
    request = _request()

    async def gone_soon() -> None:
        await asyncio.sleep(0.3)

    attach_disconnect_waiter(request, gone_soon)

    async def run() -> func.HttpResponse:
        return await asyncio.wait_for(
            client.wait_for_completion_or_create_check_status_response(request, "i", 60_000, 100), 5
        )

    assert asyncio.run(run()).status_code == 202
    assert client.polls <= 5
