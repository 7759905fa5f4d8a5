"""The poison policy: every message gets a bounded number of attempts, then the poison store.

Each test puts a message the engine cannot consume on a real queue (Azurite, through the engine's
queue API or raw SDK sends) and checks three things: the queue drains (nothing loops), the message
is recorded in ``{Hub}Poison`` with a reason and its body, and the rest of the hub keeps working.
The worker runs with ``max_dequeue_count=3`` so that bounded retries end within seconds.
"""

from __future__ import annotations

import json
import sys
import uuid
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent / "entity_apps"))

import entity_app
import worker_support as ws

from durable_azure import OrchestrationRuntimeStatus as S
from durable_azure.orchestration import history as h
from durable_azure.storage.messages import TaskMessage, decode_message

POLICY = {"max_dequeue_count": 3}


async def drained(hub: ws.Hub) -> bool:
    """Every control queue and the work-item queue is empty (messages deleted, not just hidden)."""
    queues = [q.name for q in hub.storage.control_queues] + [hub.storage.workitems.name]
    for queue in queues:
        if await hub.raw.queue_length(queue):
            return False
    return True


async def poison_records(hub: ws.Hub, count: int = 1) -> list:  # type: ignore[type-arg]
    """Wait for ``count`` poison records and return them with their bodies."""

    async def probe() -> list | None:  # type: ignore[type-arg]
        listed = await hub.storage.poison.list()
        if len(listed) < count:
            return None
        return [await hub.storage.poison.get(r.message_id) for r in listed]

    return await ws.wait_until(probe, timeout=30, what=f"{count} poison record(s)")


async def test_body_nested_30000_deep_is_set_aside(azurite: str, hub_name: str) -> None:
    body = "[" * 30_000 + "]" * 30_000
    async with ws.task_hub(azurite, hub_name, **POLICY) as hub:
        await hub.raw.send_raw(hub.storage.control_queue(0).name, body)
        ids = ws.ids_in_partition("deep-", 0, 2)
        for instance_id in ids:
            await hub.client.start_new("HelloCities", instance_id, ["Oslo"])
        for instance_id in ids:
            await ws.completed(hub.client, instance_id)
        await ws.wait_until(lambda: drained(hub), timeout=30, what="the queues to drain")
        (record,) = await poison_records(hub)
        assert record.body == body and "RecursionError" in record.reason


async def test_large_message_reference_outside_the_container_is_set_aside(
    azurite: str, hub_name: str
) -> None:
    wrapper = json.dumps(
        {
            "$type": "DurableTask.AzureStorage.MessageData",
            "ActivityId": "00000000-0000-0000-0000-000000000000",
            "TaskMessage": None,
            "CompressedBlobName": "../../x",
            "SequenceNumber": 0,
        }
    )
    async with ws.task_hub(azurite, hub_name, **POLICY) as hub:
        await hub.raw.send_raw(hub.storage.control_queue(1).name, wrapper)
        await hub.raw.send_raw(hub.storage.workitems.name, wrapper)
        await ws.wait_until(lambda: drained(hub), timeout=30, what="the queues to drain")
        records = await poison_records(hub, 2)
        assert sorted(r.queue for r in records) == sorted(
            [hub.storage.control_queue(1).name, hub.storage.workitems.name]
        )
        assert all(r.body == wrapper and "'..' path segment" in r.reason for r in records)


async def test_history_write_that_can_never_succeed_is_set_aside(azurite: str, hub_name: str) -> None:
    """A start for an instance id longer than a table key allows: every history append is refused (400)."""
    instance_id = "long-" + "i" * 1100
    async with ws.task_hub(azurite, hub_name, **POLICY) as hub:
        started = h.ExecutionStarted(
            name="HelloCities",
            instance_id=instance_id,
            execution_id=uuid.uuid4().hex,
            input='["Oslo"]',
            timestamp=datetime.now(timezone.utc),
        )
        await hub.storage.control_queue_for(instance_id).send(
            TaskMessage(event=started, instance_id=instance_id, execution_id=started.execution_id)
        )
        hub.worker.notify(instance_id)
        (record,) = await poison_records(hub)
        assert record.instance_id == instance_id and record.event_type == "ExecutionStarted"
        assert "cannot succeed by retrying" in record.reason and record.dequeue_count <= 1
        assert decode_message(record.body).event == started  # the whole message is kept
        await ws.wait_until(lambda: drained(hub), timeout=30, what="the queues to drain")

        other = await hub.client.start_new("HelloCities", "short", ["Rome"])  # the hub is not wedged
        assert (await ws.completed(hub.client, other)).output == ["Hello Rome!"]


async def test_entity_whose_key_is_too_long_for_a_table_key_is_set_aside(azurite: str, hub_name: str) -> None:
    entity_id = "@counter@" + "k" * 1100
    async with ws.task_hub(azurite, hub_name, app=entity_app.app, **POLICY) as hub:
        signal = TaskMessage(
            event=h.EventRaised(
                name="op",
                input=json.dumps({"id": str(uuid.uuid4()), "op": "add", "signal": True, "input": "1"}),
                timestamp=datetime.now(timezone.utc),
            ),
            instance_id=entity_id,
            execution_id=None,
        )
        await hub.storage.control_queue_for(entity_id).send(signal)
        await ws.wait_until(lambda: drained(hub), timeout=30, what="the queues to drain")
        (record,) = await poison_records(hub)
        assert record.instance_id == entity_id and record.reason


async def test_activity_result_for_a_purged_instance_is_set_aside_and_the_activity_runs_once(
    azurite: str, hub_name: str
) -> None:
    key = uuid.uuid4().hex
    calls = ws.sample_app.calls
    async with ws.task_hub(azurite, hub_name, **POLICY) as hub:
        instance_id = await hub.client.start_new("GatedOnce", f"purged-{key[:8]}", key)

        async def activity_started() -> bool:
            return calls[f"Gate:{key}"] >= 1

        await ws.wait_until(activity_started, what="the activity to start")
        # the activity runs; now the instance is purged under it
        await hub.storage.history.delete_instance(instance_id)
        await hub.storage.instances.delete(instance_id)
        ws.sample_app.gate(key).set()

        await ws.wait_until(lambda: drained(hub), timeout=40, what="the result to be settled")
        (record,) = await poison_records(hub)
        assert record.instance_id == instance_id and record.event_type == "TaskCompleted"
        assert "does not exist" in record.reason
        assert record.queue == hub.storage.control_queue_for(instance_id).name  # a retry goes there
        assert calls[f"Gate:{key}"] == 1, "the activity ran again"


async def test_completion_of_a_task_the_history_never_scheduled_is_retried_a_bounded_number_of_times(
    azurite: str, hub_name: str
) -> None:
    async with ws.task_hub(azurite, hub_name, **POLICY) as hub:
        instance_id = await hub.client.start_new("WaitForEvent", f"unscheduled-{uuid.uuid4().hex[:6]}")
        status = await ws.wait_for_status(hub.client, instance_id, S.Running)
        stray = TaskMessage(
            event=h.TaskCompleted(task_scheduled_id=99, result='"?"', timestamp=datetime.now(timezone.utc)),
            instance_id=instance_id,
            execution_id=status.execution_id,
        )
        await hub.storage.control_queue_for(instance_id).send(stray)
        hub.worker.notify(instance_id)
        (record,) = await poison_records(hub)
        assert "task 99" in record.reason and "gave up after 3 attempts" in record.reason
        await ws.wait_until(lambda: drained(hub), timeout=30, what="the queues to drain")
        await hub.client.raise_event(instance_id, "e", 1)
        assert (await ws.completed(hub.client, instance_id)).output == {"got": 1}


async def test_work_item_received_too_often_is_set_aside_without_running(azurite: str, hub_name: str) -> None:
    """Its worker died each time (say the activity kills the process): the next receive sets it aside."""
    city = f"crashy-{uuid.uuid4().hex[:6]}"
    async with ws.task_hub(azurite, hub_name, worker=False, **POLICY) as hub:
        item = TaskMessage(
            event=h.TaskScheduled(event_id=0, name="SayHello", input=json.dumps(city)),
            instance_id="nobody",
            execution_id="e1",
        )
        await hub.storage.workitems.send(item)
        for attempt in range(1, 4):  # three workers received it and died (hidden for 1 s each)

            async def received(attempt: int = attempt) -> bool:
                got = await hub.storage.workitems.receive(1, visibility_timeout=1)
                return bool(got) and got[0].dequeue_count == attempt

            await ws.wait_until(received, what=f"receive #{attempt}")
        await hub.start_worker(**POLICY)
        (record,) = await poison_records(hub)
        assert record.queue == hub.storage.workitems.name and "started 4 times" in record.reason
        assert ws.sample_app.calls[f"SayHello:{city}"] == 0
        await ws.wait_until(lambda: drained(hub), timeout=30, what="the queues to drain")


async def test_client_event_for_an_instance_that_does_not_exist_is_set_aside(
    azurite: str, hub_name: str
) -> None:
    async with ws.task_hub(azurite, hub_name, **POLICY) as hub:
        event = TaskMessage(
            event=h.EventRaised(name="e", input="1", timestamp=datetime.now(timezone.utc)),
            instance_id="never-started",
            execution_id=None,
        )
        await hub.storage.control_queue_for("never-started").send(event)
        # a termination for an instance that is gone (purged): recorded, and no status row is made up
        terminate = TaskMessage(
            event=h.ExecutionTerminated(input='"stop"', timestamp=datetime.now(timezone.utc)),
            instance_id="purged-already",
            execution_id=None,
        )
        await hub.storage.control_queue_for("purged-already").send(terminate)
        hub.worker.notify("never-started")
        hub.worker.notify("purged-already")
        records = await poison_records(hub, 2)
        assert sorted(r.instance_id for r in records) == ["never-started", "purged-already"]
        assert all("does not exist" in r.reason for r in records)
        await ws.wait_until(lambda: drained(hub), timeout=30, what="the queues to drain")
        assert await hub.storage.instances.get("purged-already") is None


async def test_a_message_that_can_never_succeed_does_not_take_its_batch_with_it(
    azurite: str, hub_name: str
) -> None:
    """Two events for one instance arrive in one batch; decoding one of them (JSON nested 30,000 deep)
    fails the episode: only that one is set aside, the other is recorded."""
    async with ws.task_hub(azurite, hub_name, **POLICY) as hub:
        instance_id = await hub.client.start_new("WaitTwice", f"batch-{uuid.uuid4().hex[:6]}")
        await ws.wait_for_status(hub.client, instance_id, S.Running)
        await ws.wait_until(lambda: drained(hub), what="the first episode to settle")
        await hub.stop_worker()  # both events must arrive in one receive
        control = hub.storage.control_queue_for(instance_id)
        now = datetime.now(timezone.utc)
        deep = "[" * 30_000 + "]" * 30_000
        for name, data in (("a", deep), ("b", "2")):
            event = h.EventRaised(name=name, input=data, timestamp=now)
            await control.send(TaskMessage(event=event, instance_id=instance_id, execution_id=None))
        await hub.start_worker(**POLICY)

        (record,) = await poison_records(hub)
        assert "RecursionError" in record.reason and decode_message(record.body).event.name == "a"
        await ws.wait_until(lambda: drained(hub), timeout=30, what="the queues to drain")
        events = await hub.client.get_history(instance_id)
        assert [e.name for e in events if isinstance(e, h.EventRaised)] == ["b"]
        await hub.client.raise_event(instance_id, "a", 1)
        assert (await ws.completed(hub.client, instance_id)).output == [1, 2]
