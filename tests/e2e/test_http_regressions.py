"""Regressions from fuzzing ``durable-azure serve`` (issue 13), over real HTTP (uvicorn + Azurite).

Each test is one defect the fuzzer found: a 500 or a dropped connection for a client error, an id
altered on the way in, an unbounded wait, a hub created or a setting probed through ``taskHub`` /
``connection``. The last tests need no Azurite: storage that refuses connections is a 503.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from serve_support import REPO, free_port  # type: ignore[import-not-found]

from durable_azure.functions import runtime

pytestmark = pytest.mark.e2e

JSON = {"content-type": "application/json"}
DEEP = b"[" * 1000 + b"]" * 1000
SURROGATE = b'{"city": "\\ud800"}'
WAITING = {"requestId": "r", "timeoutSeconds": 3600}


def _u() -> str:
    return uuid.uuid4().hex[:10]


def _start_waiting(api: Any, instance_path: str) -> None:
    """Start an approval that waits an hour, under an id given as it goes in the URL path."""
    response = api.http.post(api.mgmt(f"orchestrators/approval_workflow/{instance_path}"), json=WAITING)
    assert response.status_code == 202, response.text


def _assert_json_4xx(response: httpx.Response, code: int = 400) -> dict[str, Any]:
    assert response.status_code == code, (response.request.url, response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert body["Message"]
    return body


# ---------------------------------------------------------------- 500s for client errors
@pytest.mark.parametrize("base", ["runtime/webhooks/durabletask", "api/durabletask"])
def test_a_non_latin1_path_is_a_json_404(api: Any, base: str) -> None:
    response = api.http.get(api.url(f"{base}/instances/%E2%82%AC-{_u()}"))
    assert "€" in _assert_json_4xx(response, 404)["Message"]


@pytest.mark.parametrize("body", [DEEP, SURROGATE], ids=["nested-1000-deep", "lone-surrogate"])
def test_bad_json_is_400_everywhere(api: Any, body: bytes) -> None:
    _assert_json_4xx(api.http.post(api.mgmt("orchestrators/hello_cities"), content=body, headers=JSON))
    _assert_json_4xx(
        api.http.post(api.url("api/durabletask/orchestrators/hello_cities"), content=body, headers=JSON)
    )
    _assert_json_4xx(api.http.post(api.url("api/orchestrators/hello_cities"), content=body))
    _assert_json_4xx(api.http.post(api.url(f"api/counters/c{_u()}/add"), content=body))
    _assert_json_4xx(api.http.post(api.mgmt(f"entities/Counter/c{_u()}?op=add"), content=body, headers=JSON))


def test_status_of_an_id_ending_in_a_space(api: Any) -> None:
    """The server dropped the connection: its ``Location`` header ended in a raw space."""
    instance_id = f"sp-{_u()} "
    _start_waiting(api, instance_id.replace(" ", "%20"))
    for base in ("runtime/webhooks/durabletask", "api/durabletask"):
        response = api.http.get(api.url(f"{base}/instances/{instance_id.replace(' ', '%20')}"))
        assert response.status_code == 202, response.text
        assert response.json()["instanceId"] == instance_id
        assert response.headers["location"].endswith(f"/{base}/instances/{instance_id[:-1]}%20")
    api.http.post(api.mgmt(f"instances/{instance_id.replace(' ', '%20')}/terminate"))


# ---------------------------------------------------------------- ids are decoded exactly once
def test_the_azure_route_does_not_decode_twice(api: Any) -> None:
    u = _u()
    _start_waiting(api, f"dd-{u}")
    response = api.http.get(api.url(f"api/durabletask/instances/dd%252D{u}"))  # the id "dd%2D<u>"
    assert f"dd%2D{u}" in _assert_json_4xx(response, 404)["Message"]
    # An id that really holds "%2D" is found under both bases.
    response = api.http.post(api.mgmt(f"orchestrators/hello_cities/pct%252D{u}"), json=["X"])
    assert response.status_code == 202 and response.json()["id"] == f"pct%2D{u}"
    assert response.json()["statusQueryGetUri"].split("?")[0].endswith(f"/instances/pct%252D{u}")
    for base in ("runtime/webhooks/durabletask", "api/durabletask"):
        found = api.http.get(api.url(f"{base}/instances/pct%252D{u}"))
        assert found.status_code in (200, 202) and found.json()["instanceId"] == f"pct%2D{u}"
    api.http.post(api.mgmt(f"instances/dd-{u}/terminate"))


def test_a_tab_in_an_id_is_never_dropped(api: Any) -> None:
    """``POST .../instances/d%09d-1/terminate`` terminated ``dd-1``."""
    u = _u()
    _start_waiting(api, f"dd-{u}")
    for base in ("api/durabletask", "runtime/webhooks/durabletask"):
        response = api.http.post(api.url(f"{base}/instances/d%09d-{u}/terminate"))
        _assert_json_4xx(response)  # an id with a control character is invalid
    assert api.http.get(api.mgmt(f"instances/dd-{u}")).json()["runtimeStatus"] in ("Pending", "Running")
    api.http.post(api.mgmt(f"instances/dd-{u}/terminate"))


# ---------------------------------------------------------------- taskHub / connection
def _tables(hub_prefix: str) -> list[str]:
    from azure.data.tables.aio import TableServiceClient

    from durable_azure.storage.clients import DEVELOPMENT_STORAGE

    async def run() -> list[str]:
        async with TableServiceClient.from_connection_string(DEVELOPMENT_STORAGE) as service:
            return [t.name async for t in service.list_tables() if t.name.lower().startswith(hub_prefix)]

    return asyncio.run(run())


def test_task_hub_parameter_creates_nothing(api: Any) -> None:
    hub = f"fz{_u()}"
    for method, path in (
        ("POST", f"orchestrators/hello_cities?taskHub={hub}"),
        ("POST", f"instances/x/raiseEvent/E?taskHub={hub}"),
        ("GET", f"instances?taskHub={hub}"),
        ("POST", f"entities/Counter/k?op=add&taskHub={hub}"),
    ):
        body = _assert_json_4xx(api.http.request(method, api.mgmt(path), json=1))
        assert hub in body["ExceptionMessage"]
    assert _tables(hub) == []


def test_connection_parameter_does_not_reveal_settings(api: Any) -> None:
    """``PATH`` exists in the server's environment, ``NoSuchSetting`` does not: same answer."""
    existing = _assert_json_4xx(api.http.get(api.mgmt("instances?connection=PATH")))
    missing = _assert_json_4xx(api.http.get(api.mgmt("instances?connection=NoSuchSetting")))
    assert existing["ExceptionMessage"].replace("PATH", "?") == missing["ExceptionMessage"].replace(
        "NoSuchSetting", "?"
    )


# ---------------------------------------------------------------- bounded waits
def test_an_infinite_wait_is_400_and_starts_nothing(api: Any) -> None:
    u = _u()
    started = time.monotonic()
    response = api.http.post(
        api.mgmt(f"orchestrators/approval_workflow/inf-{u}?timeout=inf&pollingInterval=0"),
        json=WAITING,
        timeout=10,
    )
    _assert_json_4xx(response)
    assert time.monotonic() - started < 5
    assert api.http.get(api.mgmt(f"instances/inf-{u}")).status_code == 404


def test_a_wait_ends_when_the_caller_disconnects(api: Any) -> None:
    u = _u()
    with pytest.raises(httpx.ReadTimeout):
        api.http.post(
            api.mgmt(f"orchestrators/approval_workflow/dc-{u}?timeout=120&pollingInterval=0.2"),
            json=WAITING,
            timeout=1.0,
        )
    api.until(
        lambda: f"waiting for 'dc-{u}'; stopped polling" in api.server.log(),
        timeout=10,
        what="the server to notice the caller left",
    )
    api.http.post(api.mgmt(f"instances/dc-{u}/terminate"))


# ---------------------------------------------------------------- storage unreachable (no Azurite needed)
def _refused_connection_string() -> str:
    port = free_port()  # nothing listens there
    endpoints = "".join(
        f"{kind}Endpoint=http://127.0.0.1:{port}/devstoreaccount1;" for kind in ("Blob", "Queue", "Table")
    )
    return (
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
        "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;"
        + endpoints
    )


@pytest.fixture
def unreachable_host(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The sample app in a serve host (in process, engine not started) whose storage refuses connections."""
    from durable_azure.functions.host import LocalHost

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*httpx2.*")
        from starlette.testclient import TestClient

    monkeypatch.setenv("AzureWebJobsStorage", _refused_connection_string())
    monkeypatch.setenv("DURABLE_AZURE_HUB", "unreachable")
    monkeypatch.setenv("AzureWebJobsScriptRoot", str(REPO))
    monkeypatch.delenv("DURABLE_AZURE_HOST_KEY", raising=False)
    runtime._settings_for.cache_clear()
    local = LocalHost(REPO, port=7071)
    try:
        yield TestClient(local.asgi(), base_url="http://127.0.0.1:7071")  # no lifespan: no worker
    finally:
        runtime._settings_for.cache_clear()
        sys.modules.pop("function_app", None)


@pytest.mark.timeout(120)
def test_unreachable_storage_is_503_with_retry_after(unreachable_host: Any) -> None:
    port = _refused_connection_string().split("127.0.0.1:")[1].split("/")[0]
    for method, path in (
        ("GET", "runtime/webhooks/durabletask/instances/some-id"),
        ("POST", "api/orchestrators/hello_cities"),
    ):
        response = unreachable_host.request(method, f"/{path}")
        assert response.status_code == 503, (path, response.text)
        assert response.headers["retry-after"] == "10"
        assert response.json()["Message"]
        assert "127.0.0.1" not in response.text and port not in response.text


# ---------------------------------------------------------------- serve beyond loopback needs a key
def test_serve_on_all_interfaces_refuses_to_start_without_a_key(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DURABLE_AZURE_HOST_KEY"}
    command = [sys.executable, "-m", "durable_azure.cli.main", "serve", "--app-dir", str(REPO)]
    result = subprocess.run(
        [*command, "--host", "0.0.0.0", "--port", str(free_port())],
        cwd=tmp_path,
        env={**env, "AzureWebJobsStorage": "UseDevelopmentStorage=true"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert (
        "DURABLE_AZURE_HOST_KEY" in result.stderr and "Uvicorn running" not in result.stdout + result.stderr
    )
