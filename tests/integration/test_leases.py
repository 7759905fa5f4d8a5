"""Blob partition leases against Azurite: acquire, renew, release, steal, expiry, layout."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

import pytest

from durable_azure.storage.clients import StorageClients
from durable_azure.storage.leases import LeaseStore, PartitionLease

T = TypeVar("T")


async def wait_until(probe: Callable[[], Awaitable[T]], timeout: float = 30.0, interval: float = 0.25) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if value or time.monotonic() > deadline:
            return value
        await asyncio.sleep(interval)


@pytest.fixture
async def clients(azurite: str) -> AsyncIterator[StorageClients]:
    async with StorageClients(azurite) as c:
        yield c


@pytest.fixture
async def store(clients: StorageClients, hub_name: str) -> AsyncIterator[LeaseStore]:
    s = LeaseStore(clients, hub_name, 4)
    await s.create_if_not_exists()
    yield s
    await clients.blobs.delete_container(s.container_name)


async def blob_json(clients: StorageClients, container: str, name: str) -> dict[str, object]:
    stream = await clients.blobs.get_container_client(container).download_blob(name)
    return json.loads(await stream.readall())


async def test_layout(clients: StorageClients, store: LeaseStore, hub_name: str) -> None:
    h = hub_name.lower()
    container = clients.blobs.get_container_client(f"{h}-leases")
    names = sorted([b.name async for b in container.list_blobs()])
    assert names == [f"default/{h}-control-0{i}" for i in range(4)] + ["taskhub.json"]
    info = await store.read_taskhub_info()
    assert info is not None and list(info) == ["TaskHubName", "CreatedAt", "PartitionCount"]
    assert info["TaskHubName"] == hub_name and info["PartitionCount"] == 4 and info["CreatedAt"].endswith("Z")
    lease_doc = await blob_json(clients, f"{h}-leases", f"default/{h}-control-02")
    assert lease_doc == {"PartitionId": f"{h}-control-02", "Owner": None, "Token": None, "Epoch": 0}


async def test_create_is_idempotent_and_cheap(clients: StorageClients, store: LeaseStore) -> None:
    info = await store.read_taskhub_info()
    clients.counter.reset()
    await store.create_if_not_exists()
    counts = clients.counter.snapshot()
    # container exists (1) + list (1) + read taskhub.json (1); nothing rewritten
    assert counts == {"blob.create_container": 1, "blob.list": 1, "blob.download": 1}
    assert await store.read_taskhub_info() == info


async def test_partition_count_change_rewrites_taskhub_json(
    clients: StorageClients, store: LeaseStore
) -> None:
    bigger = LeaseStore(clients, store.hub, 6)
    await bigger.create_if_not_exists()
    info = await bigger.read_taskhub_info()
    assert info is not None and info["PartitionCount"] == 6
    assert len(await bigger.list()) == 6


async def test_list_is_one_request(clients: StorageClients, store: LeaseStore, hub_name: str) -> None:
    clients.counter.reset()
    leases = await store.list()
    assert clients.counter.snapshot() == {"blob.list": 1}
    h = hub_name.lower()
    assert leases == [PartitionLease(f"{h}-control-0{i}", None, 0, False, None) for i in range(4)]


async def test_two_owners(clients: StorageClients, store: LeaseStore, hub_name: str) -> None:
    pid = f"{hub_name.lower()}-control-01"
    a = await store.acquire(pid, "worker-a")
    assert a is not None and a.owner == "worker-a" and a.epoch == 1 and a.leased and a.token
    assert await store.acquire(pid, "worker-b") is None

    doc = await blob_json(clients, store.container_name, f"default/{pid}")
    assert doc == {"PartitionId": pid, "Owner": "worker-a", "Token": a.token, "Epoch": 1}
    listed = {lease.partition_id: lease for lease in await store.list()}
    assert listed[pid] == PartitionLease(pid, "worker-a", 1, True, None)

    clients.counter.reset()
    assert await store.renew(a) is True
    assert clients.counter.snapshot() == {"blob.lease_renew": 1}

    await store.release(a)
    listed = {lease.partition_id: lease for lease in await store.list()}
    assert listed[pid] == PartitionLease(pid, None, 1, False, None)
    doc = await blob_json(clients, store.container_name, f"default/{pid}")
    assert doc["Owner"] is None and doc["Token"] is None
    assert await store.renew(a) is False  # released: renew reports the loss
    await store.release(a)  # releasing again is tolerated

    b = await store.acquire(pid, "worker-b")
    assert b is not None and b.owner == "worker-b" and b.epoch == 2


async def test_steal_changes_the_owner(store: LeaseStore, hub_name: str) -> None:
    pid = f"{hub_name.lower()}-control-03"
    a = await store.acquire(pid, "worker-a")
    assert a is not None
    (current,) = [lease for lease in await store.list() if lease.partition_id == pid]
    assert current.leased and current.owner == "worker-a"

    b = await store.steal(pid, "worker-b", current)
    assert b is not None and b.owner == "worker-b" and b.epoch == 2 and b.token and b.token != a.token
    (after,) = [lease for lease in await store.list() if lease.partition_id == pid]
    assert (after.owner, after.epoch, after.leased) == ("worker-b", 2, True)

    assert await store.renew(a) is False  # the old owner learns it lost the lease
    assert await store.renew(b) is True
    await store.release(a)  # the loser's release must not disturb the new owner
    assert await store.renew(b) is True
    assert await store.steal(pid, "worker-c", current) is None  # stale view: conflict


async def test_steal_of_an_unleased_partition_acquires(store: LeaseStore, hub_name: str) -> None:
    pid = f"{hub_name.lower()}-control-00"
    (current,) = [lease for lease in await store.list() if lease.partition_id == pid]
    got = await store.steal(pid, "worker-b", current)
    assert got is not None and got.owner == "worker-b" and got.epoch == 1


async def test_invalid_lease_duration(clients: StorageClients, hub_name: str) -> None:
    with pytest.raises(ValueError):
        LeaseStore(clients, hub_name, 4, lease_duration=14)
    with pytest.raises(ValueError):
        LeaseStore(clients, hub_name, 4, lease_duration=61)


@pytest.mark.slow
async def test_expired_lease_is_acquirable(clients: StorageClients, hub_name: str) -> None:
    """Takes ~16 s: a 15 s lease that is not renewed expires."""
    store = LeaseStore(clients, hub_name, 1, lease_duration=15)
    await store.create_if_not_exists()
    try:
        pid = f"{hub_name.lower()}-control-00"
        old = await store.acquire(pid, "worker-a")
        assert old is not None
        assert await store.acquire(pid, "worker-b") is None

        async def try_acquire() -> PartitionLease | None:
            return await store.acquire(pid, "worker-b")

        new = await wait_until(try_acquire, timeout=30, interval=0.5)
        assert new is not None and new.owner == "worker-b" and new.epoch == 2
        assert await store.renew(old) is False
        assert await store.renew(new) is True
    finally:
        await clients.blobs.delete_container(store.container_name)
