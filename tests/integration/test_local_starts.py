"""Client starts made in the worker's process (storage/local_starts.py): the worker takes the start's
history and row state from the client instead of reading them, and every crash window still ends as
before.

The client here shares the worker's ``TaskHubStorage`` (as a Functions app's client binding and the
benchmarks do), so the requests both make are counted together; an observer with its own storage
waits for the results. The windows are made with the engine's own APIs (a start message sent by hand,
a row write delayed or never made), never with storage mocks.
"""

from __future__ import annotations

import sys
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import worker_support as ws

import durable_azure as df
from durable_azure.orchestration import history as h
from durable_azure.storage.instance_table import InstanceUpdate
from durable_azure.storage.messages import TaskMessage
from durable_azure.worker import orchestrations

READS = ("table.get", "table.query")


def reads(counts: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {op: counts.get(op, 0) - before.get(op, 0) for op in READS}


def local_client(hub: ws.Hub) -> df.DurableOrchestrationClient:
    """A client on the worker's own storage, as the Functions runtime builds one in the worker's process."""
    assert hub.worker is not None
    return df.DurableOrchestrationClient(hub.worker.storage, notify=hub.worker.notify)


async def send_start(hub: ws.Hub, instance_id: str, execution_id: str, city: str) -> h.ExecutionStarted:
    """What a client start sends, by hand: the ``ExecutionStarted`` message (generation 0)."""
    started = h.ExecutionStarted(
        name="HelloCities",
        instance_id=instance_id,
        execution_id=execution_id,
        input=f'["{city}"]',
        generation=0,
        timestamp=datetime.now(timezone.utc),
    )
    message = TaskMessage(event=started, instance_id=instance_id, execution_id=started.execution_id)
    assert hub.worker is not None
    await hub.worker.storage.control_queue_for(instance_id).send(message)
    return started


async def write_pending(hub: ws.Hub, started: h.ExecutionStarted) -> str:
    assert hub.worker is not None
    return await hub.worker.storage.instances.write_pending(
        started.instance_id,
        name=started.name,
        version="",
        input=started.input,
        execution_id=started.execution_id,
        created_time=started.timestamp,
        generation=0,
        etag=None,
    )


async def test_a_generated_id_started_in_process_reads_neither_history_nor_row(
    azurite: str, hub_name: str
) -> None:
    city = f"local-{uuid.uuid4().hex[:8]}"
    async with ws.task_hub(azurite, hub_name) as hub:
        assert hub.worker is not None
        client = local_client(hub)
        counter = hub.worker.storage.clients.counter
        before = counter.snapshot()
        instance_id = await client.start_new("HelloCities", None, [city])
        status = await ws.completed(hub.client, instance_id)  # the observer: its own storage
        assert status.output == [f"Hello {city}!"]
        assert reads(counter.snapshot(), before) == {"table.get": 0, "table.query": 0}
        assert len(hub.worker.storage.local_starts) == 0, "the worker took the start's entry"
        assert ws.sample_app.calls[f"SayHello:{city}"] == 1


async def test_a_new_explicit_id_started_in_process_reads_only_the_clients_row_check(
    azurite: str, hub_name: str
) -> None:
    city = f"named-{uuid.uuid4().hex[:8]}"
    async with ws.task_hub(azurite, hub_name) as hub:
        assert hub.worker is not None
        client = local_client(hub)
        counter = hub.worker.storage.clients.counter
        before = counter.snapshot()
        instance_id = await client.start_new("HelloCities", f"named-{city}", [city])
        await ws.completed(hub.client, instance_id)
        # the client's read of an existing row (there is none); neither a history query nor a row read
        assert reads(counter.snapshot(), before) == {"table.get": 1, "table.query": 0}
        before = counter.snapshot()

        # started again in process (replacing the finished execution): judged against the stored history
        again = await client.start_new("HelloCities", instance_id, [city])
        assert again == instance_id
        await ws.wait_until(
            lambda: _generation_completed(hub, instance_id, 1), what="the second execution to complete"
        )
        assert ws.sample_app.calls[f"SayHello:{city}"] == 2
        # the client read the finished row, so the worker judged the new start against the stored history
        assert reads(counter.snapshot(), before)["table.query"] >= 1


async def _generation_completed(hub: ws.Hub, instance_id: str, generation: int) -> bool:
    record = await hub.storage.instances.get(instance_id, fetch_input=False, fetch_output=False)
    return (
        record is not None
        and record.generation == generation
        and record.runtime_status is not None
        and record.runtime_status.name == "Completed"
    )


async def test_a_start_delivered_again_does_not_use_the_local_entry_twice(
    azurite: str, hub_name: str
) -> None:
    """The worker finished the instance and its delete of the start was lost: the copy (first
    delivery of a new message, so ``dequeue_count`` 1) finds no entry and is judged against history."""
    city = f"twice-{uuid.uuid4().hex[:8]}"
    async with ws.task_hub(azurite, hub_name) as hub:
        assert hub.worker is not None
        client = local_client(hub)
        instance_id = await client.start_new("HelloCities", None, [city])
        await ws.completed(hub.client, instance_id)
        events = await hub.client.get_history(instance_id)
        started = next(e for e in events if isinstance(e, h.ExecutionStarted))
        before = {r["RowKey"]: r.metadata["etag"] for r in await hub.raw.history_rows(hub.name, instance_id)}
        counter = hub.worker.storage.clients.counter
        reads_before = counter.snapshot()

        hub.worker.orchestrations.cache.drop(instance_id)  # as after a restart: judged from storage
        copy = TaskMessage(event=started, instance_id=instance_id, execution_id=started.execution_id)
        await hub.worker.storage.control_queue_for(instance_id).send(copy)
        hub.worker.notify(instance_id)
        queue = hub.worker.storage.control_queue_for(instance_id).name
        await ws.wait_until(lambda: _empty(hub, queue), what="the duplicate start to be consumed")
        after = {r["RowKey"]: r.metadata["etag"] for r in await hub.raw.history_rows(hub.name, instance_id)}
        assert after == before, "history was rewritten"
        assert ws.sample_app.calls[f"SayHello:{city}"] == 1, "the activity ran again"
        assert reads(counter.snapshot(), reads_before)["table.query"] >= 1, (
            "the copy was not judged against history"
        )


async def _received(hub: ws.Hub, queue: str) -> bool:
    """Nothing visible in ``queue``: the worker has received (and hidden) what was there."""
    return await hub.raw.peek(queue) == []


async def _empty(hub: ws.Hub, queue: str) -> bool:
    return await hub.raw.queue_length(queue) == 0


@pytest.mark.parametrize("outcome", ["write failed", "never written"])
async def test_a_start_whose_row_write_failed_is_read_from_storage(
    azurite: str, hub_name: str, outcome: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The client's row write failed (or never ended): the worker reads history and row as always, and
    its first row write inserts the row."""
    monkeypatch.setattr(orchestrations, "LOCAL_ROW_WAIT_SECONDS", 0.5)
    city = f"failed-{uuid.uuid4().hex[:8]}"
    async with ws.task_hub(azurite, hub_name) as hub:
        assert hub.worker is not None
        instance_id = uuid.uuid4().hex
        counter = hub.worker.storage.clients.counter
        before = counter.snapshot()
        execution = uuid.uuid4().hex
        local = hub.worker.storage.local_starts.begin(instance_id, execution, fresh=True)
        await send_start(hub, instance_id, execution, city)
        if outcome == "write failed":
            local.row_written(None)
        hub.worker.notify(instance_id)
        status = await ws.completed(hub.client, instance_id)
        assert status.output == [f"Hello {city}!"]
        assert reads(counter.snapshot(), before) == {"table.get": 1, "table.query": 1}


async def test_a_start_received_before_its_row_is_written_waits_for_the_client(
    azurite: str, hub_name: str
) -> None:
    city = f"early-{uuid.uuid4().hex[:8]}"
    async with ws.task_hub(azurite, hub_name) as hub:
        assert hub.worker is not None
        instance_id = uuid.uuid4().hex
        counter = hub.worker.storage.clients.counter
        execution = uuid.uuid4().hex
        local = hub.worker.storage.local_starts.begin(instance_id, execution, fresh=True)
        started = await send_start(hub, instance_id, execution, city)
        before = counter.snapshot()
        hub.worker.notify(instance_id)
        queue = hub.worker.storage.control_queue_for(instance_id).name
        await ws.wait_until(lambda: _received(hub, queue), what="the worker to receive the start")
        assert await hub.raw.history_rows(hub.name, instance_id) == [], "ran before the row was written"
        local.row_written(await write_pending(hub, started))
        await ws.completed(hub.client, instance_id)
        assert reads(counter.snapshot(), before) == {"table.get": 0, "table.query": 0}


async def test_a_row_changed_after_the_clients_write_is_not_overwritten_blindly(
    azurite: str, hub_name: str
) -> None:
    """The ETag the client's write returned is only a guard: another write since (here a custom
    column merged by hand) fails the worker's guarded merge, which re-reads the row and retries."""
    city = f"changed-{uuid.uuid4().hex[:8]}"
    async with ws.task_hub(azurite, hub_name) as hub:
        assert hub.worker is not None
        instance_id = uuid.uuid4().hex
        execution = uuid.uuid4().hex
        local = hub.worker.storage.local_starts.begin(instance_id, execution, fresh=True)
        started = await send_start(hub, instance_id, execution, city)
        etag = await write_pending(hub, started)
        await hub.worker.storage.instances.merge(instance_id, InstanceUpdate(custom_status='"by hand"'))
        local.row_written(etag)
        counter = hub.worker.storage.clients.counter
        before = counter.snapshot()
        hub.worker.notify(instance_id)
        status = await ws.completed(hub.client, instance_id)
        assert reads(counter.snapshot(), before)["table.get"] >= 1, "the guarded merge did not conflict"
        assert status.output == [f"Hello {city}!"]
        record = await hub.storage.instances.get(instance_id, fetch_input=True, fetch_output=True)
        assert (
            record is not None
            and record.runtime_status is not None
            and record.runtime_status.name == "Completed"
        )
        assert record.input == f'["{city}"]'


async def test_a_history_without_a_row_is_never_overwritten_by_a_fresh_start(
    azurite: str, hub_name: str
) -> None:
    """The client finds no row (deleted by hand here; a purge dying between its deletes does the same)
    and tells the worker no history exists. The first append creates the sentinel, which fails; the
    episode is retried and reads the history, which keeps its execution."""
    city = f"rowless-{uuid.uuid4().hex[:8]}"
    async with ws.task_hub(azurite, hub_name) as hub:
        assert hub.worker is not None
        client = local_client(hub)
        instance_id = await client.start_new("HelloCities", f"rowless-{city}", [city])
        await ws.completed(hub.client, instance_id)
        kept = await hub.storage.history.load(instance_id)
        table = hub.raw.tables.get_table_client(f"{hub.name}Instances")
        await table.delete_entity(partition_key=instance_id, row_key="")
        counter = hub.worker.storage.clients.counter
        before = counter.snapshot()
        await client.start_new("HelloCities", instance_id, [city])
        await ws.wait_until(
            lambda: _reads_history(counter, before), what="the retried episode to read the history"
        )
        after = await hub.storage.history.load(instance_id)
        assert after.execution_id == kept.execution_id
        assert [type(e) for e in after.events][: len(kept.events)] == [type(e) for e in kept.events]


async def _reads_history(counter: Any, before: dict[str, int]) -> bool:
    return reads(counter.snapshot(), before)["table.query"] >= 1
