"""The Durable Functions application patterns, run by a real TaskHubWorker against Azurite."""

from __future__ import annotations

import sys
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import worker_support as ws

import durable_azure as df
from durable_azure import OrchestrationRuntimeStatus as S
from durable_azure.orchestration import history as h


async def test_chaining_hello_cities(azurite: str, hub_name: str) -> None:
    async with ws.task_hub(azurite, hub_name) as hub:
        instance_id = await hub.client.start_new("HelloCities")
        status = await ws.completed(hub.client, instance_id)
        assert status.output == ["Hello Tokyo!", "Hello Seattle!", "Hello London!"]
        assert status.name == "HelloCities"
        assert status.instance_id == instance_id
        assert status.completed_time is not None and status.completed_time >= status.created_time


async def test_fan_out_fan_in_50_activities(azurite: str, hub_name: str) -> None:
    async with ws.task_hub(azurite, hub_name) as hub:
        instance_id = await hub.client.start_new("FanOutFanIn", client_input=50)
        status = await ws.completed(hub.client, instance_id)
        assert status.output == {"count": 50, "sum": sum(i * i for i in range(50))}
        events = await hub.client.get_history(instance_id)
        scheduled = [e for e in events if isinstance(e, h.TaskScheduled)]
        done = [e for e in events if isinstance(e, h.TaskCompleted)]
        assert len(scheduled) == 50 and len(done) == 50
        assert sorted(e.task_scheduled_id for e in done) == sorted(e.event_id for e in scheduled)


async def test_monitor_polls_on_a_durable_timer(azurite: str, hub_name: str) -> None:
    key = uuid.uuid4().hex
    async with ws.task_hub(azurite, hub_name) as hub:
        started = time.monotonic()
        instance_id = await hub.client.start_new(
            "Monitor", client_input={"key": key, "target": 3, "interval": 1}
        )
        status = await ws.completed(hub.client, instance_id)
        elapsed = time.monotonic() - started
        assert status.output == {"polls": 3}
        assert status.custom_status == {"polls": 3}
        assert ws.sample_app.calls[f"Poll:{key}"] == 3
        assert elapsed >= 1.5, "two 1-second timers cannot both have fired this early"
        events = await hub.client.get_history(instance_id)
        assert sum(isinstance(e, h.TimerCreated) for e in events) == 2
        assert sum(isinstance(e, h.TimerFired) for e in events) == 2


async def test_human_interaction_approved_by_event(azurite: str, hub_name: str) -> None:
    async with ws.task_hub(azurite, hub_name) as hub:
        instance_id = await hub.client.start_new("Approval", client_input=60)

        async def waiting() -> bool:
            status = await hub.client.get_status(instance_id)
            return status.custom_status == "waiting for approval"

        await ws.wait_until(waiting, what="the approval wait")
        await hub.client.raise_event(instance_id, "Approval", "alice")
        status = await ws.completed(hub.client, instance_id, timeout=15)
        assert status.output == {"approved": True, "by": "alice"}
        events = await hub.client.get_history(instance_id)
        assert not any(isinstance(e, h.TimerFired) for e in events)


async def test_human_interaction_times_out(azurite: str, hub_name: str) -> None:
    async with ws.task_hub(azurite, hub_name) as hub:
        started = time.monotonic()
        instance_id = await hub.client.start_new("Approval", client_input=2)
        status = await ws.completed(hub.client, instance_id, timeout=15)
        assert status.output == {"approved": False, "reason": "timed out"}
        assert time.monotonic() - started >= 1.5
        events = await hub.client.get_history(instance_id)
        assert sum(isinstance(e, h.TimerFired) for e in events) == 1
        assert not any(isinstance(e, h.EventRaised) for e in events)


async def test_sub_orchestrations_output(azurite: str, hub_name: str) -> None:
    async with ws.task_hub(azurite, hub_name) as hub:
        instance_id = await hub.client.start_new("Parent", client_input=["Oslo", "Rome", "Lima"])
        status = await ws.completed(hub.client, instance_id)
        assert status.output == ["Hello Oslo!", "Hello Rome!", "Hello Lima!"]
        # the child with an explicit id is a visible instance of its own
        child = await hub.client.get_status(f"{instance_id}-child")
        assert child.runtime_status is S.Completed and child.output == ["Hello Rome!", "Hello Lima!"]
        events = await hub.client.get_history(instance_id)
        created = [e for e in events if isinstance(e, h.SubOrchestrationInstanceCreated)]
        assert [e.instance_id for e in created] == [f"{instance_id}:0", f"{instance_id}-child"]
        assert sum(isinstance(e, h.SubOrchestrationInstanceCompleted) for e in events) == 2


async def test_sub_orchestration_failure_propagates(azurite: str, hub_name: str) -> None:
    async with ws.task_hub(azurite, hub_name) as hub:
        caught = await hub.client.start_new("ParentOfFailingChild", client_input=True)
        uncaught = await hub.client.start_new("ParentOfFailingChild", client_input=False)
        status = await ws.completed(hub.client, caught)
        assert status.output == {
            "type": "SubOrchestrationFailedError",
            "error_type": "KeyError",
            "message": "'child went wrong'",
        }
        failed = await hub.client.wait_for_completion(uncaught, timeout=30)
        assert failed.runtime_status is S.Failed
        assert "SubOrchestrationFailedError" in failed.output and "child went wrong" in failed.output
        child = await hub.client.get_status(f"{uncaught}:0")
        assert child.runtime_status is S.Failed and "KeyError" in child.output


async def test_retry_succeeds_on_third_attempt(azurite: str, hub_name: str) -> None:
    key = uuid.uuid4().hex
    async with ws.task_hub(azurite, hub_name) as hub:
        instance_id = await hub.client.start_new(
            "Retrying", client_input={"key": key, "failures": 2, "attempts": 3}
        )
        status = await ws.completed(hub.client, instance_id)
        assert status.output == {"result": "succeeded on attempt 3"}
        assert ws.sample_app.calls[f"Flaky:{key}"] == 3
        events = await hub.client.get_history(instance_id)
        assert sum(isinstance(e, h.TaskFailed) for e in events) == 2
        assert sum(isinstance(e, h.TimerFired) for e in events) == 2  # one retry delay per failure


async def test_retry_gives_up_with_the_original_error(azurite: str, hub_name: str) -> None:
    key = uuid.uuid4().hex
    async with ws.task_hub(azurite, hub_name) as hub:
        instance_id = await hub.client.start_new(
            "Retrying", client_input={"key": key, "failures": 5, "attempts": 2}
        )
        status = await ws.completed(hub.client, instance_id)
        assert status.output == {
            "type": "ActivityFailedError",
            "error_type": "ValueError",
            "message": "flaky failure #2",
        }
        assert ws.sample_app.calls[f"Flaky:{key}"] == 2


async def test_continue_as_new_counter_keeps_only_the_last_execution(azurite: str, hub_name: str) -> None:
    async with ws.task_hub(azurite, hub_name) as hub:
        instance_id = await hub.client.start_new("Counter10", client_input=0)
        status = await ws.completed(hub.client, instance_id)
        assert status.output["final"] == 10
        assert status.output["execution"] == status.execution_id

        events = await hub.client.get_history(instance_id)
        starts = [e for e in events if isinstance(e, h.ExecutionStarted)]
        assert len(starts) == 1 and starts[0].input == "9"
        assert starts[0].execution_id == status.execution_id
        assert sum(isinstance(e, h.TaskScheduled) for e in events) == 1
        assert sum(isinstance(e, h.ExecutionCompleted) for e in events) == 1

        # raw rows: every row of the partition belongs to the last execution (earlier ones were overwritten)
        rows = await hub.raw.history_rows(hub_name, instance_id)
        assert {r["ExecutionId"] for r in rows} == {status.execution_id}


async def test_custom_status_visible_while_running(azurite: str, hub_name: str) -> None:
    async with ws.task_hub(azurite, hub_name) as hub:
        instance_id = await hub.client.start_new("Staged")
        running = await ws.wait_for_status(hub.client, instance_id, S.Running)
        assert running.custom_status == {"stage": "waiting", "instance": instance_id}
        await hub.client.raise_event(instance_id, "go", 42)
        status = await ws.completed(hub.client, instance_id)
        assert status.output == {"go": 42}
        assert status.custom_status == {"stage": "done"}


async def test_short_timer_fires_on_time(azurite: str, hub_name: str) -> None:
    async with ws.task_hub(azurite, hub_name) as hub:
        started = time.monotonic()
        instance_id = await hub.client.start_new("ShortTimer", client_input=2)
        status = await ws.completed(hub.client, instance_id, timeout=15)
        elapsed = time.monotonic() - started
        fire_at = datetime.fromisoformat(status.output["fire_at"])
        after = datetime.fromisoformat(status.output["after"])
        assert 1.0 <= elapsed <= 6.0, elapsed
        # the episode that saw the timer fire started no earlier than the due time (minus the
        # worker's 1 s early tolerance) and soon after it
        assert fire_at - timedelta(seconds=1) <= after <= fire_at + timedelta(seconds=3)


async def test_many_cities_in_parallel_instances(azurite: str, hub_name: str) -> None:
    """20 concurrent chains across all four partitions."""
    async with ws.task_hub(azurite, hub_name) as hub:
        inputs = {f"city-{i}": [f"C{i}a", f"C{i}b"] for i in range(20)}
        for instance_id, cities in inputs.items():
            await hub.client.start_new("HelloCities", instance_id, cities)
        for instance_id, cities in inputs.items():
            status = await ws.completed(hub.client, instance_id)
            assert status.output == [f"Hello {c}!" for c in cities]
        assert len({hub.storage.partition_of(i) for i in inputs}) == 4


async def test_async_activity_and_falsy_status(azurite: str, hub_name: str) -> None:
    async with ws.task_hub(azurite, hub_name) as hub:
        missing = await hub.client.get_status("never-started")
        assert not missing
        instance_id = await hub.client.start_new("Counter10", client_input=9)
        status = await ws.completed(hub.client, instance_id)
        assert status.output["final"] == 10
        assert isinstance(status, df.DurableOrchestrationStatus)


async def test_oversized_custom_status_does_not_wedge_the_instance(azurite: str, hub_name: str) -> None:
    async with ws.task_hub(azurite, hub_name) as hub:
        instance_id = await hub.client.start_new("BigCustomStatus", "big-status", 100_000)
        status = await ws.wait_for_status(hub.client, instance_id, S.Running, S.Failed, timeout=8)
        if status.runtime_status is S.Failed:
            assert "custom status" in str(status.output).lower()
        else:
            assert status.custom_status == "s" * 100_000


async def test_continue_as_new_carries_over_events_of_the_same_episode(azurite: str, hub_name: str) -> None:
    async with ws.task_hub(azurite, hub_name) as hub:
        instance_id = await hub.client.start_new("CollectEvents", "collect", [])
        await ws.wait_for_status(hub.client, instance_id, S.Running)
        # suspend so the five events are released to the orchestrator together, in one episode
        await hub.client.suspend(instance_id)
        await ws.wait_for_status(hub.client, instance_id, S.Suspended)
        for value in range(5):
            await hub.client.raise_event(instance_id, "add", value)

        async def all_recorded() -> bool:
            events = await hub.client.get_history(instance_id)
            return sum(isinstance(e, h.EventRaised) for e in events) == 5

        await ws.wait_until(all_recorded, what="the five events to be checkpointed")
        await hub.client.resume(instance_id)
        status = await ws.completed(hub.client, instance_id, timeout=10)
        assert status.output == [0, 1, 2, 3, 4]
