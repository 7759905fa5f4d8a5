"""TaskHubStorage against Azurite: exact DTFx resource names, idempotent create, routing, describe, delete."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone

import pytest

from durable_azure.errors import InvalidHubNameError, StorageError
from durable_azure.orchestration import history as h
from durable_azure.storage.messages import TaskMessage
from durable_azure.storage.taskhub import TaskHubStorage


def fnv1a_32(text: str) -> int:
    """Written out independently of durable_azure.storage.naming (DTFx Fnv1aHashHelper)."""
    value = 2166136261
    for byte in text.encode("utf-8"):
        value = ((value ^ byte) * 16777619) % 2**32
    return value


async def resource_names(hub: TaskHubStorage) -> tuple[set[str], set[str], set[str]]:
    h = hub.hub_name.lower()
    queues = {q.name async for q in hub.clients.queues.list_queues(name_starts_with=h)}
    tables = {t.name async for t in hub.clients.tables.list_tables() if t.name.startswith(hub.hub_name)}
    containers = {c.name async for c in hub.clients.blobs.list_containers(name_starts_with=h)}
    return queues, tables, containers


@pytest.fixture
async def hub(azurite: str, hub_name: str) -> AsyncIterator[TaskHubStorage]:
    async with TaskHubStorage(azurite, hub_name, partition_count=4) as storage:
        try:
            yield storage
        finally:
            await storage.delete()


@pytest.fixture
async def blob_hub(azurite: str, hub_name: str) -> AsyncIterator[TaskHubStorage]:
    """A hub whose partitions are blob leases (host.json ``useTablePartitionManagement: false``)."""
    async with TaskHubStorage(azurite, hub_name, partition_count=4, table_partitions=False) as storage:
        try:
            yield storage
        finally:
            await storage.delete()


async def test_create_makes_exactly_the_dtfx_resources(hub: TaskHubStorage, hub_name: str) -> None:
    """The table partition manager's layout (DF 3.x default): ``{H}Partitions``, no ``{h}-leases``."""
    await hub.create_if_not_exists()
    h = hub_name.lower()
    queues, tables, containers = await resource_names(hub)
    assert queues == {f"{h}-control-00", f"{h}-control-01", f"{h}-control-02", f"{h}-control-03"} | {
        f"{h}-workitems",
    }
    assert tables == {f"{hub_name}History", f"{hub_name}Instances", f"{hub_name}Partitions"}
    assert containers == {f"{h}-largemessages", f"{h}-applease"}
    rows = await hub.partition_table.list()
    assert [row.row_key for row in rows] == [f"{h}-control-0{i}" for i in range(4)]
    assert await hub.exists()


async def test_create_makes_exactly_the_dtfx_blob_lease_resources(
    blob_hub: TaskHubStorage, hub_name: str
) -> None:
    hub = blob_hub
    await hub.create_if_not_exists()
    h = hub_name.lower()
    queues, tables, containers = await resource_names(hub)
    assert len(queues) == 5
    assert tables == {f"{hub_name}History", f"{hub_name}Instances"}
    assert containers == {f"{h}-largemessages", f"{h}-leases", f"{h}-applease"}
    assert await hub.exists()
    info = await hub.leases.read_taskhub_info()
    assert info is not None and info["TaskHubName"] == hub_name and info["PartitionCount"] == 4
    leases = await hub.leases.list()
    assert [lease.partition_id for lease in leases] == [f"{h}-control-0{i}" for i in range(4)]


async def test_create_is_idempotent_and_cached(hub: TaskHubStorage, azurite: str, hub_name: str) -> None:
    await hub.create_if_not_exists()
    hub.clients.counter.reset()
    await hub.create_if_not_exists()
    assert hub.clients.counter.total == 0  # cached on this object

    async with TaskHubStorage(azurite, hub_name, partition_count=4) as other:
        await other.create_if_not_exists()  # a second process: everything exists, no error
        total = other.clients.counter.total
        assert total <= 15, other.clients.counter.snapshot()
    assert len((await resource_names(hub))[0]) == 5


def test_validation(azurite: str) -> None:
    with pytest.raises(InvalidHubNameError):
        TaskHubStorage(azurite, "bad-name")
    with pytest.raises(ValueError):
        TaskHubStorage(azurite, "GoodName", partition_count=17)
    with pytest.raises(ValueError):
        TaskHubStorage(azurite, "GoodName", lease_duration=10)


async def test_control_queue_routing(azurite: str, hub_name: str) -> None:
    async with TaskHubStorage(azurite, hub_name, partition_count=16) as hub16:
        # "foobar" is a published FNV-1a-32 test vector: 0xbf9cf968 -> partition 8 of 16
        assert fnv1a_32("foobar") == 0xBF9CF968
        assert hub16.control_queue_for("foobar").name == f"{hub_name.lower()}-control-08"
        for instance_id in ("order-42", "@counter@a", "日本", "7f3c9d2e6b1a4c5d8e9f0a1b2c3d4e5f"):
            expected = fnv1a_32(instance_id) % 16
            assert hub16.control_queue_for(instance_id) is hub16.control_queue(expected)
    async with TaskHubStorage(azurite, hub_name, partition_count=4) as hub4:
        assert hub4.control_queue_for("foobar").name == f"{hub_name.lower()}-control-00"


async def test_describe_table_layout(hub: TaskHubStorage, hub_name: str) -> None:
    await hub.create_if_not_exists()
    rows = {row.row_key: row for row in await hub.partition_table.list()}
    pid = hub.control_queue(1).name
    now = datetime.now(timezone.utc)
    await hub.partition_table.replace(
        rows[pid].changed(
            current_owner="dotnet-worker", last_renewal=now, expires_at=now + timedelta(seconds=30)
        ),
        rows[pid].etag,
    )
    info = await hub.describe()
    assert info["partitionLayouts"] == ["table"]
    assert info["appLease"] == {"ownerId": None, "leased": False}
    by_name = {p["partition"]: p for p in info["partitions"]}
    assert by_name[pid] == {"partition": pid, "owner": "dotnet-worker", "leased": True, "messages": 0}
    assert all(not p["leased"] for name, p in by_name.items() if name != pid)


async def test_describe_shows_owners_of_dtfx_safe_manager_blobs(hub: TaskHubStorage, hub_name: str) -> None:
    """A hub a Durable Functions 2.x app runs (SafePartitionManager): ``{h}-leases`` with
    ``intent/`` and ``ownership/`` blobs holding ``Lease`` JSON (``Lease.cs``: PartitionId, Owner,
    Token, Epoch), ownership being a blob lease. ``hub info`` shows the owner; nothing is taken."""
    await hub.create_if_not_exists()
    h = hub_name.lower()
    container = hub.clients.blobs.get_container_client(f"{h}-leases")
    await container.create_container()
    pid = f"{h}-control-03"
    token = str(uuid.uuid4())
    for lease_type in ("intent", "ownership"):
        body = json.dumps({"PartitionId": pid, "Owner": "dotnet-vm-1", "Token": token, "Epoch": 4})
        await container.upload_blob(f"{lease_type}/{pid}", body)
    await container.get_blob_client(f"ownership/{pid}").acquire_lease(lease_duration=60, lease_id=token)
    info = await hub.describe()
    assert info["partitionLayouts"] == ["table", "safe"]
    by_name = {p["partition"]: p for p in info["partitions"]}
    assert by_name[pid]["owner"] == "dotnet-vm-1" and by_name[pid]["leased"] is True
    assert all(not p["leased"] for name, p in by_name.items() if name != pid)


async def test_describe(blob_hub: TaskHubStorage, hub_name: str) -> None:
    hub = blob_hub
    await hub.create_if_not_exists()
    queue = hub.control_queue_for("order-42")
    await queue.send(TaskMessage(h.EventRaised(name="go"), "order-42", None))
    lease = await hub.leases.acquire(queue.name, "worker-a")
    assert lease is not None
    hub.clients.counter.reset()
    info = await hub.describe()
    assert info["hub"] == hub_name and info["partitionCount"] == 4
    assert info["workItems"] == 0 and info["poison"] == 0 and info["instances"] == {}
    by_name = {p["partition"]: p for p in info["partitions"]}
    assert by_name[queue.name] == {
        "partition": queue.name,
        "owner": "worker-a",
        "leased": True,
        "messages": 1,
    }
    others = [p for p in info["partitions"] if p["partition"] != queue.name]
    assert all(p == {**p, "owner": None, "leased": False, "messages": 0} for p in others)
    counts = hub.clients.counter.snapshot()
    assert counts["blob.list"] == 1 and counts["queue.properties"] == 5
    await hub.leases.release(lease)


async def test_delete_removes_everything(azurite: str, hub_name: str) -> None:
    async with TaskHubStorage(azurite, hub_name, partition_count=4) as hub:
        await hub.create_if_not_exists()
        await hub.control_queue(0).send(TaskMessage(h.EventRaised(name="go"), "x", None))
        await hub.delete()
        assert await resource_names(hub) == (set(), set(), set())
        with pytest.raises(StorageError, match="does not exist"):
            await hub.describe()
        await hub.delete()  # deleting a deleted hub is fine
        await hub.create_if_not_exists()  # and it can be created again
        assert len((await resource_names(hub))[0]) == 5
        await hub.delete()
