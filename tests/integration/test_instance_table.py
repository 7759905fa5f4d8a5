"""InstanceTable against Azurite: DTFx Instances rows, ETag-guarded start, merges, large values, queries."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from durable_azure.errors import SplitBrainError
from durable_azure.orchestration.history import OrchestrationStatus
from durable_azure.storage.clients import StorageClients
from durable_azure.storage.instance_table import InstanceTable, InstanceUpdate, tags_json
from durable_azure.storage.payloads import PayloadStore

T0 = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=timezone.utc)
EXEC = "e" * 32


@dataclass
class Env:
    clients: StorageClients
    instances: InstanceTable
    payloads: PayloadStore
    hub: str

    async def raw(self, partition_key: str) -> Any:
        table = self.clients.tables.get_table_client(self.instances.table_name)
        return await table.get_entity(partition_key, "")


@pytest.fixture
async def env(azurite: str, hub_name: str) -> AsyncIterator[Env]:
    async with StorageClients(azurite) as clients:
        payloads = PayloadStore(clients, hub_name)
        instances = InstanceTable(clients, hub_name, payloads)
        await instances.create()
        clients.counter.reset()
        try:
            yield Env(clients, instances, payloads, hub_name)
        finally:
            await clients.tables.delete_table(instances.table_name)
            try:
                await clients.blobs.delete_container(payloads.container_name)
            except Exception:
                pass


async def start(env: Env, instance_id: str, *, created: datetime = T0, etag: str | None = None) -> None:
    await env.instances.write_pending(
        instance_id,
        name="Hello",
        version="",
        input='{"x": 1}',
        execution_id=EXEC,
        created_time=created,
        generation=0,
        etag=etag,
    )


async def test_write_pending_and_get(env: Env) -> None:
    await start(env, "order-1")
    assert env.clients.counter.snapshot() == {"table.insert": 1}
    env.clients.counter.reset()
    record = await env.instances.get("order-1")
    assert env.clients.counter.snapshot() == {"table.get": 1}
    assert record is not None
    assert record.instance_id == "order-1" and record.name == "Hello" and record.version == ""
    assert record.runtime_status is OrchestrationStatus.Pending
    assert record.created_time == T0 and type(record.created_time) is datetime
    assert record.last_updated_time >= T0 and record.completed_time is None
    assert record.input == '{"x": 1}' and record.output is None and record.custom_status == "null"
    assert record.execution_id == EXEC and record.generation == 0 and record.etag

    raw = await env.raw("order-1")
    assert raw["RuntimeStatus"] == "Pending" and raw["TaskHubName"] == env.hub
    assert raw["Tags"] == "null" and raw["Generation"] == 0 and isinstance(raw["CreatedTime"], datetime)

    assert await env.instances.get("nobody") is None
    without_input = await env.instances.get("order-1", fetch_input=False)
    assert without_input is not None and without_input.input is None and without_input.name == "Hello"


async def test_second_insert_and_stale_etag_are_split_brain(env: Env) -> None:
    await start(env, "dup")
    with pytest.raises(SplitBrainError):
        await start(env, "dup")
    record = await env.instances.get("dup")
    assert record is not None and record.etag
    await env.instances.merge("dup", InstanceUpdate(status=OrchestrationStatus.Running))
    with pytest.raises(SplitBrainError):
        await start(env, "dup", etag=record.etag)


async def test_replace_with_etag_clears_stale_columns(env: Env) -> None:
    await start(env, "again")
    await env.instances.merge(
        "again",
        InstanceUpdate(
            status=OrchestrationStatus.Completed,
            output='"done"',
            completed_time=T0 + timedelta(minutes=1),
            custom_status='"almost"',
        ),
    )
    record = await env.instances.get("again")
    assert record is not None
    assert record.runtime_status is OrchestrationStatus.Completed and record.output == '"done"'
    assert record.completed_time == T0 + timedelta(minutes=1)

    await env.instances.write_pending(
        "again",
        name="Hello",
        version="2",
        input=None,
        execution_id="f" * 32,
        created_time=T0 + timedelta(hours=1),
        generation=1,
        etag=record.etag,
        scheduled_start_time=T0 + timedelta(hours=2),
    )
    record = await env.instances.get("again")
    assert record is not None
    assert record.runtime_status is OrchestrationStatus.Pending
    assert record.output is None and record.completed_time is None and record.input is None
    assert record.custom_status == "null" and record.generation == 1 and record.version == "2"
    assert record.scheduled_start_time == T0 + timedelta(hours=2)


async def test_merge_upserts_and_converts_types(env: Env) -> None:
    await env.instances.merge(
        "sub-1",
        InstanceUpdate(
            name="Child",
            version="",
            status=OrchestrationStatus.Running,
            created_time=T0,
            last_updated_time=T0,
            execution_id=EXEC,
            generation=0,
            custom_status="null",
            tags=tags_json({"k": "v"}),
            output=None,  # skipped: tables have no null
        ),
    )
    assert env.clients.counter.snapshot() == {"table.merge": 1}
    raw = await env.raw("sub-1")
    assert raw["RuntimeStatus"] == "Running" and raw["TaskHubName"] == env.hub and "Output" not in raw
    assert raw["Tags"] == '{"k":"v"}' and isinstance(raw["CreatedTime"], datetime)
    record = await env.instances.get("sub-1")
    assert record is not None and record.runtime_status is OrchestrationStatus.Running
    assert record.tags == {"k": "v"}


async def test_large_output_round_trips_through_a_blob_url(env: Env) -> None:
    await start(env, "big")
    output = '"' + "x" * 100_000 + '"'
    await env.instances.merge("big", InstanceUpdate(status=OrchestrationStatus.Completed, output=output))
    raw = await env.raw("big")
    url = raw["Output"]
    assert url.startswith(env.payloads.container_url + "/big/Output-") and url.endswith(".json.gz")

    env.clients.counter.reset()
    record = await env.instances.get("big")
    assert env.clients.counter.snapshot() == {"table.get": 1, "blob.download": 1}
    assert record is not None and record.output == output

    env.clients.counter.reset()
    record = await env.instances.get("big", fetch_output=False)
    assert env.clients.counter.snapshot() == {"table.get": 1}
    assert record is not None and record.output is None

    records, _ = await env.instances.query(instance_id_prefix="big")
    assert [r.output for r in records] == [output]


async def test_large_input_at_start(env: Env) -> None:
    big_input = '"' + "é" * 40_000 + '"'
    await env.instances.write_pending(
        "bigin",
        name="H",
        version="",
        input=big_input,
        execution_id=EXEC,
        created_time=T0,
        generation=0,
        etag=None,
    )
    assert (await env.raw("bigin"))["Input"].startswith("http")
    record = await env.instances.get("bigin")
    assert record is not None and record.input == big_input


async def test_paged_query(env: Env) -> None:
    for i in range(25):
        await start(env, f"page-{i:02d}")
    env.clients.counter.reset()
    seen: list[str] = []
    sizes: list[int] = []
    token: str | None = None
    while True:
        records, token = await env.instances.query(page_size=10, continuation_token=token)
        sizes.append(len(records))
        seen.extend(r.instance_id for r in records)
        if token is None:
            break
        assert isinstance(token, str)
    assert sizes == [10, 10, 5]
    assert seen == [f"page-{i:02d}" for i in range(25)]
    assert env.clients.counter.snapshot() == {"table.query": 3}
    # Input is not fetched by default, output is.
    records, _ = await env.instances.query(page_size=1)
    assert records[0].input is None
    records, _ = await env.instances.query(page_size=1, fetch_input=True)
    assert records[0].input == '{"x": 1}'


async def test_filters(env: Env) -> None:
    await start(env, "a-1", created=T0)
    await start(env, "a-2", created=T0 + timedelta(hours=1))
    await start(env, "b-1", created=T0 + timedelta(hours=2))
    await env.instances.merge(
        "@counter@k", InstanceUpdate(name="@counter@k", status=OrchestrationStatus.Running)
    )
    await env.instances.merge("a-2", InstanceUpdate(status=OrchestrationStatus.Running))
    await env.instances.merge("b-1", InstanceUpdate(status=OrchestrationStatus.Failed))

    async def ids(**kwargs: Any) -> list[str]:
        records, token = await env.instances.query(**kwargs)
        assert token is None
        return sorted(r.instance_id for r in records)

    assert await ids() == ["a-1", "a-2", "b-1"]
    assert await ids(include_entities=True) == ["@counter@k", "a-1", "a-2", "b-1"]
    assert await ids(instance_id_prefix="@") == ["@counter@k"]
    assert await ids(instance_id_prefix="a-") == ["a-1", "a-2"]
    assert await ids(statuses=[OrchestrationStatus.Running]) == ["a-2"]
    assert await ids(statuses=[OrchestrationStatus.Running, OrchestrationStatus.Failed]) == ["a-2", "b-1"]
    assert await ids(created_from=T0 + timedelta(minutes=30)) == ["a-2", "b-1"]
    assert await ids(created_to=T0 + timedelta(hours=1)) == ["a-1", "a-2"]
    assert await ids(created_from=T0 + timedelta(minutes=30), created_to=T0 + timedelta(minutes=90)) == [
        "a-2"
    ]
    assert await ids(created_from=T0, statuses=[OrchestrationStatus.Pending], instance_id_prefix="a") == [
        "a-1"
    ]


async def test_quotes_and_special_characters_in_ids(env: Env) -> None:
    instance_id = "it's #1/2"
    await start(env, instance_id)
    await start(env, "it")
    record = await env.instances.get(instance_id)
    assert record is not None and record.instance_id == instance_id
    records, _ = await env.instances.query(instance_id_prefix="it'")
    assert [r.instance_id for r in records] == [instance_id]
    records, _ = await env.instances.query(instance_id_prefix="it")
    assert sorted(r.instance_id for r in records) == ["it", instance_id]
    assert (await env.raw("it's ^21^02"))["Name"] == "Hello"


async def test_delete(env: Env) -> None:
    await start(env, "gone")
    env.clients.counter.reset()
    assert await env.instances.delete("gone") is True
    assert env.clients.counter.total == 1
    assert await env.instances.get("gone") is None
    assert await env.instances.delete("gone") is False


async def test_count_by_status(env: Env) -> None:
    for i in range(3):
        await start(env, f"p{i}")
    await env.instances.merge("p0", InstanceUpdate(status=OrchestrationStatus.Completed))
    await env.instances.merge("@e@1", InstanceUpdate(status=OrchestrationStatus.Running))
    env.clients.counter.reset()
    assert await env.instances.count_by_status() == {"Pending": 2, "Completed": 1}
    assert env.clients.counter.snapshot() == {"table.query": 1}
