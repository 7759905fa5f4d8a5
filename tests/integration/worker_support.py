"""Helpers for the worker, client and layout integration tests (Azurite, no storage mocks).

Import from a test module with::

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import worker_support as ws

(pytest runs with ``--import-mode=importlib``, so test directories are not on ``sys.path``.)
It also puts ``worker_apps/`` on ``sys.path`` and exposes the app module as ``worker_support.sample_app``.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from azure.data.tables.aio import TableServiceClient
from azure.storage.blob.aio import BlobServiceClient
from azure.storage.queue.aio import QueueServiceClient

import durable_azure as df
from durable_azure.storage.taskhub import TaskHubStorage

HERE = Path(__file__).resolve().parent
APPS_DIR = HERE / "worker_apps"
RUNNER = APPS_DIR / "run_worker.py"
if str(APPS_DIR) not in sys.path:
    sys.path.insert(0, str(APPS_DIR))

import sample_app  # noqa: E402  (the app module the tests and worker processes run)

T = TypeVar("T")

#: Azurite's well-known account, spelled out so raw reads do not go through durable_azure's code.
AZURITE = (
    "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
    "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;"
    "BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;"
    "QueueEndpoint=http://127.0.0.1:10001/devstoreaccount1;"
    "TableEndpoint=http://127.0.0.1:10002/devstoreaccount1;"
)
#: Queue/blob API version Azurite accepts even without --skipApiVersionCheck.
API_VERSION = "2025-11-05"

#: Short timings for tests (seconds).
FAST: dict[str, Any] = {
    "lease_duration": 15,
    "lease_renew_interval": 2,
    "lease_acquire_interval": 2,
    "control_queue_visibility_timeout": 10,
    "work_item_visibility_timeout": 10,
    "max_queue_polling_interval": 0.5,
}

TERMINAL = {
    df.OrchestrationRuntimeStatus.Completed,
    df.OrchestrationRuntimeStatus.Failed,
    df.OrchestrationRuntimeStatus.Terminated,
    df.OrchestrationRuntimeStatus.Canceled,
}


async def wait_until(
    probe: Callable[[], Awaitable[T]],
    *,
    timeout: float = 20.0,
    interval: float = 0.1,
    what: str = "condition",
) -> T:
    """Poll ``probe`` until it returns something truthy and return that; fail the test on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what} (last value: {value!r})")
        await asyncio.sleep(interval)


async def wait_for_status(
    client: df.DurableOrchestrationClient,
    instance_id: str,
    *statuses: df.OrchestrationRuntimeStatus,
    timeout: float = 20.0,
) -> df.DurableOrchestrationStatus:
    async def probe() -> df.DurableOrchestrationStatus | None:
        status = await client.get_status(instance_id)
        return status if status and status.runtime_status in statuses else None

    return await wait_until(probe, timeout=timeout, what=f"{instance_id} to be {[s.value for s in statuses]}")


async def completed(
    client: df.DurableOrchestrationClient, instance_id: str, timeout: float = 30.0
) -> df.DurableOrchestrationStatus:
    """Wait for a terminal status and require it to be Completed (showing the output otherwise)."""
    status = await client.wait_for_completion(instance_id, timeout=timeout)
    assert status.runtime_status is df.OrchestrationRuntimeStatus.Completed, (
        f"{instance_id} ended {status.runtime_status}: {status.output!r}"
    )
    return status


def client_for(
    connection: str, hub: str, worker: df.TaskHubWorker | None = None
) -> df.DurableOrchestrationClient:
    """A client with its own storage clients; wakes ``worker`` (same process) when it sends."""
    storage = TaskHubStorage(connection, hub)
    return df.DurableOrchestrationClient(storage, notify=worker.notify if worker is not None else None)


async def delete_hub(connection: str, hub: str) -> None:
    storage = TaskHubStorage(connection, hub)
    try:
        await storage.delete()
    finally:
        await storage.close()


@dataclass
class Hub:
    """A task hub under test: a running worker (optional) and a client."""

    name: str
    connection: str
    client: df.DurableOrchestrationClient
    worker: df.TaskHubWorker | None = None
    raw: RawStorage = field(default_factory=lambda: RawStorage())

    @property
    def storage(self) -> TaskHubStorage:
        return self.client.storage

    async def start_worker(self, app: Any = None, **settings: Any) -> df.TaskHubWorker:
        assert self.worker is None
        if app is None:
            app = sample_app.app
        self.worker = df.TaskHubWorker(app, self.connection, hub_name=self.name, **{**FAST, **settings})
        await self.worker.start()
        self.client._notify = self.worker.notify  # wake its partitions on client sends
        return self.worker

    async def stop_worker(self) -> None:
        if self.worker is not None:
            worker, self.worker = self.worker, None
            self.client._notify = None
            await worker.stop()


@asynccontextmanager
async def task_hub(
    connection: str, name: str, *, app: Any = None, worker: bool = True, **settings: Any
) -> AsyncIterator[Hub]:
    """A hub with (by default) a running worker for ``app`` (default: ``sample_app.app``); deleted afterwards."""
    hub = Hub(name=name, connection=connection, client=client_for(connection, name))
    try:
        await hub.storage.create_if_not_exists()
        if worker:
            await hub.start_worker(app, **settings)
        yield hub
    finally:
        with suppress(Exception):
            await hub.stop_worker()
        await hub.client.close()
        await hub.raw.close()
        await delete_hub(connection, name)


class RawStorage:
    """Plain Azure SDK clients on Azurite, for reading what the engine wrote, as other tools would."""

    def __init__(self) -> None:
        self.tables = TableServiceClient.from_connection_string(AZURITE)
        self.queues = QueueServiceClient.from_connection_string(AZURITE, api_version=API_VERSION)
        self.blobs = BlobServiceClient.from_connection_string(AZURITE, api_version=API_VERSION)

    async def rows(self, table: str, query: str | None = None) -> list[Any]:
        client = self.tables.get_table_client(table)
        if query is None:
            return [e async for e in client.list_entities()]
        return [e async for e in client.query_entities(query)]

    async def history_rows(self, hub: str, instance_id: str) -> list[Any]:
        """Every row of the instance's History partition (ids here need no key escaping), by RowKey."""
        quoted = instance_id.replace("'", "''")
        rows = await self.rows(f"{hub}History", f"PartitionKey eq '{quoted}'")
        return sorted(rows, key=lambda r: r["RowKey"])

    async def current_history_rows(self, hub: str, instance_id: str) -> list[Any]:
        """The current execution's event rows (sentinel's ExecutionId; stops at the first other id)."""
        rows = await self.history_rows(hub, instance_id)
        sentinel = next(r for r in rows if r["RowKey"] == "sentinel")
        current = []
        for row in rows:
            if row["RowKey"] == "sentinel" or row.get("ExecutionId") != sentinel["ExecutionId"]:
                break
            current.append(row)
        return current

    async def peek(self, queue: str, max_messages: int = 32) -> list[str]:
        messages = await self.queues.get_queue_client(queue).peek_messages(max_messages=max_messages)
        return [m.content for m in messages]

    async def queue_length(self, queue: str) -> int:
        props = await self.queues.get_queue_client(queue).get_queue_properties()
        return int(props.approximate_message_count or 0)

    async def send_raw(self, queue: str, body: str) -> None:
        await self.queues.get_queue_client(queue).send_message(body, time_to_live=-1)

    async def blob_names(self, container: str) -> list[str]:
        return [b.name async for b in self.blobs.get_container_client(container).list_blobs()]

    async def close(self) -> None:
        await self.tables.close()
        await self.queues.close()
        await self.blobs.close()


def fnv1a_32(text: str) -> int:
    """32-bit FNV-1a over UTF-8, written from the spec (not imported from the engine)."""
    value = 2166136261
    for byte in text.encode("utf-8"):
        value ^= byte
        value = (value * 16777619) % 2**32
    return value


def ids_in_partition(prefix: str, partition: int, count: int, partitions: int = 4) -> list[str]:
    """``count`` instance ids starting with ``prefix`` that route to control queue ``partition``."""
    ids, n = [], 0
    while len(ids) < count:
        candidate = f"{prefix}{n}"
        if fnv1a_32(candidate) % partitions == partition:
            ids.append(candidate)
        n += 1
    return ids


# ---------------------------------------------------------------------------- worker processes


@dataclass
class WorkerProcess:
    worker_id: str
    process: subprocess.Popen[str]
    log_path: Path
    pid: int = 0

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path.exists() else ""


def spawn_worker(
    hub: str, worker_id: str, log_dir: Path, *, connection: str, **settings: Any
) -> WorkerProcess:
    """Start ``run_worker.py`` for ``sample_app`` in a new process; stdout+stderr go to a log file."""
    log_path = log_dir / f"{worker_id}.log"
    out = log_path.open("w", encoding="utf-8")
    process = subprocess.Popen(
        [
            sys.executable,
            str(RUNNER),
            "--app",
            "sample_app:app",
            "--hub",
            hub,
            "--connection",
            connection,
            "--worker-id",
            worker_id,
            "--settings",
            json.dumps({**FAST, **settings}),
        ],
        stdout=out,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    out.close()
    return WorkerProcess(worker_id, process, log_path)


async def wait_ready(worker: WorkerProcess, timeout: float = 30.0) -> int:
    async def probe() -> int | None:
        if worker.process.poll() is not None:
            raise AssertionError(f"worker {worker.worker_id} exited early:\n{worker.log()}")
        for line in worker.log().splitlines():
            if line.startswith("READY "):
                return int(line.split()[1])
        return None

    worker.pid = await wait_until(probe, timeout=timeout, what=f"worker {worker.worker_id} to start")
    return worker.pid


def stop_worker_process(worker: WorkerProcess, timeout: float = 20.0) -> None:
    """SIGTERM (clean stop), then SIGKILL if it does not exit in time. Only ever signals our own child."""
    if worker.process.poll() is None:
        worker.process.send_signal(signal.SIGTERM)
        try:
            worker.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            worker.process.kill()
            worker.process.wait(timeout=5)


def running_partitions(worker: WorkerProcess) -> set[int]:
    """Partitions the worker process is running right now, from its own log lines
    ("acquired partition {hub}-control-NN" / "stopped partition NN of M")."""
    running: set[int] = set()
    for line in worker.log().splitlines():
        if "acquired partition " in line:
            running.add(int(line.rsplit("-", 1)[1]))
        elif "stopped partition " in line:
            running.discard(int(line.split("stopped partition ", 1)[1].split()[0]))
    return running


async def lease_owners(storage: TaskHubStorage) -> dict[str, str]:
    """Partition id → owner, for partitions leased right now (``{Hub}Partitions`` rows or lease blobs)."""
    return {
        lease.partition_id: lease.owner or "" for lease in await storage.partition_leases() if lease.leased
    }
