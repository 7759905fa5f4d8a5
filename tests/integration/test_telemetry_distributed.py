"""One trace from an HTTP request through two worker processes, joined by trace id (OpenTelemetry SDK,
in-memory exporters in every process; the workers write what they exported to a file when they stop)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import telemetry_support as ts
import worker_support as ws

from durable_azure.config import load_settings
from durable_azure.functions import runtime
from durable_azure.functions.host import LocalHost
from durable_azure.telemetry import TelemetryOptions

pytestmark = pytest.mark.slow

WORKER = ts.APP_DIR / "telemetry_worker.py"


def spawn(hub: str, name: str, tmp: Path, connection: str) -> tuple[ws.WorkerProcess, Path]:
    out = tmp / f"{name}.spans.json"
    log_path = tmp / f"{name}.log"
    with log_path.open("w", encoding="utf-8") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                str(WORKER),
                "--hub",
                hub,
                "--connection",
                connection,
                "--out",
                str(out),
                "--name",
                name,
                "--settings",
                json.dumps(ws.FAST),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    return ws.WorkerProcess(name, process, log_path), out


async def balanced(hub: ws.Hub, workers: list[ws.WorkerProcess]) -> dict[int, str]:
    """Partition → worker, once each worker holds and runs two of the four partitions."""

    async def probe() -> dict[int, str] | None:
        owners = {int(p.rsplit("-", 1)[1]): o for p, o in (await ws.lease_owners(hub.storage)).items()}
        counts = Counter(owners.values())
        if len(owners) != 4 or any(counts[w.worker_id] != 2 for w in workers):
            return None
        for worker in workers:
            if ws.running_partitions(worker) != {p for p, o in owners.items() if o == worker.worker_id}:
                return None
        return owners

    return await ws.wait_until(probe, timeout=60, interval=0.5, what="leases balanced over two workers")


def id_in(hub: ws.Hub, owners: dict[int, str], worker: str) -> str:
    """A new instance id whose partition ``worker`` runs."""
    while True:
        candidate = uuid.uuid4().hex
        if owners[hub.storage.partition_of(candidate)] == worker:
            return candidate


async def test_http_start_to_finish_is_one_trace_across_two_worker_processes(
    azurite: str, hub_name: str, tmp_path: Path
) -> None:
    cap = ts.Capture(TelemetryOptions.load(ts.APP_DIR, hub_name), process="host")
    workers: list[ws.WorkerProcess] = []
    outputs: list[Path] = []
    hosted = None
    try:
        async with ws.task_hub(azurite, hub_name, worker=False) as hub:
            for name in ("w1", "w2"):
                worker, out = spawn(hub_name, name, tmp_path, azurite)
                workers.append(worker)
                outputs.append(out)
            for worker in workers:
                await ws.wait_ready(worker)
            owners = await balanced(hub, workers)
            instance_id, leg_id = id_in(hub, owners, "w1"), id_in(hub, owners, "w2")

            # the HTTP host in this process (no engine here: the two workers run everything)
            settings = load_settings(ts.APP_DIR).with_overrides(hub_name=hub_name, connection_string=azurite)
            host = LocalHost(ts.APP_DIR, settings=settings)
            import asyncio

            hosted = runtime.install(
                runtime.HostedRuntime(settings, loop=asyncio.get_running_loop(), owner="test")
            )
            caller_trace, caller_span = uuid.uuid4().hex, uuid.uuid4().hex[:16]
            transport = httpx.ASGITransport(app=host.asgi())
            async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:7071") as http:
                response = await http.post(
                    f"/api/orchestrators/Journey?instanceId={instance_id}",
                    json={"leg_id": leg_id},
                    headers={"traceparent": f"00-{caller_trace}-{caller_span}-01"},
                )
            assert response.status_code == 202, response.text
            assert response.json()["id"] == instance_id, response.text
            status = await ws.completed(hub.client, instance_id, timeout=60)
            pids = status.output["pids"]
            assert pids[0] == pids[1] != pids[2], f"the Leg's activity ran in the other worker: {pids}"
            for worker in workers:
                ws.stop_worker_process(worker)
    finally:
        for worker in workers:
            ws.stop_worker_process(worker)
        if hosted is not None:
            runtime.uninstall(hosted)
            await runtime.close_clients()
        ts.forget_app_module()
        host_spans = cap.span_dicts()
        cap.close()

    spans: list[dict[str, Any]] = list(host_spans)
    for out, worker in zip(outputs, workers, strict=True):
        assert out.exists(), f"{worker.worker_id} wrote no spans:\n{worker.log()[-3000:]}"
        spans += json.loads(out.read_text(encoding="utf-8"))
    trace = [s for s in spans if s["trace_id"] == caller_trace]
    ids = {s["span_id"]: s for s in trace}

    def one(name: str, kind: str) -> dict[str, Any]:
        (found,) = [s for s in trace if s["name"] == name and s["kind"] == kind]
        return found

    request = one("POST /orchestrators/{functionName}", "SERVER")
    assert request["parent_id"] == caller_span and request["process"] == "host"
    assert request["attributes"]["http.response.status_code"] == 202
    create = one("create_orchestration:Journey", "PRODUCER")
    assert create["parent_id"] == request["span_id"] and create["process"] == "host"
    journey = one("orchestration:Journey", "SERVER")
    assert journey["parent_id"] == create["span_id"] and journey["process"] == "w1"
    leg_client = one("orchestration:Leg", "CLIENT")
    assert leg_client["parent_id"] == journey["span_id"] and leg_client["process"] == "w1"
    leg = one("orchestration:Leg", "SERVER")
    assert leg["parent_id"] == leg_client["span_id"] and leg["process"] == "w2"
    # every activity: server span (where it ran) under the client span of the orchestration that called it
    servers = [s for s in trace if s["name"].startswith("activity:") and s["kind"] == "SERVER"]
    assert len(servers) == 6
    for server in servers:
        client = ids[server["parent_id"]]
        assert client["kind"] == "CLIENT" and client["name"] == server["name"]
        owner = ids[client["parent_id"]]
        assert owner["name"] in ("orchestration:Journey", "orchestration:Leg")
        assert server["process"] == ("w1" if owner is journey else "w2")
    assert {s["process"] for s in trace} == {"host", "w1", "w2"}
    assert len(trace) == len(spans) - len([s for s in spans if s["trace_id"] != caller_trace])
    assert not [s for s in spans if s["trace_id"] != caller_trace], "no span outside the request's trace"
