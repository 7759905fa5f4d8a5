"""Workers sharing a hub through DTFx's ``{Hub}Partitions`` table and app lease, and a change of layout.

* two of our workers balance the partitions through the table and run every instance once;
* a partition a .NET worker holds (its row written as DTFx writes it) is not run here until the
  row expires; then it is claimed and its instance completes;
* a worker of another app waits while that app holds the app lease;
* hand-over: a hub with instances in flight under one layout (blob ``default/`` leases, or the
  table) is stopped and its workers restart with the other (as a .NET DF app switching
  ``useTablePartitionManagement`` would); every instance completes exactly once.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import worker_support as ws
from test_partition_table import as_dtfx_writes

import durable_azure as df
from durable_azure import OrchestrationRuntimeStatus as S
from durable_azure.orchestration import history as h
from durable_azure.storage.app_lease import AppLeaseStore, app_lease_id

app = df.DFApp()
calls: Counter[str] = Counter()
_lock = threading.Lock()
STEPS = 3


@app.orchestration_trigger(context_name="context")
def Chain(context: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
    results = []
    for n in range(STEPS):
        results.append((yield context.call_activity("Step", {"id": context.instance_id, "n": n})))
    return results


@app.activity_trigger(input_name="step")
def Step(step: dict[str, Any]) -> str:
    with _lock:
        calls[f"{step['id']}:{step['n']}"] += 1
    time.sleep(0.2)
    return f"{step['id']}:{step['n']}"


async def exactly_once(hub: ws.Hub, ids: list[str], timeout: float = 90) -> None:
    """Each instance completed once with every step's output; each step ran once and is answered once."""
    for instance_id in ids:
        status = await ws.completed(hub.client, instance_id, timeout=timeout)
        assert status.output == [f"{instance_id}:{n}" for n in range(STEPS)]
        events = await hub.client.get_history(instance_id)
        assert sum(isinstance(e, h.ExecutionStarted) for e in events) == 1
        assert sum(isinstance(e, h.ExecutionCompleted) for e in events) == 1
        answered = [e.task_scheduled_id for e in events if isinstance(e, (h.TaskCompleted, h.TaskFailed))]
        assert answered == list(range(STEPS)), answered
        for n in range(STEPS):
            assert calls[f"{instance_id}:{n}"] == 1, (instance_id, n, calls[f"{instance_id}:{n}"])


async def second_worker(hub: ws.Hub, worker_id: str, **settings: Any) -> df.TaskHubWorker:
    worker = df.TaskHubWorker(
        app, hub.connection, hub_name=hub.name, **{**ws.FAST, "worker_id": worker_id, **settings}
    )
    await worker.start()
    return worker


async def test_two_workers_balance_through_the_partition_table(azurite: str, hub_name: str) -> None:
    async with ws.task_hub(azurite, hub_name, app=app, worker=False) as hub:
        first = await hub.start_worker(app, worker_id="worker-a")
        second = await second_worker(hub, "worker-b")
        try:

            async def balanced() -> dict[str, str] | None:
                owners = await ws.lease_owners(hub.storage)
                counts = Counter(owners.values())
                running = set(first.partitions.owned) | set(second.partitions.owned)
                if (
                    len(owners) == 4
                    and counts["worker-a"] == counts["worker-b"] == 2
                    and running == set(owners)
                ):
                    return owners
                return None

            owners = await ws.wait_until(balanced, timeout=60, what="the table to balance over two workers")
            assert set(first.partitions.owned).isdisjoint(second.partitions.owned)
            layouts, _ = await hub.storage.partition_layouts()
            assert layouts == ["table"] and set(owners) == {
                f"{hub_name.lower()}-control-0{i}" for i in range(4)
            }
            ids = [f"{hub_name}-bal-{i}" for i in range(8)]
            for instance_id in ids:
                await hub.client.start_new("Chain", instance_id)
            await exactly_once(hub, ids)
        finally:
            await second.stop()


async def test_a_partition_a_dotnet_worker_holds_is_not_run_until_its_row_expires(
    azurite: str, hub_name: str
) -> None:
    async with ws.task_hub(azurite, hub_name, app=app, worker=False) as hub:
        table = hub.storage.partition_table
        rows = hub.storage.clients.tables.get_table_client(table.table_name)
        now = datetime.now(timezone.utc)
        for pid in table.partition_ids:  # renewed 18 s ago with a 30 s lease: live for 12 s more
            await rows.upsert_entity(
                as_dtfx_writes("renewed", pid, now=now - timedelta(seconds=28)), mode="replace"
            )
        held = f"{hub_name}-held"
        await hub.client.start_new("Chain", held)
        worker = await hub.start_worker(app, worker_id="python-worker")
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:  # a bounded watch: nothing may happen while the rows are live
            assert worker.partitions.owned == {}
            status = await hub.client.get_status(held)
            assert status is not None and status.runtime_status is S.Pending
            await asyncio.sleep(0.5)
        assert calls[f"{held}:0"] == 0
        await exactly_once(hub, [held], timeout=60)
        owners = await ws.lease_owners(hub.storage)
        assert set(owners.values()) == {"python-worker"}


async def test_a_worker_of_another_app_waits_for_the_app_lease(azurite: str, hub_name: str) -> None:
    async with ws.task_hub(azurite, hub_name, app=app, worker=False) as hub:
        dotnet_app = AppLeaseStore(hub.storage.clients, hub_name, "dotnet-function-app", lease_duration=60)
        assert await dotnet_app.try_acquire()
        gated = f"{hub_name}-gated"
        await hub.client.start_new("Chain", gated)
        worker = await hub.start_worker(app, app_lease_acquire_interval=1, app_name="")
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline:  # a bounded watch: the other app holds the hub
            assert worker.partitions.owned == {}
            assert (await hub.client.get_status(gated)).runtime_status is S.Pending  # type: ignore[union-attr]
            await asyncio.sleep(0.5)
        assert (await ws.lease_owners(hub.storage)) == {}
        await dotnet_app.release()  # the .NET app stops
        await exactly_once(hub, [gated], timeout=60)
        owner, leased = await hub.storage.app_lease.holder()
        assert (owner, leased) == (app_lease_id(""), True)


@pytest.mark.parametrize(
    ("before", "after"), [(False, True), (True, False)], ids=["blob-to-table", "table-to-blob"]
)
async def test_instances_in_flight_survive_a_change_of_partition_layout(
    azurite: str, hub_name: str, before: bool, after: bool
) -> None:
    async with ws.task_hub(azurite, hub_name, app=app, worker=False) as hub:
        await hub.start_worker(app, use_table_partition_management=before, worker_id="old-1")
        ids = [f"{hub_name}-move-{i}" for i in range(8)]
        for instance_id in ids:
            await hub.client.start_new("Chain", instance_id)

        async def in_flight() -> bool:
            return sum(calls[f"{i}:0"] for i in ids) >= 3

        await ws.wait_until(in_flight, timeout=60, what="some chains to be past their first step")
        await hub.stop_worker()  # the old layout's workers stop, leases released
        assert await ws.lease_owners(hub.storage) == {}
        assert any(s.runtime_status is S.Running for s in await hub.client.get_status_by())

        await hub.start_worker(app, use_table_partition_management=after, worker_id="new-1")
        other = await second_worker(hub, "new-2", use_table_partition_management=after)
        try:
            await exactly_once(hub, ids)
            layouts, leases = await hub.storage.partition_layouts()
            assert set(layouts) == {"table", "blob"}  # the old layout is left as released
            live = {lease.partition_id: lease.owner for lease in leases if lease.leased}
            assert set(live.values()) <= {"new-1", "new-2"} and live
            if after:
                rows = await hub.storage.partition_table.list()
                assert {r.current_owner for r in rows} <= {"new-1", "new-2"}
            else:
                blobs = await hub.storage.leases.list()
                assert {b.owner for b in blobs if b.leased} <= {"new-1", "new-2"}
        finally:
            await other.stop()


async def test_losing_the_app_lease_to_another_app_stops_and_releases_every_partition(
    azurite: str, hub_name: str
) -> None:
    async with ws.task_hub(azurite, hub_name, app=app, worker=False) as hub:
        worker = await hub.start_worker(app, worker_id="python-worker", app_lease_renew_interval=1)

        async def owns_all() -> bool:
            return len(worker.partitions.owned) == 4

        await ws.wait_until(owns_all, timeout=30, what="the worker to own every partition")
        dotnet_app = AppLeaseStore(hub.storage.clients, hub_name, "dotnet-function-app")
        await dotnet_app.request_swap()  # ForceChangeAppLeaseAsync: DesiredSwapId, then ChangeLease
        assert await dotnet_app.try_acquire()

        async def released() -> bool:
            rows = await hub.storage.partition_table.list()
            return not worker.partitions.owned and all(row.current_owner is None for row in rows)

        await ws.wait_until(released, timeout=30, what="the worker to stop and release its partitions")
        assert (await hub.storage.app_lease.holder()) == (app_lease_id("dotnet-function-app"), True)


async def test_a_hub_with_blob_leases_keeps_them_when_the_setting_is_not_given(
    azurite: str, hub_name: str
) -> None:
    """Upgrading a hub made with ``default/`` lease blobs (by an earlier durable-azure, or with
    ``useTablePartitionManagement: false``): without the setting, the new worker keeps the blob
    leases rather than switching layouts under workers that may still run the old ones."""
    async with ws.task_hub(azurite, hub_name, app=app, worker=False) as hub:
        await hub.storage.partition_table.delete()  # the hub as an earlier version left it
        await hub.start_worker(app, use_table_partition_management=False, worker_id="old-1")
        first = f"{hub_name}-before"
        await hub.client.start_new("Chain", first)
        await exactly_once(hub, [first])
        await hub.stop_worker()

        worker = await hub.start_worker(app, worker_id="new-1")  # no setting
        second = f"{hub_name}-after"
        await hub.client.start_new("Chain", second)
        await exactly_once(hub, [second])
        assert worker.storage.table_partitions is False
        assert not await hub.storage.partition_table.exists()
        blobs = await hub.storage.leases.list()
        assert {b.owner for b in blobs if b.leased} == {"new-1"}


async def test_a_new_hub_gets_the_partition_table_when_the_setting_is_not_given(
    azurite: str, hub_name: str
) -> None:
    async with ws.task_hub(azurite, hub_name, app=app, worker=False) as hub:
        worker = await hub.start_worker(app, worker_id="new-1")
        assert worker.storage.table_partitions is True
        rows = await hub.storage.partition_table.list()
        assert {r.current_owner for r in rows} == {"new-1"}
