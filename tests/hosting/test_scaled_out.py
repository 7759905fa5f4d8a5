"""A scaled-out function app, simulated: three worker processes load the sample app through the
Functions Python worker library (``fake_host.py``), only one of them gets the timer's ticks (as Azure
runs a timer trigger on one instance at a time), and work items reach them only through the
queue trigger on ``{hub}-workitems``.

* all three join the task hub's partitions without a tick or a request;
* the fan-out's work items (50 orchestrations × 11 activities) are spread over all three by the
  queue-trigger path;
* one process gets SIGTERM mid-run: its leases are released on the way out and the other two own its
  partitions within seconds (not after the 30-s lease expiry);
* all 50 orchestrations complete exactly once (``tests/integration/exactly_once.check_history``).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from hosts import CONNECTION, FakeHost, delete_hub, lease_owners, start_host, wait_until
from worker_venv import WorkerEnv

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
import exactly_once as eo
import worker_support as ws

import durable_azure as df

pytestmark = pytest.mark.slow

ORCHESTRATIONS = 50
ITEMS = 10  # per orchestration: 1 get_work_batch + 10 process_item activities
EXPECTED = {"items": ITEMS, "sum": sum(i * i for i in range(1, ITEMS + 1))}
#: How fast a worker balances (the lease itself stays DF's 30 s): a freed partition is taken at the
#: next pass, so this bounds how long a released partition waits.
ACQUIRE_INTERVAL = 2.0
PUBLIC = "https://myapp.azurewebsites.net"  # WEBSITE_HOSTNAME, as the host sets it


def _app_folder(env: WorkerEnv, folder: Path) -> Path:
    """The deployed app folder, with faster lease balancing and fewer in-process activities (so most
    work items take the queue-trigger path)."""
    app = folder / "app"
    app.mkdir()
    shutil.copy(env.app_dir / "function_app.py", app / "function_app.py")
    host_json = json.loads((env.app_dir / "host.json").read_text())
    durable = host_json["extensions"]["durableTask"]
    durable["storageProvider"]["leaseAcquireInterval"] = f"00:00:0{ACQUIRE_INTERVAL:.0f}"
    durable["storageProvider"]["leaseRenewInterval"] = "00:00:05"
    durable["maxConcurrentActivityFunctions"] = 2
    (app / "host.json").write_text(json.dumps(host_json))
    return app


def _owned(owners: dict[str, str | None], host: FakeHost) -> list[str]:
    return sorted(p for p, owner in owners.items() if owner == host.worker_id)


async def _start(hub: str) -> list[str]:
    async with df.DurableOrchestrationClient.from_connection_string(CONNECTION, hub_name=hub) as client:
        return list(
            await asyncio.gather(
                *(client.start_new("fan_out_fan_in", None, {"count": ITEMS}) for _ in range(ORCHESTRATIONS))
            )
        )


async def _check(hub_name: str, ids: list[str]) -> list[str]:
    client = ws.client_for(CONNECTION, hub_name)
    hub = ws.Hub(name=hub_name, connection=CONNECTION, client=client)
    try:
        await eo.all_completed(hub, ids, timeout=180)
        problems: list[str] = []
        for instance_id in ids:
            found, _ = await eo.check_history(hub, instance_id, EXPECTED)
            problems += found
        return problems
    finally:
        await client.close()


def test_three_worker_processes_share_the_hub_through_the_queue_trigger(
    worker_env: WorkerEnv, tmp_path: Path
) -> None:
    hub = "so" + uuid.uuid4().hex[:16]
    app = _app_folder(worker_env, tmp_path)
    starter = ["--http-url", f"{PUBLIC}/api/orchestrators/hello_cities?code=KEY1", "--http-body", '["Oslo"]']
    hosts = [
        start_host(worker_env, app, hub, tmp_path, f"host{i}", *{0: ["--timer", "5"], 1: starter}.get(i, []))
        for i in range(3)
    ]
    timer_host, _, victim = hosts
    try:

        def everyone_joined() -> bool:
            owners = lease_owners(hub)
            return len(owners) == 4 and all(_owned(owners, h) for h in hosts)

        wait_until(everyone_joined, timeout=90, what="all three processes to own partitions")
        assert [h.stats().get("timer_invocations", 0) for h in hosts[1:]] == [0, 0]  # joined without ticks
        wait_until(lambda: timer_host.stats().get("timer_invocations", 0) >= 1, what="the timer's first tick")

        # The HTTP starter, invoked through the worker library with a function key: the 202 payload
        # points at the app's public management route and carries the caller's key.
        http = wait_until(lambda: hosts[1].stats().get("http"), what="the HTTP starter's answer")
        assert http["status"] == 202
        links = http["body"]
        base = f"{PUBLIC}/api/durabletask/instances/{links['id']}"
        assert links["statusQueryGetUri"] == f"{base}?taskHub={hub}&connection=Storage&code=KEY1"
        assert links["terminatePostUri"].startswith(f"{base}/terminate?reason={{text}}&taskHub={hub}")

        ids = asyncio.run(_start(hub))
        wait_until(
            lambda: sum(h.stats().get("queue_invocations", 0) for h in hosts) >= 150,
            timeout=120,
            what="150 work items through the queue trigger",
        )
        victim_partitions = _owned(lease_owners(hub), victim)
        assert victim_partitions
        stopped_at = time.monotonic()
        assert victim.stop(signal.SIGTERM) == -signal.SIGTERM, victim.log()[-3000:]
        exited_at = time.monotonic()
        assert not _owned(lease_owners(hub), victim), "the stopped process kept leases"

        def moved() -> bool:
            owners = lease_owners(hub)
            return all(owners.get(p) in (timer_host.worker_id, hosts[1].worker_id) for p in victim_partitions)

        wait_until(moved, timeout=20, interval=0.2, what="the stopped process's partitions to move")
        moved_after = time.monotonic() - exited_at
        assert moved_after < 3 * ACQUIRE_INTERVAL + 2, moved_after  # seconds, not the 30-s lease expiry
        assert exited_at - stopped_at < 30
        assert "leases released" in victim.log()
        assert "cannot schedule new futures" not in victim.log()

        problems = asyncio.run(_check(hub, ids))
        assert not problems, "\n".join(problems[:20])

        final: list[dict[str, Any]] = [h.stats() for h in hosts]
        # (The stopped process's counts are its last report, up to half a second before it ended.)
        delivered = [s["queue_invocations"] for s in final]
        local = [s.get("engine", {}).get("local_runs", 0) for s in final]
        total = ORCHESTRATIONS * (ITEMS + 1)
        assert sum(delivered) >= 0.8 * total, (delivered, local)  # the backlog took the trigger path
        assert min(delivered) >= 0.1 * total / 3, delivered  # and was spread over all three
        assert all(s["queue_failures"] == 0 for s in final), [s["errors"] for s in final]
        assert [s["timer_invocations"] for s in final[1:]] == [0, 0]  # only one instance gets ticks
    finally:
        for host in hosts:
            host.stop(signal.SIGKILL)
        delete_hub(hub)
