"""Hosting: ``serve`` and ``worker`` stop cleanly and release their leases; the in-Azure mode, driven the
way the Functions host drives an app (indexed functions called with ``azure.functions`` objects)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest
from azure.functions.timer import TimerRequest
from serve_support import REPO, delete_hub, sample_app_in_azure_mode, start_server, wait_until  # type: ignore[import-not-found]

from durable_azure.functions import runtime
from durable_azure.storage.taskhub import TaskHubStorage

pytestmark = pytest.mark.e2e


def _leases(hub: str) -> list[Any]:
    async def run() -> list[Any]:
        storage = TaskHubStorage("UseDevelopmentStorage=true", hub)
        try:
            return await storage.partition_leases()  # table rows or lease blobs
        finally:
            await storage.close()

    return asyncio.run(run())


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_serve_stops_cleanly_and_releases_leases(azurite: str, tmp_path: Path, sig: int) -> None:
    server = start_server(tmp_path)
    try:
        wait_until(
            lambda: len(_leases(server.hub)) == 4 and all(lease.leased for lease in _leases(server.hub))
        )
        assert server.stop(sig) == 0, server.log()[-3000:]
        assert not any(lease.leased for lease in _leases(server.hub))
        assert "leases released" in server.log()
    finally:
        server.stop(signal.SIGKILL)
        delete_hub(server.hub)


def test_worker_process_runs_orchestrations_and_stops_cleanly(azurite: str, tmp_path: Path) -> None:
    hub = "e2ew" + uuid.uuid4().hex[:16]
    env = {**os.environ, "AzureWebJobsStorage": "UseDevelopmentStorage=true", "DURABLE_AZURE_HUB": hub}
    code = f"from durable_azure.functions.host import run_worker; run_worker({str(REPO)!r})"
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", code], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        wait_until(lambda: "worker running" in log.read_text(), timeout=60, what="the worker to start")

        async def run_one() -> Any:
            from durable_azure.client import DurableOrchestrationClient

            async with DurableOrchestrationClient.from_connection_string(
                "UseDevelopmentStorage=true", hub_name=hub
            ) as client:
                instance_id = await client.start_new("hello_cities", None, ["Bern"])
                return await client.wait_for_completion(instance_id, timeout=30)

        assert asyncio.run(run_one()).output == ["Hello Bern!"]
        process.send_signal(signal.SIGINT)
        assert process.wait(30) == 0, log.read_text()[-3000:]
        assert not any(lease.leased for lease in _leases(hub))
    finally:
        if process.poll() is None:
            process.kill()
        delete_hub(hub)


# ---------------------------------------------------------------- Azure mode, in process
@pytest.fixture
def azure_app(azurite: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, dict[str, Any], str]]:
    """The sample app loaded as the Functions host would, with its own hub; stopped and cleaned after."""
    with sample_app_in_azure_mode(monkeypatch, "e2ea") as loaded:
        yield loaded


def test_azure_mode_timer_starts_the_worker_and_http_functions_drive_it(azure_app: Any) -> None:
    app, functions, hub = azure_app
    hosting = app._durable_azure_hosting
    supervisor = functions["durable_worker_supervisor"].get_user_function()
    supervisor(TimerRequest(past_due=False))
    wait_until(lambda: runtime.active(hub) is not None, what="the background worker")
    assert hosting.is_running()
    supervisor(TimerRequest(past_due=False))  # a second tick leaves the running worker alone
    assert hosting.restarts == 0

    starter = functions["http_start"].get_user_function()
    api = functions["durable_management_api"].get_user_function()

    async def drive() -> dict[str, Any]:
        # The Python worker's own event loop: not the engine's thread.
        request = func.HttpRequest(
            method="POST",
            url="https://myapp.azurewebsites.net/api/orchestrators/fan_out_fan_in?code=KEY",
            route_params={"functionName": "fan_out_fan_in"},
            headers={"content-type": "application/json"},
            body=json.dumps({"count": 4}).encode(),
        )
        response = await starter(request)
        assert response.status_code == 202
        payload = json.loads(response.get_body())
        base = f"https://myapp.azurewebsites.net/api/durabletask/instances/{payload['id']}"
        assert payload["statusQueryGetUri"] == f"{base}?taskHub={hub}&connection=Storage&code=KEY"
        deadline = time.monotonic() + 30
        while True:
            status_request = func.HttpRequest(
                method="GET",
                url=payload["statusQueryGetUri"],
                route_params={"path": f"instances/{payload['id']}"},
                body=b"",
            )
            status = await api(status_request)
            if status.status_code == 200:
                return json.loads(status.get_body())  # type: ignore[no-any-return]
            assert status.status_code == 202 and status.headers["Retry-After"] == "5"
            assert time.monotonic() < deadline, "the orchestration did not finish in 30 s"
            await asyncio.sleep(0.1)

    result = asyncio.run(drive())
    assert result["runtimeStatus"] == "Completed" and result["output"] == {"items": 4, "sum": 30}

    hosting.stop()
    assert not hosting.is_running()
    assert runtime.active(hub) is None
    assert not any(lease.leased for lease in _leases(hub))
