"""Starting fake Functions host instances (``fake_host.py``) and reading what they and the hub show."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from worker_venv import WorkerEnv

from durable_azure.storage.taskhub import TaskHubStorage

CONNECTION = "UseDevelopmentStorage=true"


def host_environment(app_dir: Path, hub: str) -> dict[str, str]:
    """What the Functions host gives its Python worker processes (the parts the app reads)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DURABLE_AZURE_", "PYTEST_"))}
    env.update(
        {
            "FUNCTIONS_WORKER_RUNTIME": "python",
            "AzureWebJobsScriptRoot": str(app_dir),
            "AzureWebJobsStorage": CONNECTION,
            "DURABLE_AZURE_HUB": hub,
            "WEBSITE_HOSTNAME": "myapp.azurewebsites.net",
        }
    )
    return env


@dataclass
class FakeHost:
    process: subprocess.Popen[bytes]
    log_path: Path
    stats_path: Path
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def worker_id(self) -> str:
        return f"{socket.gethostname()}:{self.pid}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stats(self) -> dict[str, Any]:
        try:
            return dict(json.loads(self.stats_path.read_text()))
        except (OSError, ValueError):
            return {}

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 45) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(10)


def start_host(
    env: WorkerEnv, app_dir: Path, hub: str, folder: Path, name: str, *args: str, **extra_env: str
) -> FakeHost:
    log_path, stats_path = folder / f"{name}.log", folder / f"{name}.json"
    command = [*env.fake_host(), "--stats", str(stats_path), *args]
    command[2] = str(app_dir)
    with log_path.open("wb") as out:
        process = subprocess.Popen(
            command,
            env={**host_environment(app_dir, hub), **extra_env},
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=app_dir,
        )
    return FakeHost(process, log_path, stats_path)


def wait_until(
    condition: Callable[[], Any], timeout: float = 60, interval: float = 0.25, what: str = "condition"
) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def lease_owners(hub: str) -> dict[str, str | None]:
    """partition id → owner of a live lease (``None``: free)."""

    async def run() -> dict[str, str | None]:
        storage = TaskHubStorage(CONNECTION, hub)
        try:
            leases = await storage.partition_leases()  # table rows or lease blobs
        except ResourceNotFoundError:  # the hub is not created yet
            return {}
        finally:
            await storage.close()
        return {lease.partition_id: (lease.owner if lease.leased else None) for lease in leases}

    return asyncio.run(run())


def delete_hub(hub: str) -> None:
    async def run() -> None:
        storage = TaskHubStorage(CONNECTION, hub)
        try:
            await storage.delete()
        finally:
            await storage.close()

    try:
        asyncio.run(run())
    except Exception:
        pass
