"""Helpers for the e2e tests: run ``durable-azure serve`` in a subprocess and talk to it over HTTP."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
WEBHOOK = "/runtime/webhooks/durabletask"
T = TypeVar("T")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve_command(app_dir: Path, port: int) -> list[str]:
    """``durable-azure serve`` through the CLI when it is installed, else the host module directly."""
    if (
        importlib.util.find_spec("durable_azure.cli.main") is not None
        and os.environ.get("DURABLE_AZURE_E2E_HOST") != "1"
    ):
        return [
            sys.executable,
            "-m",
            "durable_azure.cli.main",
            "serve",
            "--app-dir",
            str(app_dir),
            "--port",
            str(port),
        ]
    return [
        sys.executable,
        "-m",
        "durable_azure.functions.host",
        "serve",
        "--app-dir",
        str(app_dir),
        "--port",
        str(port),
    ]


def wait_until(predicate: Callable[[], T], timeout: float = 30.0, interval: float = 0.1, what: str = "") -> T:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: T = predicate()
    while not last:
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what or predicate}; last value: {last!r}")
        time.sleep(interval)
        last = predicate()
    return last


@dataclass
class Server:
    """A running ``serve`` subprocess."""

    process: subprocess.Popen[bytes]
    base_url: str
    hub: str
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, sig: int = signal.SIGINT, timeout: float = 30.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
                pytest.fail(
                    f"serve did not stop within {timeout} s after signal {sig}:\n{self.log()[-3000:]}"
                )
        return int(self.process.returncode)


def start_server(log_dir: Path, hub: str | None = None, app_dir: Path = REPO) -> Server:
    hub = hub or "e2e" + uuid.uuid4().hex[:16]
    port = free_port()
    env = {
        **os.environ,
        "AzureWebJobsStorage": "UseDevelopmentStorage=true",
        "DURABLE_AZURE_HUB": hub,
        "PYTHONUNBUFFERED": "1",
    }
    log_path = log_dir / f"serve-{hub}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            serve_command(app_dir, port), cwd=app_dir, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    server = Server(process, f"http://127.0.0.1:{port}", hub, log_path)

    def ready() -> bool:
        if process.poll() is not None:
            pytest.fail(f"serve exited with {process.returncode}:\n{server.log()[-3000:]}")
        try:
            return httpx.get(server.base_url + "/", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(ready, timeout=60, interval=0.2, what="serve to answer")
    return server


def delete_hub(hub: str) -> None:
    from durable_azure.storage.taskhub import TaskHubStorage

    async def run() -> None:
        storage = TaskHubStorage("UseDevelopmentStorage=true", hub)
        try:
            await storage.delete()
        finally:
            await storage.close()

    asyncio.run(run())


class Api:
    """HTTP helpers for the sample app and the management API."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.base = server.base_url
        self.http = httpx.Client(timeout=30)

    def url(self, path: str) -> str:
        return f"{self.base}/{path.lstrip('/')}"

    def mgmt(self, path: str) -> str:
        return f"{self.base}{WEBHOOK}/{path.lstrip('/')}"

    def start(self, name: str, body: Any = None) -> dict[str, Any]:
        """Start ``name`` through the sample's HTTP starter; returns the check-status payload."""
        response = self.http.post(self.url(f"api/orchestrators/{name}"), json=body)
        assert response.status_code == 202, response.text
        payload = response.json()
        assert response.headers["location"] == payload["statusQueryGetUri"]
        return payload  # type: ignore[no-any-return]

    def status(self, payload_or_url: dict[str, Any] | str, **params: Any) -> httpx.Response:
        url = payload_or_url if isinstance(payload_or_url, str) else payload_or_url["statusQueryGetUri"]
        return self.http.get(url, params=params)

    def wait_for(self, payload: dict[str, Any], statuses: set[str], timeout: float = 30.0) -> dict[str, Any]:
        """Poll ``statusQueryGetUri`` until ``runtimeStatus`` is one of ``statuses``; returns the status JSON."""

        def check() -> dict[str, Any] | None:
            response = self.status(payload)
            assert response.status_code in (200, 202), response.text
            body: dict[str, Any] = response.json()
            return body if body["runtimeStatus"] in statuses else None

        return wait_until(check, timeout=timeout, what=f"{payload['id']} to be {statuses}")

    def wait_done(self, payload: dict[str, Any], timeout: float = 30.0) -> dict[str, Any]:
        return self.wait_for(payload, {"Completed", "Failed", "Terminated", "Canceled"}, timeout)

    def history(self, payload: dict[str, Any]) -> list[dict[str, Any]]:
        body = self.status(payload, showHistory="true", showHistoryOutput="true").json()
        return body.get("historyEvents") or []  # type: ignore[no-any-return]

    @staticmethod
    def until(predicate: Callable[[], T], timeout: float = 30.0, what: str = "") -> T:
        return wait_until(predicate, timeout=timeout, what=what)

    @staticmethod
    def fill(template: str, **values: str) -> str:
        for key, value in values.items():
            template = template.replace("{" + key + "}", value)
        return template


@contextmanager
def sample_app_in_azure_mode(
    monkeypatch: pytest.MonkeyPatch, hub_prefix: str
) -> Iterator[tuple[Any, dict[str, Any], str]]:
    """The sample app loaded in process as the Functions host would load it, with its own hub (named
    ``hub_prefix`` + 16 hex digits): yields the app, its functions by name and the hub; stopped,
    unloaded and the hub deleted afterwards."""
    from durable_azure.functions import runtime
    from durable_azure.functions.loader import find_app, load_module

    hub = hub_prefix + uuid.uuid4().hex[:16]
    monkeypatch.setenv("DURABLE_AZURE_HUB", hub)
    monkeypatch.setenv("AzureWebJobsStorage", "UseDevelopmentStorage=true")
    monkeypatch.setenv("AzureWebJobsScriptRoot", str(REPO))
    monkeypatch.setenv("WEBSITE_HOSTNAME", "myapp.azurewebsites.net")
    runtime._settings_for.cache_clear()
    sys.modules.pop("function_app", None)
    app = find_app(load_module(REPO))
    functions = {f.get_function_name(): f for f in app.get_functions()}
    try:
        yield app, functions, hub
    finally:
        app._durable_azure_hosting.stop()
        runtime._settings_for.cache_clear()
        sys.modules.pop("function_app", None)
        delete_hub(hub)
