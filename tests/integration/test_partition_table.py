"""The ``{Hub}Partitions`` table against Azurite, checked against DTFx's rows (tests/golden/partitions_table_rows.json).

The golden stages are the entity bodies DurableTask.AzureStorage's table partition manager sends
(file and commit in the fixture). Here they are written to Azurite as DTFx writes them (DateTime
strings annotated ``Edm.DateTime``, booleans as JSON booleans; JSON nulls are not stored), and our
:class:`TablePartitionManager` must (a) write rows of exactly the same shape, and (b) obey rows a
.NET worker wrote: never start a partition another worker holds live, steal only by setting
``NextOwner``, claim what is released to it or has expired.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from azure.data.tables import EdmType

from durable_azure.storage.app_lease import AppLeaseStore, app_lease_id
from durable_azure.storage.clients import StorageClients
from durable_azure.storage.partition_table import PartitionTable
from durable_azure.worker.table_partitions import TablePartitionManager

GOLDEN = json.loads(
    (Path(__file__).resolve().parents[1] / "golden" / "partitions_table_rows.json").read_text()
)
STAGES = {stage["name"]: stage["entity"] for stage in GOLDEN["stages"]}
DATETIME_COLUMNS = ("OwnedSince", "LastRenewal", "ExpiresAt")
ME, DOTNET = "python-worker", "dotnet-worker"


def stored_shape(entity: dict[str, Any]) -> dict[str, str]:
    """Column → Edm type of what the Table service stores for a DTFx entity body (nulls dropped)."""
    shape: dict[str, str] = {}
    for key, value in entity.items():
        if key.endswith("@odata.type") or value is None:
            continue
        annotated = entity.get(f"{key}@odata.type")
        shape[key] = annotated or {bool: "Edm.Boolean", str: "Edm.String"}[type(value)]
    return shape


def read_shape(entity: Any) -> dict[str, str]:
    """Column → Edm type of a row read back with the SDK (a DateTime arrives as ``datetime``)."""
    shape: dict[str, str] = {}
    for key, value in entity.items():
        if isinstance(value, datetime):
            shape[key] = "Edm.DateTime"
        elif isinstance(value, bool):
            shape[key] = "Edm.Boolean"
        else:
            assert isinstance(value, str), (key, value)
            shape[key] = "Edm.String"
    return shape


def dotnet_time(moment: datetime) -> str:
    """.NET's round-trip ("o") format, seven fraction digits, as Azure.Data.Tables sends a DateTime."""
    moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond:06d}0Z"


def as_dtfx_writes(stage: str, row_key: str, *, now: datetime, **columns: Any) -> dict[str, Any]:
    """The golden stage for ``row_key``, times moved so ``ExpiresAt`` is ``now`` + the same offset, as
    an SDK entity that sends the same body DTFx sends (DateTime strings annotated ``Edm.DateTime``)."""
    golden = {**STAGES[stage], "RowKey": row_key, **columns}
    base = datetime(2026, 1, 1, tzinfo=timezone.utc)
    entity: dict[str, Any] = {}
    for key, value in golden.items():
        if key.endswith("@odata.type") or value is None:
            continue
        if key in DATETIME_COLUMNS:
            offset = datetime.fromisoformat(value[:26] + "+00:00") - base
            entity[key] = (dotnet_time(now + offset), EdmType.DATETIME)
        else:
            entity[key] = value
    return entity


@pytest.fixture
async def clients(azurite: str) -> AsyncIterator[StorageClients]:
    async with StorageClients(azurite) as c:
        yield c


@pytest.fixture
async def table(clients: StorageClients, hub_name: str) -> AsyncIterator[PartitionTable]:
    t = PartitionTable(clients, hub_name, 4)
    await t.create_if_not_exists()
    yield t
    await t.delete()


class Recorder:
    def __init__(self) -> None:
        self.acquired: list[int] = []
        self.lost: list[int] = []

    async def on_acquired(self, index: int) -> None:
        self.acquired.append(index)

    async def on_lost(self, index: int) -> None:
        self.lost.append(index)


def manager(table: PartitionTable, recorder: Recorder, owner: str = ME) -> TablePartitionManager:
    return TablePartitionManager(
        table, owner, on_acquired=recorder.on_acquired, on_lost=recorder.on_lost, lease_interval=30
    )


async def raw_rows(clients: StorageClients, table: PartitionTable) -> dict[str, Any]:
    client = clients.tables.get_table_client(table.table_name)
    return {e["RowKey"]: e async for e in client.list_entities()}


async def put(clients: StorageClients, table: PartitionTable, entity: dict[str, Any]) -> None:
    await clients.tables.get_table_client(table.table_name).upsert_entity(entity, mode="replace")


def test_golden_stages_follow_the_source() -> None:
    """The fixture itself: every stage has TablePartitionLease's columns, in its order."""
    columns = [
        "PartitionKey",
        "RowKey",
        "CurrentOwner",
        "NextOwner",
        "OwnedSince",
        "LastRenewal",
        "ExpiresAt",
        "IsDraining",
    ]
    for name, entity in STAGES.items():
        assert [k for k in entity if not k.endswith("@odata.type")] == columns, name
        for column in DATETIME_COLUMNS:
            assert (entity[column] is None) == (f"{column}@odata.type" not in entity), (name, column)


async def test_rows_are_created_as_dtfx_creates_them(
    clients: StorageClients, table: PartitionTable, hub_name: str
) -> None:
    rows = await raw_rows(clients, table)
    h = hub_name.lower()
    assert sorted(rows) == [f"{h}-control-0{i}" for i in range(4)]
    assert table.table_name == f"{hub_name}Partitions"
    for row_key, entity in rows.items():
        assert read_shape(entity) == stored_shape({**STAGES["created"], "RowKey": row_key})
        assert entity["PartitionKey"] == "" and entity["IsDraining"] is False
    await table.create_if_not_exists()  # idempotent: existing rows kept
    assert await raw_rows(clients, table) == rows


async def test_claim_renew_drain_release_rows_match_dtfx(
    clients: StorageClients, table: PartitionTable
) -> None:
    recorder = Recorder()
    ours = manager(table, recorder)
    await ours.run_pass()
    assert sorted(recorder.acquired) == [0, 1, 2, 3]
    rows = await raw_rows(clients, table)
    for row_key, entity in rows.items():
        assert read_shape(entity) == stored_shape({**STAGES["claimed"], "RowKey": row_key})
        assert entity["CurrentOwner"] == ME and entity["IsDraining"] is False
        assert entity["ExpiresAt"] - entity["LastRenewal"] == timedelta(
            seconds=30
        )  # ClaimLease, then RenewLease
        assert entity["OwnedSince"] <= entity["LastRenewal"]
    first = rows[table.partition_ids[2]]

    await ours.run_pass()  # renewal: only LastRenewal and ExpiresAt move
    renewed = (await raw_rows(clients, table))[table.partition_ids[2]]
    assert read_shape(renewed) == stored_shape(STAGES["renewed"])
    assert renewed["OwnedSince"] == first["OwnedSince"] and renewed["LastRenewal"] > first["LastRenewal"]

    # A .NET worker steals partition 2 as StealLease does: NextOwner only, Replace with the ETag.
    pid = table.partition_ids[2]
    await put(clients, table, {**dict(renewed), "NextOwner": DOTNET})
    await ours.run_pass()  # drain starts: still ours, renewed, IsDraining
    draining = (await raw_rows(clients, table))[pid]
    assert read_shape(draining) == stored_shape(STAGES["draining"])
    assert (draining["CurrentOwner"], draining["NextOwner"], draining["IsDraining"]) == (ME, DOTNET, True)
    assert recorder.lost == [2] and 2 not in {int(p[-2:]) for p in ours.owned}
    await ours.run_pass()  # drained: released to the thief
    released = (await raw_rows(clients, table))[pid]
    assert read_shape(released) == stored_shape(STAGES["released"])
    assert (
        "CurrentOwner" not in released and released["NextOwner"] == DOTNET and released["IsDraining"] is False
    )
    await ours.run_pass()  # the row waits for the thief: we do not claim it back
    assert (await raw_rows(clients, table))[pid]["NextOwner"] == DOTNET
    assert recorder.acquired.count(2) == 1

    await ours.stop()  # shutdown releases the rest: CurrentOwner null
    after = await raw_rows(clients, table)
    assert all("CurrentOwner" not in e and e["IsDraining"] is False for e in after.values())


async def test_live_rows_a_dotnet_worker_wrote_are_respected(
    clients: StorageClients, table: PartitionTable
) -> None:
    now = datetime.now(timezone.utc)
    pids = table.partition_ids
    for pid in pids:  # a .NET worker holds all four partitions, renewed a moment ago
        await put(clients, table, as_dtfx_writes("renewed", pid, now=now - timedelta(seconds=10)))
    recorder = Recorder()
    ours = manager(table, recorder)
    await ours.run_pass()
    assert recorder.acquired == [] and ours.owned == {}
    rows = await raw_rows(clients, table)
    stolen = sorted(pid for pid, e in rows.items() if e.get("NextOwner") == ME)
    assert len(stolen) == 2  # BalanceLeasesAsync: average 4 // 2 = 2, taken by setting NextOwner only
    for pid in stolen:
        assert read_shape(rows[pid]) == stored_shape(STAGES["stealing"])
        assert rows[pid]["CurrentOwner"] == DOTNET and rows[pid]["IsDraining"] is False

    # Until the .NET worker releases a row, nothing starts here.
    await ours.run_pass()
    assert recorder.acquired == []
    # It drains and releases one (ReleaseLease): we claim it at our next pass.
    released = as_dtfx_writes("released", stolen[0], now=now, NextOwner=ME)
    await put(clients, table, released)
    await ours.run_pass()
    assert recorder.acquired == [int(stolen[0][-2:])]
    assert (await raw_rows(clients, table))[stolen[0]]["CurrentOwner"] == ME


async def test_expired_and_shutting_down_rows(clients: StorageClients, table: PartitionTable) -> None:
    now = datetime.now(timezone.utc)
    p0, p1, p2, p3 = table.partition_ids
    await put(clients, table, as_dtfx_writes("renewed", p0, now=now - timedelta(minutes=5)))  # expired
    await put(clients, table, as_dtfx_writes("shutting-down", p1, now=now - timedelta(seconds=20)))
    await put(clients, table, as_dtfx_writes("renewed", p2, now=now - timedelta(seconds=5)))
    await put(clients, table, as_dtfx_writes("renewed", p3, now=now - timedelta(seconds=5)))
    recorder = Recorder()
    ours = manager(table, recorder)
    await ours.run_pass()
    rows = await raw_rows(clients, table)
    assert recorder.acquired == [0]  # the expired row is claimed at once
    assert rows[p0]["CurrentOwner"] == ME and "NextOwner" not in rows[p0]
    # the owner draining for shutdown is stolen from (CheckOtherWorkersLeases), not started
    assert (rows[p1]["CurrentOwner"], rows[p1]["NextOwner"], rows[p1]["IsDraining"]) == (DOTNET, ME, True)
    assert 1 not in recorder.acquired
    await ours.stop()


async def test_a_row_that_changes_owner_stops_our_partition_at_once(
    clients: StorageClients, table: PartitionTable
) -> None:
    """DropLostControlQueue: a row we ran shows another owner (our lease expired and a .NET worker claimed it)."""
    recorder = Recorder()
    ours = manager(table, recorder)
    await ours.run_pass()
    pid = table.partition_ids[1]
    now = datetime.now(timezone.utc)
    await put(clients, table, as_dtfx_writes("claimed", pid, now=now))
    await ours.run_pass()
    assert recorder.lost == [1] and pid not in ours.owned
    assert (await raw_rows(clients, table))[pid]["CurrentOwner"] == DOTNET
    await ours.stop()


async def test_two_of_our_managers_balance_through_the_table(table: PartitionTable) -> None:
    a_rec, b_rec = Recorder(), Recorder()
    a, b = manager(table, a_rec, "worker-a"), manager(table, b_rec, "worker-b")
    await a.run_pass()
    assert len(a.owned) == 4
    for _ in range(4):  # b steals two; a drains and releases them; b claims them
        await b.run_pass()
        await a.run_pass()
    await b.run_pass()
    assert len(a.owned) == 2 and len(b.owned) == 2
    assert set(a.owned).isdisjoint(b.owned)
    assert sorted(a_rec.lost) == sorted(b_rec.acquired)
    await a.stop()
    await b.stop()


async def test_app_lease_layout_and_lease_id(clients: StorageClients, hub_name: str) -> None:
    golden = GOLDEN["app_lease"]
    for app, lease_id in golden["lease_ids"].items():
        assert app_lease_id(app) == lease_id
    store = AppLeaseStore(clients, hub_name, "")
    try:
        await store.create_if_not_exists()
        h = hub_name.lower()
        assert (store.container_name, store.info_blob_name) == (f"{h}-applease", f"{h}-appleaseinfo")
        assert await store.read_info() == json.loads(golden["info_created"])
        assert await store.try_acquire()
        raw = await clients.blobs.get_container_client(store.container_name).download_blob(
            store.info_blob_name
        )
        assert (await raw.readall()).decode() == golden["info_after_acquire"]
        assert await store.try_acquire()  # another worker of the same app: same lease id, acquired too
        other = AppLeaseStore(clients, hub_name, "my-function-app")
        assert not await other.try_acquire()  # another app is locked out
        assert await store.renew()
        # the other app asks for the lease and changes it over (ForceChangeAppLeaseAsync)
        await other.request_swap()
        assert await other.try_acquire()
        assert not await store.renew()  # the first app's renewal is refused: it stops its partitions
        assert (await other.holder())[0] == golden["lease_ids"]["my-function-app"]
    finally:
        await store.delete(break_foreign=True)
    assert (await store.holder()) == (None, False)


async def test_three_managers_converge_and_never_run_one_partition_twice(table: PartitionTable) -> None:
    """Balancing as BalanceLeasesAsync does (4 rows over 3 workers: 2/1/1), a partition never running
    in two managers at once at any point between passes."""
    recorders = [Recorder() for _ in range(3)]
    managers = [manager(table, r, f"worker-{i}") for i, r in enumerate(recorders)]
    for _ in range(12):
        for m in managers:
            await m.run_pass()
            running = [set(other.owned) for other in managers]
            assert sum(len(r) for r in running) == len(set().union(*running)), running
    assert sorted(len(m.owned) for m in managers) == [1, 1, 2]
    for m in managers:
        await m.stop()
