"""Input limits and purge semantics of DurableOrchestrationClient, on Azurite (issue 13).

Every refused call must fail before anything is written: after it, the hub's Instances and History
tables, control and work-item queues and large-message container are exactly as before (empty
here). Purging an instance that has not finished is refused unless ``force=True``, which terminates
it first (through a worker) and only then deletes it.
"""

from __future__ import annotations

import asyncio
import math
import sys
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
for _path in (str(HERE), str(HERE / "entity_apps")):
    if _path not in sys.path:
        sys.path.insert(0, _path)

import entity_app  # noqa: E402
import worker_support as ws  # noqa: E402

import durable_azure as df  # noqa: E402
from durable_azure import OrchestrationRuntimeStatus as S  # noqa: E402
from durable_azure.errors import (  # noqa: E402
    InvalidInputError,
    InvalidInstanceIdError,
    InvalidOperationError,
    OperationTimeoutError,
    PayloadTooLargeError,
    SerializationError,
)

LONG_KEY = "k" * 600  # "@counter@" + 600 characters: 1,218 bytes as a table key (limit 1,024)


async def written(hub: ws.Hub) -> dict[str, int]:
    """How many rows, messages and blobs the hub holds (queue counts include hidden messages)."""
    storage = hub.storage
    counts = {
        "instances": len(await hub.raw.rows(f"{hub.name}Instances")),
        "history": len(await hub.raw.rows(f"{hub.name}History")),
        "workitems": await hub.raw.queue_length(storage.workitems.name),
        "control": sum([await hub.raw.queue_length(q.name) for q in storage.control_queues]),
    }
    try:
        counts["blobs"] = len(await hub.raw.blob_names(f"{hub.name.lower()}-largemessages"))
    except Exception:  # the container is created on first use
        counts["blobs"] = 0
    return counts


NOTHING = {"instances": 0, "history": 0, "workitems": 0, "control": 0, "blobs": 0}


async def refused(hub: ws.Hub, error: type[BaseException], match: str, call: Any) -> None:
    with pytest.raises(error, match=match):
        await call
    assert await written(hub) == NOTHING


# ---------------------------------------------------------------------------------- refused input


async def test_start_new_refuses_bad_input_before_writing(azurite: str, hub_name: str) -> None:
    async with ws.task_hub(azurite, hub_name, worker=False) as hub:
        c = hub.client
        await refused(hub, InvalidInstanceIdError, "contains '/'", c.start_new("Hello", "a/b"))
        await refused(hub, InvalidInstanceIdError, "256", c.start_new("Hello", "x" * 257))
        await refused(hub, InvalidInstanceIdError, "lone surrogate", c.start_new("Hello", "id\udc80"))
        await refused(hub, InvalidInputError, "orchestrator name", c.start_new("Bad\nName"))
        await refused(hub, InvalidInputError, "version", c.start_new("Hello", None, 1, "v\x00"))
        await refused(hub, SerializationError, "NaN or Infinity", c.start_new("Hello", None, {"x": math.inf}))
        await refused(hub, SerializationError, "64-bit", c.start_new("Hello", None, [2**64]))
        await refused(hub, SerializationError, "lone surrogate", c.start_new("Hello", None, "\ud83d"))
        nested: Any = 0
        for _ in range(65):
            nested = [nested]
        await refused(hub, SerializationError, "65 levels", c.start_new("Hello", None, nested))


async def test_entity_signals_and_reads_refuse_bad_ids_before_writing(azurite: str, hub_name: str) -> None:
    async with ws.task_hub(azurite, hub_name, worker=False) as hub:
        c = hub.client
        too_long = df.EntityId("Counter", LONG_KEY)
        # before issue 13 this was accepted (202 over HTTP) and then failed forever in the worker
        await refused(hub, InvalidInstanceIdError, r"1,218 bytes.*1024", c.signal_entity(too_long, "add", 1))
        await refused(hub, InvalidInstanceIdError, "1024", c.read_entity_state(too_long))
        await refused(hub, InvalidInstanceIdError, "1024", c.delete_entity(too_long))
        bad_key = df.EntityId("Counter", "2020/08/07")
        await refused(hub, InvalidInstanceIdError, "contains '/'", c.signal_entity(bad_key, "add", 1))
        ok = df.EntityId("Counter", "k")
        await refused(hub, InvalidInputError, "operation name", c.signal_entity(ok, ""))
        await refused(hub, InvalidInputError, "operation name", c.signal_entity(ok, "add\t"))
        await refused(hub, SerializationError, "NaN", c.signal_entity(ok, "add", math.nan))
        # the longest key that fits is accepted
        await c.signal_entity(df.EntityId("Counter", "k" * 503), "add", 1)
        assert (await written(hub))["control"] == 1


async def test_control_operations_refuse_bad_input_before_writing(azurite: str, hub_name: str) -> None:
    async with ws.task_hub(azurite, hub_name, worker=False) as hub:
        c = hub.client
        await c.start_new("WaitForEvent", "target")
        before = await written(hub)

        async def unchanged(error: type[BaseException], match: str, call: Any) -> None:
            with pytest.raises(error, match=match):
                await call
            assert await written(hub) == before

        await unchanged(InvalidInputError, "event name.*empty", c.raise_event("target", ""))
        await unchanged(InvalidInputError, "control character", c.raise_event("target", "e\x1b"))
        await unchanged(InvalidInputError, "1024", c.raise_event("target", "e" * 1025))
        await unchanged(SerializationError, "64-bit", c.raise_event("target", "e", -(2**70)))
        await unchanged(PayloadTooLargeError, "8,192", c.terminate("target", "r" * 9000))
        await unchanged(InvalidInputError, "string", c.suspend("target", {"why": "not text"}))  # type: ignore[arg-type]
        await unchanged(InvalidInputError, "lone surrogate", c.resume("target", "\udfff"))
        await unchanged(PayloadTooLargeError, "8,192", c.rewind("target", "r" * 9000))
        await unchanged(InvalidInstanceIdError, "1024", c.terminate("t" * 600, "stop"))
        await unchanged(InvalidInstanceIdError, "1024", c.get_status("t" * 600))
        await unchanged(InvalidInputError, "timeout", c.wait_for_completion("target", timeout=math.inf))
        await unchanged(InvalidInputError, "polling interval", c.wait_for_completion("target", 1, 0))
        await unchanged(
            InvalidInputError, "timeout", c.purge_instance_history("target", force=True, timeout=-1)
        )


async def test_wait_for_completion_stops_at_the_timeout(azurite: str, hub_name: str) -> None:
    async with ws.task_hub(azurite, hub_name, worker=False) as hub:
        await hub.client.start_new("WaitForEvent", "never-runs")
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(OperationTimeoutError, match="Pending"):
            await hub.client.wait_for_completion("never-runs", timeout=0.5, poll_interval=30)
        assert loop.time() - started < 2  # a long polling interval does not overshoot the timeout
        assert issubclass(OperationTimeoutError, TimeoutError)


# ---------------------------------------------------------------------------------- purge


async def test_purge_of_a_running_instance_is_refused(azurite: str, hub_name: str) -> None:
    async with ws.task_hub(azurite, hub_name) as hub:
        instance_id = await hub.client.start_new("WaitForEvent", "still-running")
        await ws.wait_for_status(hub.client, instance_id, S.Running)
        with pytest.raises(InvalidOperationError, match=r"is Running.*force=True"):
            await hub.client.purge_instance_history(instance_id)
        # nothing was deleted: the instance goes on and completes
        await hub.client.raise_event(instance_id, "e", "after refusal")
        status = await ws.completed(hub.client, instance_id)
        assert status.output == {"got": "after refusal"}
        assert (await hub.client.purge_instance_history(instance_id)).instances_deleted == 1


async def test_forced_purge_terminates_first_and_the_id_can_be_reused(azurite: str, hub_name: str) -> None:
    async with ws.task_hub(azurite, hub_name) as hub:
        instance_id = await hub.client.start_new("WaitForEvent", "forced")
        await ws.wait_for_status(hub.client, instance_id, S.Running)

        result = await hub.client.purge_instance_history(instance_id, force=True, timeout=30)
        assert result.instances_deleted == 1
        assert not await hub.client.get_status(instance_id)
        assert await hub.raw.history_rows(hub_name, instance_id) == []

        # the same id runs to completion afterwards (the worker must not reuse the purged history)
        await hub.client.start_new("HelloCities", instance_id, ["Lugano"])
        status = await ws.completed(hub.client, instance_id)
        assert status.output == ["Hello Lugano!"]


async def test_forced_purge_of_a_suspended_instance(azurite: str, hub_name: str) -> None:
    async with ws.task_hub(azurite, hub_name) as hub:
        instance_id = await hub.client.start_new("WaitForEvent", "paused")
        await ws.wait_for_status(hub.client, instance_id, S.Running)
        await hub.client.suspend(instance_id, "hold")
        await ws.wait_for_status(hub.client, instance_id, S.Suspended)
        with pytest.raises(InvalidOperationError, match="is Suspended"):
            await hub.client.purge_instance_history(instance_id)
        assert (await hub.client.purge_instance_history(instance_id, force=True)).instances_deleted == 1
        assert not await hub.client.get_status(instance_id)


async def test_forced_purge_without_a_worker_times_out_and_deletes_nothing(
    azurite: str, hub_name: str
) -> None:
    async with ws.task_hub(azurite, hub_name, worker=False) as hub:
        instance_id = await hub.client.start_new("HelloCities", "no-worker", ["Sion"])
        with pytest.raises(OperationTimeoutError, match=r"is still Pending.*terminate request"):
            await hub.client.purge_instance_history(instance_id, force=True, timeout=0.5)
        status = await hub.client.get_status(instance_id)
        assert status.runtime_status is S.Pending  # nothing deleted

        # once a worker runs, the queued terminate ends the instance, and no work is left behind
        await hub.start_worker()
        await ws.wait_for_status(hub.client, instance_id, S.Terminated)

        async def queues_drained() -> bool:
            counts = await written(hub)
            return counts["control"] == counts["workitems"] == 0

        await ws.wait_until(queues_drained, timeout=30, what="the instance's messages to be consumed")
        assert (await hub.client.purge_instance_history(instance_id)).instances_deleted == 1
        assert await written(hub) == NOTHING
        assert ws.sample_app.calls["SayHello:Sion"] <= 1  # at most the one episode before the terminate


async def test_purge_of_an_entity_with_state_needs_force(azurite: str, hub_name: str) -> None:
    async with ws.task_hub(azurite, hub_name, app=entity_app.app) as hub:
        counter = df.EntityId("Counter", "purge-me")
        await hub.client.signal_entity(counter, "add", 5)

        async def exists() -> bool:
            return (await hub.client.read_entity_state(counter)).entity_exists

        await ws.wait_until(exists, what="the entity to exist")
        with pytest.raises(InvalidOperationError, match=r"entity .* still has state.*force=True"):
            await hub.client.purge_instance_history(counter.instance_id)
        assert (await hub.client.read_entity_state(counter)).entity_state == 5
        result = await hub.client.purge_instance_history(counter.instance_id, force=True)
        assert result.instances_deleted == 1
        assert not (await hub.client.read_entity_state(counter)).entity_exists
