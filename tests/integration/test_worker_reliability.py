"""Duplicate deliveries and corrupt messages: history stays exact, queues never block."""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import worker_support as ws

from durable_azure import OrchestrationRuntimeStatus as S
from durable_azure.orchestration import history as h
from durable_azure.storage.messages import TaskMessage
from durable_azure.storage.poison import PoisonRecord


def completions(events: list[h.HistoryEvent]) -> list[int]:
    return [e.task_scheduled_id for e in events if isinstance(e, (h.TaskCompleted, h.TaskFailed))]


async def drained(hub: ws.Hub, *queues: str) -> bool:
    """Every message on ``queues`` is gone (deleted, not just invisible)."""
    for queue in queues:
        if await hub.raw.queue_length(queue):
            return False
    return True


async def test_duplicate_task_completed_and_activity_run_twice(azurite: str, hub_name: str) -> None:
    city = f"dup-{uuid.uuid4().hex[:8]}"
    calls = ws.sample_app.calls
    async with ws.task_hub(azurite, hub_name) as hub:
        instance_id = await hub.client.start_new("TwoSteps", "two-steps", city)

        async def first_step_done() -> list[h.HistoryEvent] | None:
            events = await hub.client.get_history(instance_id)
            return events if completions(events) == [0] else None

        events = await ws.wait_until(first_step_done, what="the first activity's completion")
        status = await hub.client.get_status(instance_id)
        execution_id = status.execution_id
        started = next(e for e in events if isinstance(e, h.ExecutionStarted))
        control = hub.storage.control_queue_for(instance_id)
        now = datetime.now(timezone.utc)

        def to_instance(event: h.HistoryEvent) -> TaskMessage:
            return TaskMessage(
                event=event,
                instance_id=instance_id,
                execution_id=execution_id,
                episode=1,
                sender_instance_id=instance_id,
                sender_execution_id=execution_id,
            )

        # 1. a second copy of the TaskCompleted, with a different result
        await control.send(
            to_instance(h.TaskCompleted(task_scheduled_id=0, result='"forged"', timestamp=now))
        )
        # 2. the activity's work item delivered again: the activity really runs a second time
        await hub.storage.workitems.send(
            to_instance(h.TaskScheduled(event_id=0, name="SayHello", input=json.dumps(city), timestamp=now))
        )
        # 3. the start message delivered again
        await control.send(to_instance(started))

        async def duplicates_consumed() -> bool:
            return calls[f"SayHello:{city}"] == 2 and await drained(
                hub, control.name, hub.storage.workitems.name
            )

        await ws.wait_until(duplicates_consumed, what="the duplicates to be consumed")
        assert (await hub.client.get_status(instance_id)).runtime_status is S.Running

        await hub.client.raise_event(instance_id, "go")
        status = await ws.completed(hub.client, instance_id)
        assert status.output == [f"Hello {city}!", "Hello second!"]

        events = await hub.client.get_history(instance_id)
        assert completions(events) == [0, 1]
        assert sum(isinstance(e, h.ExecutionStarted) for e in events) == 1
        assert sum(isinstance(e, h.ExecutionCompleted) for e in events) == 1
        assert calls[f"SayHello:{city}"] == 2  # the activity ran twice; history recorded it once


async def test_duplicate_completions_while_the_task_is_open(azurite: str, hub_name: str) -> None:
    """Two copies of a completion arrive while the real activity still runs; its own result comes last."""
    key = uuid.uuid4().hex
    calls = ws.sample_app.calls
    async with ws.task_hub(azurite, hub_name) as hub:
        instance_id = await hub.client.start_new("GatedOnce", "gated", key)

        async def activity_running() -> bool:
            return calls[f"Gate:{key}"] == 1

        await ws.wait_until(activity_running, what="the gated activity to start")
        status = await hub.client.get_status(instance_id)
        copy = TaskMessage(
            event=h.TaskCompleted(
                task_scheduled_id=0, result='"early"', timestamp=datetime.now(timezone.utc)
            ),
            instance_id=instance_id,
            execution_id=status.execution_id,
            sender_instance_id=instance_id,
            sender_execution_id=status.execution_id,
        )
        control = hub.storage.control_queue_for(instance_id)
        await control.send(copy)
        await control.send(copy)
        status = await ws.completed(hub.client, instance_id)
        assert status.output == "early"

        ws.sample_app.gate(key).set()  # the real result now arrives for a finished instance

        async def all_consumed() -> bool:
            return await drained(hub, control.name, hub.storage.workitems.name)

        await ws.wait_until(all_consumed, what="the late result to be consumed")
        events = await hub.client.get_history(instance_id)
        assert completions(events) == [0]
        assert sum(isinstance(e, h.ExecutionCompleted) for e in events) == 1
        assert (await hub.client.get_status(instance_id)).output == "early"


UNKNOWN_EVENT = json.dumps(
    {
        "$type": "DurableTask.AzureStorage.MessageData",
        "ActivityId": "5d4c2a51-3c52-4d43-9a64-4b0a6f0f9e11",
        "TaskMessage": {
            "$type": "DurableTask.Core.TaskMessage",
            "Event": {
                "$type": "DurableTask.Core.History.NoSuchEvent",
                "EventType": 99,
                "EventId": -1,
                "IsPlayed": False,
                "Timestamp": "2024-01-02T03:04:05Z",
            },
            "SequenceNumber": 0,
            "OrchestrationInstance": {
                "$type": "DurableTask.Core.OrchestrationInstance",
                "InstanceId": "whoever",
                "ExecutionId": None,
            },
        },
        "CompressedBlobName": None,
        "SequenceNumber": 1,
        "Sender": {"InstanceId": "", "ExecutionId": ""},
        "SerializableTraceContext": None,
    },
    separators=(",", ":"),
)
MISSING_BLOB = json.dumps(
    {
        "$type": "DurableTask.AzureStorage.MessageData",
        "ActivityId": "00000000-0000-0000-0000-000000000000",
        "TaskMessage": None,
        "CompressedBlobName": "whoever/message-0123456789abcdef0123456789abcdef-TaskCompleted.json.gz",
        "SequenceNumber": 0,
        "SerializableTraceContext": None,
    },
    separators=(",", ":"),
)
CORRUPT_BODIES = ["this is not json {", UNKNOWN_EVENT, MISSING_BLOB, "AAAA"]


async def test_corrupt_messages_are_set_aside_and_partition_keeps_working(
    azurite: str, hub_name: str
) -> None:
    async with ws.task_hub(azurite, hub_name, worker=False) as hub:
        control_00 = hub.storage.control_queue(0).name
        for body in CORRUPT_BODIES:
            await hub.raw.send_raw(control_00, body)
        # a well-formed message of the wrong kind on the work-item queue
        stray = TaskMessage(
            event=h.TimerFired(timer_id=0, fire_at=datetime.now(timezone.utc)),
            instance_id="nobody",
            execution_id="e",
        )
        await hub.storage.workitems.send(stray)

        ids = ws.ids_in_partition("p0-", 0, 5)
        for instance_id in ids:
            await hub.client.start_new("HelloCities", instance_id, ["Porto"])
        await hub.start_worker()
        for instance_id in ids:
            status = await ws.completed(hub.client, instance_id)
            assert status.output == ["Hello Porto!"]

        async def set_aside() -> list[PoisonRecord] | None:
            listed = await hub.storage.poison.list()
            if len(listed) != len(CORRUPT_BODIES) + 1:
                return None
            return [r for r in [await hub.storage.poison.get(r.message_id) for r in listed] if r]

        records = await ws.wait_until(set_aside, what="the poison records")
        from_control = [r for r in records if r.queue == control_00]
        assert sorted(r.body or "" for r in from_control) == sorted(CORRUPT_BODIES)
        assert all(r.reason and r.message_id for r in from_control)
        from_workitems = [r for r in records if r.queue == hub.storage.workitems.name]
        assert len(from_workitems) == 1 and "TaskScheduled" in from_workitems[0].reason
        assert await drained(hub, control_00, hub.storage.workitems.name)


async def test_long_activity_is_not_started_again_while_it_runs(azurite: str, hub_name: str) -> None:
    key = uuid.uuid4().hex
    calls = ws.sample_app.calls
    async with ws.task_hub(azurite, hub_name, work_item_visibility_timeout=2) as hub:
        instance_id = await hub.client.start_new("GatedOnce", "long-activity", key)

        async def running() -> bool:
            return calls[f"Gate:{key}"] >= 1

        await ws.wait_until(running, what="the activity to start")
        # a fixed wait is the point here: the activity keeps running for 2.5 visibility timeouts
        await asyncio.sleep(5)
        runs_while_running = calls[f"Gate:{key}"]
        ws.sample_app.gate(key).set()
        status = await ws.completed(hub.client, instance_id)
        assert status.output == f"gate {key} passed"
        assert runs_while_running == 1, f"the activity was started {runs_while_running} times"


async def test_clean_stop_mid_run_and_a_new_worker_finishes(azurite: str, hub_name: str) -> None:
    """A worker stopped while chains are in flight hands everything over; a new worker completes them once."""
    steps = 4
    async with ws.task_hub(azurite, hub_name) as hub:
        ids = [f"handover-{i}" for i in range(6)]
        for instance_id in ids:
            await hub.client.start_new("SlowChain", instance_id, {"steps": steps, "delay": 0.3})

        async def in_flight() -> bool:
            statuses = await hub.client.get_status_by(runtime_status=[S.Running])
            return any((s.custom_status or {}).get("step", 0) >= 1 for s in statuses)

        await ws.wait_until(in_flight, what="some chains to be past their first step")
        await hub.stop_worker()
        assert await ws.lease_owners(hub.storage) == {}
        assert any(s.runtime_status is S.Running for s in await hub.client.get_status_by())

        await hub.start_worker()
        for instance_id in ids:
            status = await ws.completed(hub.client, instance_id)
            assert status.output == [f"{instance_id}:{n}" for n in range(steps)]
            events = await hub.client.get_history(instance_id)
            assert completions(events) == list(range(steps))
            assert sum(isinstance(e, h.ExecutionCompleted) for e in events) == 1


async def test_completion_for_a_task_scheduled_by_another_writer_is_not_deferred_forever(
    azurite: str, hub_name: str
) -> None:
    city = f"stale-{uuid.uuid4().hex[:6]}"
    async with ws.task_hub(azurite, hub_name) as hub:
        instance_id = await hub.client.start_new("TwoSteps", "stale-cache", city)

        async def first_step_done() -> bool:
            return completions(await hub.client.get_history(instance_id)) == [0]

        await ws.wait_until(
            first_step_done, what="the first activity's completion"
        )  # now cached by the worker

        # Another writer (a second worker) processes the "go" event and schedules the second activity,
        # exactly as the worker itself would have: one episode appended under the sentinel ETag.
        loaded = await hub.storage.history.load(instance_id)
        now = datetime.now(timezone.utc)
        episode = [
            h.OrchestratorStarted(timestamp=now),
            h.EventRaised(name="go", input=None, timestamp=now),
            h.TaskScheduled(event_id=1, name="SayHello", input='"second"', timestamp=now),
            h.OrchestratorCompleted(timestamp=now),
        ]
        await hub.storage.history.append(
            instance_id, loaded.execution_id, episode, start_index=len(loaded.events), etag=loaded.etag
        )
        # ... and that activity's result arrives on the control queue
        result = TaskMessage(
            event=h.TaskCompleted(task_scheduled_id=1, result='"Hello second!"', timestamp=now),
            instance_id=instance_id,
            execution_id=loaded.execution_id,
            sender_instance_id=instance_id,
            sender_execution_id=loaded.execution_id,
        )
        await hub.storage.control_queue_for(instance_id).send(result)

        status = await ws.completed(hub.client, instance_id, timeout=12)
        assert status.output == [f"Hello {city}!", "Hello second!"]
        assert completions(await hub.client.get_history(instance_id)) == [0, 1]


async def test_message_for_an_execution_another_writer_started_is_not_dropped(
    azurite: str, hub_name: str
) -> None:
    """The cached history holds execution E1 while another writer already moved the instance to E2
    (continue-as-new); a result for E2 must reload the history, not be dropped as 'older'."""
    city = f"newer-{uuid.uuid4().hex[:6]}"
    async with ws.task_hub(azurite, hub_name) as hub:
        instance_id = await hub.client.start_new("TwoSteps", "stale-execution", city)

        async def first_step_done() -> bool:
            return completions(await hub.client.get_history(instance_id)) == [0]

        await ws.wait_until(first_step_done, what="the first activity's completion")  # cached as E1

        # Another writer starts execution E2 of the same instance (as continue-as-new does): history
        # rewritten from row 0 under the sentinel ETag, with its first activity scheduled.
        loaded = await hub.storage.history.load(instance_id)
        now = datetime.now(timezone.utc)
        newer = uuid.uuid4().hex
        execution = [
            h.OrchestratorStarted(timestamp=now),
            h.ExecutionStarted(
                name="TwoSteps", instance_id=instance_id, execution_id=newer, input='"again"', timestamp=now
            ),
            h.TaskScheduled(event_id=0, name="SayHello", input='"again"', timestamp=now),
            h.OrchestratorCompleted(timestamp=now),
        ]
        await hub.storage.history.append(instance_id, newer, execution, start_index=0, etag=loaded.etag)
        result = TaskMessage(
            event=h.TaskCompleted(task_scheduled_id=0, result='"Hello again!"', timestamp=now),
            instance_id=instance_id,
            execution_id=newer,
            sender_instance_id=instance_id,
            sender_execution_id=newer,
        )
        await hub.storage.control_queue_for(instance_id).send(result)

        async def second_execution_progressed() -> bool:
            events = await hub.client.get_history(instance_id)
            started = next(e for e in events if isinstance(e, h.ExecutionStarted))
            return started.execution_id == newer and completions(events) == [0]

        await ws.wait_until(second_execution_progressed, timeout=12, what="E2 to record its first result")
        await hub.client.raise_event(instance_id, "go")
        status = await ws.completed(hub.client, instance_id, timeout=12)
        assert status.output == ["Hello again!", "Hello second!"]
