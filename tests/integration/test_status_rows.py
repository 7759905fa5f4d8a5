"""Guarded Instances-row writes against Azurite: a stalled worker's late write never regresses a row."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timezone

import pytest

from durable_azure.orchestration.history import (
    ExecutionCompleted,
    ExecutionStarted,
    OrchestrationStatus,
    OrchestratorStarted,
    TaskScheduled,
)
from durable_azure.storage.instance_table import InstanceUpdate
from durable_azure.storage.status_rows import write_status_row
from durable_azure.storage.taskhub import TaskHubStorage

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc)
EXEC = "a" * 32
ID = "guarded-1"


@pytest.fixture
async def storage(azurite: str, hub_name: str) -> AsyncIterator[TaskHubStorage]:
    store = TaskHubStorage(azurite, hub_name)
    await store.create_if_not_exists()
    try:
        yield store
    finally:
        await store.delete()
        await store.close()


async def current_row_etag(storage: TaskHubStorage) -> str | None:
    row = await storage.instances.row_state(ID)
    return row.etag if row is not None else None


async def client_start(storage: TaskHubStorage) -> None:
    await storage.instances.write_pending(
        ID, name="Chain", version="", input="1", execution_id=EXEC, created_time=NOW, generation=0, etag=None
    )


async def first_episode(storage: TaskHubStorage) -> str:
    """The first checkpoint of ``ID``'s history; returns the sentinel ETag."""
    events = [
        OrchestratorStarted(timestamp=NOW),
        ExecutionStarted(name="Chain", instance_id=ID, execution_id=EXEC, input="1", timestamp=NOW),
        TaskScheduled(event_id=0, name="Step", input="1", timestamp=NOW),
    ]
    return await storage.history.append(ID, EXEC, events, start_index=0, etag=None)


async def status_of(storage: TaskHubStorage) -> OrchestrationStatus:
    record = await storage.instances.get(ID)
    assert record is not None
    return record.runtime_status


async def test_a_stalled_workers_late_write_does_not_put_running_back_over_completed(
    storage: TaskHubStorage,
) -> None:
    await client_start(storage)
    # worker A loads the instance (row ETag first), checkpoints its first episode ... and stalls
    stalled_row_etag = await current_row_etag(storage)
    stalled_history_etag = await first_episode(storage)
    # worker B takes the partition over, loads, finishes the instance and writes the row
    newer_row_etag = await current_row_etag(storage)
    finished = await storage.history.append(
        ID,
        EXEC,
        [
            OrchestratorStarted(timestamp=NOW),
            ExecutionCompleted(
                orchestration_status=OrchestrationStatus.Completed, result='"done"', timestamp=NOW
            ),
        ],
        start_index=3,
        etag=stalled_history_etag,
    )
    completed = InstanceUpdate(status=OrchestrationStatus.Completed, output='"done"')
    assert await write_status_row(storage, ID, completed, row_etag=newer_row_etag, history_etag=finished)
    # worker A wakes up and sends its (stale) first-episode row update
    running = InstanceUpdate(status=OrchestrationStatus.Running, last_updated_time=NOW)
    result = await write_status_row(
        storage, ID, running, row_etag=stalled_row_etag, history_etag=stalled_history_etag
    )
    assert result is None
    assert await status_of(storage) is OrchestrationStatus.Completed


async def test_a_client_write_in_between_is_merged_over_not_mistaken_for_a_newer_worker(
    storage: TaskHubStorage,
) -> None:
    # the worker loads before the client's Pending row exists, then the client writes it
    row_etag = await current_row_etag(storage)
    assert row_etag is None
    history_etag = await first_episode(storage)
    await client_start(storage)
    running = InstanceUpdate(status=OrchestrationStatus.Running, last_updated_time=NOW)
    new_etag = await write_status_row(storage, ID, running, row_etag=row_etag, history_etag=history_etag)
    assert new_etag is not None and new_etag == await current_row_etag(storage)
    record = await storage.instances.get(ID)
    assert record is not None
    assert record.runtime_status is OrchestrationStatus.Running
    assert record.input == "1"  # the client's columns are kept: a merge, not a replace


async def test_a_missing_row_is_inserted_and_later_writes_chain_on_its_etag(
    storage: TaskHubStorage,
) -> None:
    history_etag = await first_episode(storage)
    running = InstanceUpdate(status=OrchestrationStatus.Running, name="Chain")
    first = await write_status_row(storage, ID, running, row_etag=None, history_etag=history_etag)
    assert first is not None
    storage.clients.counter.reset()
    done = InstanceUpdate(status=OrchestrationStatus.Completed)
    second = await write_status_row(storage, ID, done, row_etag=first, history_etag=history_etag)
    assert second is not None and second != first
    assert storage.clients.counter.total == 1  # no conflict: one guarded merge, no extra reads
    assert await status_of(storage) is OrchestrationStatus.Completed


async def test_a_purged_instance_is_not_resurrected_by_a_late_write(storage: TaskHubStorage) -> None:
    await client_start(storage)
    row_etag = await current_row_etag(storage)
    history_etag = await first_episode(storage)
    await storage.history.delete_instance(ID)
    await storage.instances.delete(ID)
    running = InstanceUpdate(status=OrchestrationStatus.Running)
    assert await write_status_row(storage, ID, running, row_etag=row_etag, history_etag=history_etag) is None
    assert await storage.instances.get(ID) is None
