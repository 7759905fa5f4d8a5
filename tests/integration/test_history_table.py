"""HistoryTable against Azurite: DTFx row layout, sentinel ETag chain, chunking, large values, rewind."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from durable_azure.errors import SplitBrainError
from durable_azure.orchestration.history import (
    EventRaised,
    ExecutionCompleted,
    ExecutionStarted,
    FailureDetails,
    GenericEvent,
    HistoryEvent,
    OrchestrationStatus,
    OrchestratorCompleted,
    OrchestratorStarted,
    SubOrchestrationInstanceCreated,
    SubOrchestrationInstanceFailed,
    TaskCompleted,
    TaskFailed,
    TaskScheduled,
    TimerCreated,
)
from durable_azure.storage.clients import StorageClients
from durable_azure.storage.history_table import HistoryTable
from durable_azure.storage.payloads import PayloadStore

T0 = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=timezone.utc)
EXEC1 = "1" * 32
EXEC2 = "2" * 32


@dataclass
class Env:
    clients: StorageClients
    history: HistoryTable
    payloads: PayloadStore

    async def rows(self, partition_key: str) -> list[Any]:
        table = self.clients.tables.get_table_client(self.history.table_name)
        rows = [r async for r in table.query_entities(f"PartitionKey eq '{partition_key}'")]
        return sorted(rows, key=lambda r: r["RowKey"])


@pytest.fixture
async def env(azurite: str, hub_name: str) -> AsyncIterator[Env]:
    async with StorageClients(azurite) as clients:
        payloads = PayloadStore(clients, hub_name)
        history = HistoryTable(clients, hub_name, payloads)
        await history.create()
        clients.counter.reset()
        try:
            yield Env(clients, history, payloads)
        finally:
            await clients.tables.delete_table(history.table_name)
            try:
                await clients.blobs.delete_container(payloads.container_name)
            except Exception:
                pass


def first_episode(instance_id: str = "order-42", execution_id: str = EXEC1) -> list[HistoryEvent]:
    return [
        OrchestratorStarted(timestamp=T0),
        ExecutionStarted(
            timestamp=T0, name="Hello", instance_id=instance_id, execution_id=execution_id, input='"x"'
        ),
        TaskScheduled(event_id=0, timestamp=T0, name="SayHello", input='"Tokyo"'),
        TimerCreated(event_id=1, timestamp=T0, fire_at=T0 + timedelta(hours=1)),
        OrchestratorCompleted(timestamp=T0),
    ]


async def test_append_and_load_round_trip_in_single_requests(env: Env) -> None:
    events = first_episode()
    etag = await env.history.append("order-42", EXEC1, events, start_index=0, etag=None)
    assert env.clients.counter.snapshot() == {"table.batch": 1}

    env.clients.counter.reset()
    loaded = await env.history.load("order-42")
    assert env.clients.counter.snapshot() == {"table.query": 1}
    assert loaded.events == events
    assert loaded.etag == etag
    assert loaded.execution_id == EXEC1

    # Second episode appends after the first, chained on the sentinel ETag.
    more = [
        OrchestratorStarted(timestamp=T0),
        TaskCompleted(timestamp=T0, task_scheduled_id=0, result='"Hi"'),
    ]
    env.clients.counter.reset()
    etag2 = await env.history.append("order-42", EXEC1, more, start_index=len(events), etag=etag)
    assert env.clients.counter.snapshot() == {"table.batch": 1}
    assert etag2 != etag
    loaded = await env.history.load("order-42")
    assert loaded.events == events + more and loaded.etag == etag2

    rows = await env.rows("order-42")
    assert [r["RowKey"] for r in rows] == [f"{i:016X}" for i in range(7)] + ["sentinel"]
    sentinel = rows[-1]
    assert sentinel["ExecutionId"] == EXEC1 and sentinel["IsCheckpointComplete"] is True
    assert isinstance(sentinel["CheckpointCompletedTimestamp"], datetime)
    scheduled = rows[2]
    assert scheduled["EventType"] == "TaskScheduled" and scheduled["EventId"] == 0
    assert isinstance(rows[3]["FireAt"], datetime) and isinstance(rows[3]["_Timestamp"], datetime)


async def test_load_of_unknown_instance_is_empty(env: Env) -> None:
    loaded = await env.history.load("nobody")
    assert loaded.events == [] and loaded.etag is None and loaded.execution_id is None


async def test_sentinel_etag_guards_writes(env: Env) -> None:
    etag = await env.history.append("i1", EXEC1, first_episode("i1"), start_index=0, etag=None)
    # A second "first write" (another worker that also saw no history) conflicts: 409.
    with pytest.raises(SplitBrainError):
        await env.history.append("i1", EXEC1, first_episode("i1"), start_index=0, etag=None)
    newer = await env.history.append(
        "i1", EXEC1, [OrchestratorStarted(timestamp=T0)], start_index=5, etag=etag
    )
    # A writer still holding the old ETag loses: 412, and nothing of its batch is written.
    with pytest.raises(SplitBrainError):
        await env.history.append("i1", EXEC1, [GenericEvent(data="stale")], start_index=6, etag=etag)
    loaded = await env.history.load("i1")
    assert len(loaded.events) == 6 and loaded.etag == newer


async def test_escaped_partition_key(env: Env) -> None:
    instance_id = "a/b#c?d\\e^f'g"
    await env.history.append(instance_id, EXEC1, first_episode(instance_id), start_index=0, etag=None)
    rows = await env.rows("a^0b^2c^3d^1e^^f''g")
    assert len(rows) == 6
    loaded = await env.history.load(instance_id)
    assert loaded.events == first_episode(instance_id)


async def test_250_events_are_written_in_three_chained_transactions(env: Env) -> None:
    events: list[HistoryEvent] = [
        EventRaised(timestamp=T0 + timedelta(seconds=i), name=f"e{i}", input=str(i)) for i in range(250)
    ]
    etag = await env.history.append("big", EXEC1, events, start_index=0, etag=None)
    assert env.clients.counter.snapshot() == {"table.batch": 3}
    env.clients.counter.reset()
    loaded = await env.history.load("big")
    assert env.clients.counter.snapshot() == {"table.query": 1}
    assert loaded.events == events and loaded.etag == etag
    sentinel = (await env.rows("big"))[-1]
    assert sentinel["IsCheckpointComplete"] is True

    # The chain continues from the returned ETag.
    await env.history.append("big", EXEC1, [OrchestratorStarted(timestamp=T0)], start_index=250, etag=etag)


async def test_load_follows_pages_beyond_1000_rows(env: Env) -> None:
    events: list[HistoryEvent] = [EventRaised(timestamp=T0, name="e", input=str(i)) for i in range(1005)]
    etag = await env.history.append("huge", EXEC1, events, start_index=0, etag=None)
    assert env.clients.counter.snapshot() == {"table.batch": 11}
    env.clients.counter.reset()
    loaded = await env.history.load("huge")
    assert env.clients.counter.snapshot() == {"table.query": 2}
    assert loaded.events == events and loaded.etag == etag


async def test_large_result_goes_to_a_blob(env: Env) -> None:
    big = '"' + "é" * 200_000 + '"'
    events = [*first_episode("L"), TaskCompleted(timestamp=T0, task_scheduled_id=0, result=big)]
    await env.history.append("L", EXEC1, events, start_index=0, etag=None)
    row = (await env.rows("L"))[5]
    assert row["Result"] == ""
    blob = row["ResultBlobName"]
    assert blob.startswith("L/history-0000000000000005-TaskCompleted-") and blob.endswith("-Result.json.gz")
    assert len(blob.split("-")[3]) == 8  # RRRRRRRR

    loaded = await env.history.load("L")
    assert loaded.events == events
    assert loaded.blob_names == (blob,)
    assert await env.payloads.download(blob) == big


async def test_new_execution_overwrites_from_row_zero(env: Env) -> None:
    long_history = [
        *first_episode("can"),
        OrchestratorStarted(timestamp=T0),
        TaskCompleted(timestamp=T0, task_scheduled_id=0, result="1"),
        OrchestratorCompleted(timestamp=T0),
    ]
    etag = await env.history.append("can", EXEC1, long_history, start_index=0, etag=None)
    new_history = [
        OrchestratorStarted(timestamp=T0),
        ExecutionStarted(timestamp=T0, name="Hello", instance_id="can", execution_id=EXEC2, input="2"),
        OrchestratorCompleted(timestamp=T0),
    ]
    etag2 = await env.history.append("can", EXEC2, new_history, start_index=0, etag=etag)
    rows = await env.rows("can")
    assert len(rows) == 9  # 8 rows (3 new + 5 stale) + sentinel
    assert rows[3]["ExecutionId"] == EXEC1 and rows[-1]["ExecutionId"] == EXEC2

    loaded = await env.history.load("can")
    assert loaded.events == new_history
    assert loaded.execution_id == EXEC2 and loaded.etag == etag2


async def test_delete_instance_removes_every_row(env: Env) -> None:
    events: list[HistoryEvent] = [EventRaised(timestamp=T0, name="e", input=str(i)) for i in range(150)]
    await env.history.append("del", EXEC1, events, start_index=0, etag=None)
    await env.history.append("keep", EXEC1, first_episode("keep"), start_index=0, etag=None)
    env.clients.counter.reset()
    assert await env.history.delete_instance("del") == 151
    assert env.clients.counter.snapshot() == {"table.query": 1, "table.batch": 2}
    assert await env.rows("del") == []
    assert len(await env.rows("keep")) == 6
    assert await env.history.delete_instance("del") == 0


async def test_rewind_rewrites_failed_rows(env: Env) -> None:
    failure = FailureDetails(error_type="ValueError", error_message="boom")
    events: list[HistoryEvent] = [
        OrchestratorStarted(timestamp=T0),
        ExecutionStarted(timestamp=T0, name="P", instance_id="rw", execution_id=EXEC1),
        TaskScheduled(event_id=0, timestamp=T0, name="A"),
        TaskScheduled(event_id=1, timestamp=T0, name="B"),
        SubOrchestrationInstanceCreated(event_id=2, timestamp=T0, name="C", instance_id="rw:child"),
        OrchestratorCompleted(timestamp=T0),
        OrchestratorStarted(timestamp=T0),
        TaskCompleted(timestamp=T0, task_scheduled_id=1, result="1"),
        TaskFailed(timestamp=T0, task_scheduled_id=0, reason="boom", failure_details=failure),
        SubOrchestrationInstanceFailed(timestamp=T0, task_scheduled_id=2, reason="child failed"),
        ExecutionCompleted(
            timestamp=T0, orchestration_status=OrchestrationStatus.Failed, failure_details=failure
        ),
        OrchestratorCompleted(timestamp=T0),
    ]
    etag = await env.history.append("rw", EXEC1, events, start_index=0, etag=None)
    env.clients.counter.reset()
    children = await env.history.rewind("rw")
    assert children == ["rw:child"]
    assert env.clients.counter.snapshot() == {"table.query": 1, "table.batch": 1}

    rows = await env.rows("rw")
    by_key = {r["RowKey"]: r for r in rows}
    for index, old_type in (
        (2, "TaskScheduled"),
        (8, "TaskFailed"),
        (9, "SubOrchestrationInstanceFailed"),
        (10, "ExecutionCompleted"),
    ):
        row = by_key[f"{index:016X}"]
        assert row["EventType"] == "GenericEvent", index
        assert row["Reason"] == f"Rewound: {old_type}"
    created = by_key[f"{4:016X}"]
    assert created["EventType"] == "SubOrchestrationInstanceCreated"
    assert created["Reason"] == "Rewound: SubOrchestrationInstanceCreated"
    assert by_key[f"{3:016X}"]["EventType"] == "TaskScheduled"  # B did not fail
    # Other columns are kept with their types.
    assert by_key[f"{8:016X}"]["TaskScheduledId"] == 0 and isinstance(
        by_key[f"{8:016X}"]["_Timestamp"], datetime
    )

    # The sentinel ETag changed: writers (and caches) holding the old one are fenced off.
    loaded = await env.history.load("rw")
    assert loaded.etag != etag
    assert isinstance(loaded.events[2], GenericEvent)
    with pytest.raises(SplitBrainError):
        await env.history.append("rw", EXEC1, [OrchestratorStarted(timestamp=T0)], start_index=12, etag=etag)

    # Nothing left to rewind: no writes at all.
    env.clients.counter.reset()
    assert await env.history.rewind("rw") == []
    assert env.clients.counter.snapshot() == {"table.query": 1}


async def test_rewind_only_touches_the_current_execution(env: Env) -> None:
    failure = FailureDetails(error_type="E", error_message="m")
    old = [
        *first_episode("rw2"),
        TaskFailed(timestamp=T0, task_scheduled_id=0, failure_details=failure),
        ExecutionCompleted(timestamp=T0, orchestration_status=OrchestrationStatus.Failed),
    ]
    etag = await env.history.append("rw2", EXEC1, old, start_index=0, etag=None)
    new = [OrchestratorStarted(timestamp=T0), OrchestratorCompleted(timestamp=T0)]
    await env.history.append("rw2", EXEC2, new, start_index=0, etag=etag)
    assert await env.history.rewind("rw2") == []
    rows = await env.rows("rw2")
    assert rows[5]["EventType"] == "TaskFailed"
