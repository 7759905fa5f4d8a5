"""Instance management through DurableOrchestrationClient, with a real worker on Azurite."""

from __future__ import annotations

import sys
import uuid
from datetime import datetime, timezone
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import worker_support as ws

import durable_azure as df
from durable_azure import OrchestrationRuntimeStatus as S
from durable_azure.orchestration import history as h


async def test_terminate_running_instance(azurite: str, hub_name: str) -> None:
    async with ws.task_hub(azurite, hub_name) as hub:
        instance_id = await hub.client.start_new("WaitForEvent")
        await ws.wait_for_status(hub.client, instance_id, S.Running)
        await hub.client.terminate(instance_id, "enough waiting")
        status = await ws.wait_for_status(hub.client, instance_id, S.Terminated)
        assert status.output == "enough waiting"
        assert status.completed_time is not None
        events = await hub.client.get_history(instance_id)
        assert sum(isinstance(e, h.ExecutionTerminated) for e in events) == 1
        completions = [e for e in events if isinstance(e, h.ExecutionCompleted)]
        assert [e.orchestration_status for e in completions] == [h.OrchestrationStatus.Terminated]
        # a finished instance can no longer be terminated or receive events
        with pytest.raises(df.InvalidOperationError):
            await hub.client.terminate(instance_id, "again")
        with pytest.raises(df.InvalidOperationError):
            await hub.client.raise_event(instance_id, "e", 1)


async def test_suspend_holds_events_until_resume(azurite: str, hub_name: str) -> None:
    async with ws.task_hub(azurite, hub_name) as hub:
        instance_id = await hub.client.start_new("WaitForEvent")
        await ws.wait_for_status(hub.client, instance_id, S.Running)
        await hub.client.suspend(instance_id, "maintenance")
        await ws.wait_for_status(hub.client, instance_id, S.Suspended)

        await hub.client.raise_event(instance_id, "e", "while suspended")

        async def event_recorded() -> bool:
            events = await hub.client.get_history(instance_id)
            return any(isinstance(e, h.EventRaised) for e in events)

        # the worker has consumed the event (it is in history) but the orchestrator has not run on it
        await ws.wait_until(event_recorded, what="the raised event to be checkpointed")
        status = await hub.client.get_status(instance_id)
        assert status.runtime_status is S.Suspended
        assert status.output != {"got": "while suspended"}

        await hub.client.resume(instance_id, "done")
        status = await ws.completed(hub.client, instance_id)
        assert status.output == {"got": "while suspended"}
        events = await hub.client.get_history(instance_id)
        kinds = [type(e) for e in events]
        assert (
            kinds.index(h.ExecutionSuspended) < kinds.index(h.EventRaised) < kinds.index(h.ExecutionResumed)
        )


async def test_restart_with_new_and_same_instance_id(azurite: str, hub_name: str) -> None:
    async with ws.task_hub(azurite, hub_name) as hub:
        original = await hub.client.start_new("HelloCities", "restart-me", ["Paris"])
        first = await ws.completed(hub.client, original)

        new_id = await hub.client.restart(original)
        assert new_id != original
        restarted = await ws.completed(hub.client, new_id)
        assert restarted.output == first.output == ["Hello Paris!"]

        same_id = await hub.client.restart(original, restart_with_new_instance_id=False)
        assert same_id == original
        again = await ws.completed(hub.client, original)
        assert again.output == ["Hello Paris!"]
        assert again.execution_id != first.execution_id
        row = (await hub.raw.rows(f"{hub_name}Instances", "PartitionKey eq 'restart-me'"))[0]
        assert row["Generation"] == 1


async def test_restart_of_a_running_instance_with_same_id_is_refused(azurite: str, hub_name: str) -> None:
    async with ws.task_hub(azurite, hub_name) as hub:
        instance_id = await hub.client.start_new("WaitForEvent", "busy")
        await ws.wait_for_status(hub.client, instance_id, S.Running)
        with pytest.raises(df.InstanceAlreadyExistsError):
            await hub.client.restart(instance_id, restart_with_new_instance_id=False)


async def test_rewind_retries_only_the_failed_activity(azurite: str, hub_name: str, tmp_path: Path) -> None:
    flag = tmp_path / f"flag-{uuid.uuid4().hex}"
    city = f"Rewind-{uuid.uuid4().hex[:6]}"
    calls = ws.sample_app.calls
    async with ws.task_hub(azurite, hub_name) as hub:
        instance_id = await hub.client.start_new("RewindMe", client_input={"city": city, "flag": str(flag)})
        failed = await hub.client.wait_for_completion(instance_id, timeout=30)
        assert failed.runtime_status is S.Failed
        assert "flag file" in failed.output and "is missing" in failed.output
        assert calls[f"NeedsFlag:{flag}"] == 1

        flag.write_text("flag is up", encoding="utf-8")
        await hub.client.rewind(instance_id, "flag fixed")
        status = await ws.completed(hub.client, instance_id)
        assert status.output == [f"Hello {city}!", "flag is up"]
        # DF semantics: only the failed work ran again; the completed activity kept its result
        assert calls[f"NeedsFlag:{flag}"] == 2
        assert calls[f"SayHello:{city}"] == 1

        # a completed instance cannot be rewound
        with pytest.raises(df.InvalidOperationError):
            await hub.client.rewind(instance_id)


async def test_rewind_of_a_failed_sub_orchestration_tree(azurite: str, hub_name: str, tmp_path: Path) -> None:
    flag = tmp_path / f"flag-{uuid.uuid4().hex}"
    city = f"Tree-{uuid.uuid4().hex[:6]}"
    calls = ws.sample_app.calls
    async with ws.task_hub(azurite, hub_name) as hub:
        instance_id = await hub.client.start_new("RewindParent", "tree", {"city": city, "flag": str(flag)})
        failed = await hub.client.wait_for_completion(instance_id, timeout=30)
        assert failed.runtime_status is S.Failed and "SubOrchestrationFailedError" in failed.output
        assert (await hub.client.get_status("tree-child")).runtime_status is S.Failed

        flag.write_text("fixed", encoding="utf-8")
        await hub.client.rewind(instance_id)
        status = await ws.completed(hub.client, instance_id)
        assert status.output == [f"Hello parent-{city}!", f"Hello {city}!", "fixed"]
        assert (await hub.client.get_status("tree-child")).runtime_status is S.Completed
        assert calls[f"SayHello:parent-{city}"] == 1 and calls[f"SayHello:{city}"] == 1
        assert calls[f"NeedsFlag:{flag}"] == 2


async def test_terminate_and_suspend_before_the_first_episode(azurite: str, hub_name: str) -> None:
    async with ws.task_hub(azurite, hub_name, worker=False) as hub:
        await hub.client.start_new("WaitForEvent", "term-pending")
        await hub.client.terminate("term-pending", "never mind")
        await hub.client.start_new("WaitForEvent", "susp-pending")
        await hub.client.suspend("susp-pending", "not yet")
        await hub.start_worker()
        status = await ws.wait_for_status(hub.client, "term-pending", S.Terminated)
        assert status.output == "never mind"
        await ws.wait_for_status(hub.client, "susp-pending", S.Suspended)
        await hub.client.raise_event("susp-pending", "e", "later")
        await hub.client.resume("susp-pending")
        status = await ws.completed(hub.client, "susp-pending")
        assert status.output == {"got": "later"}


async def test_terminate_a_suspended_instance(azurite: str, hub_name: str) -> None:
    async with ws.task_hub(azurite, hub_name) as hub:
        instance_id = await hub.client.start_new("WaitForEvent", "susp-term")
        await ws.wait_for_status(hub.client, instance_id, S.Running)
        await hub.client.suspend(instance_id)
        await ws.wait_for_status(hub.client, instance_id, S.Suspended)
        await hub.client.terminate(instance_id, "stop it")
        status = await ws.wait_for_status(hub.client, instance_id, S.Terminated)
        assert status.output == "stop it"


async def test_purge_single_instance(azurite: str, hub_name: str) -> None:
    async with ws.task_hub(azurite, hub_name) as hub:
        instance_id = await hub.client.start_new("HelloCities", "purge-me", ["Bern"])
        await ws.completed(hub.client, instance_id)
        assert await hub.raw.history_rows(hub_name, instance_id)

        result = await hub.client.purge_instance_history(instance_id)
        assert result.instances_deleted == 1
        assert not await hub.client.get_status(instance_id)
        assert await hub.raw.history_rows(hub_name, instance_id) == []
        assert await hub.client.get_history(instance_id) == []
        assert (await hub.client.purge_instance_history(instance_id)).instances_deleted == 0

        # the id can be used again (the worker still caches the purged history: it must notice)
        await hub.client.start_new("HelloCities", instance_id, ["Chur"])
        status = await ws.completed(hub.client, instance_id)
        assert status.output == ["Hello Chur!"]
        row = (await hub.raw.rows(f"{hub_name}Instances", "PartitionKey eq 'purge-me'"))[0]
        assert row["Generation"] == 0


async def test_purge_instance_history_by_time_and_status(azurite: str, hub_name: str) -> None:
    async with ws.task_hub(azurite, hub_name) as hub:
        old = await hub.client.start_new("HelloCities", "old-0", ["A"])
        await ws.completed(hub.client, old)
        boundary = datetime.now(timezone.utc)
        done = [await hub.client.start_new("HelloCities", f"new-{i}", ["B"]) for i in range(3)]
        running = await hub.client.start_new("WaitForEvent", "new-running")
        failed = await hub.client.start_new("NoSuchOrchestrator", "new-failed")
        for instance_id in done:
            await ws.completed(hub.client, instance_id)
        await ws.wait_for_status(hub.client, running, S.Running)
        await ws.wait_for_status(hub.client, failed, S.Failed)

        result = await hub.client.purge_instance_history_by(
            created_time_from=boundary, runtime_status=[S.Completed]
        )
        assert result.instances_deleted == 3
        for instance_id in done:
            assert not await hub.client.get_status(instance_id)
            assert await hub.raw.history_rows(hub_name, instance_id) == []
        # outside the time range, another status, or still running: untouched
        assert (await hub.client.get_status(old)).runtime_status is S.Completed
        assert (await hub.client.get_status(failed)).runtime_status is S.Failed
        assert (await hub.client.get_status(running)).runtime_status is S.Running

        # without a status filter only finished instances go; a running one is never purged
        result = await hub.client.purge_instance_history_by(created_time_from=boundary)
        assert result.instances_deleted == 1
        assert not await hub.client.get_status(failed)
        assert (await hub.client.get_status(running)).runtime_status is S.Running


async def test_start_with_id_of_running_instance_fails(azurite: str, hub_name: str) -> None:
    async with ws.task_hub(azurite, hub_name) as hub:
        await hub.client.start_new("WaitForEvent", "only-one")
        with pytest.raises(df.InstanceAlreadyExistsError, match="only-one"):
            await hub.client.start_new("WaitForEvent", "only-one")  # still Pending
        await ws.wait_for_status(hub.client, "only-one", S.Running)
        with pytest.raises(df.InstanceAlreadyExistsError, match="only-one"):
            await hub.client.start_new("HelloCities", "only-one")
        await hub.client.raise_event("only-one", "e", "x")
        status = await ws.completed(hub.client, "only-one")
        assert status.output == {"got": "x"}  # the refused start changed nothing


async def test_start_with_id_of_finished_instance_replaces_it(azurite: str, hub_name: str) -> None:
    async with ws.task_hub(azurite, hub_name) as hub:
        await hub.client.start_new("HelloCities", "again", ["One", "Two", "Three", "Four"])
        first = await ws.completed(hub.client, "again")
        row = (await hub.raw.rows(f"{hub_name}Instances", "PartitionKey eq 'again'"))[0]
        assert row["Generation"] == 0

        await hub.client.start_new("HelloCities", "again", ["Five"])
        second = await ws.completed(hub.client, "again")
        assert second.output == ["Hello Five!"]
        assert second.execution_id != first.execution_id
        row = (await hub.raw.rows(f"{hub_name}Instances", "PartitionKey eq 'again'"))[0]
        assert row["Generation"] == 1
        assert row["ExecutionId"] == second.execution_id

        events = await hub.client.get_history("again")
        starts = [e for e in events if isinstance(e, h.ExecutionStarted)]
        assert len(starts) == 1 and starts[0].execution_id == second.execution_id
        assert starts[0].generation == 1
        assert sum(isinstance(e, h.TaskScheduled) for e in events) == 1


async def test_unregistered_orchestrator_fails_with_clear_message(azurite: str, hub_name: str) -> None:
    async with ws.task_hub(azurite, hub_name) as hub:
        instance_id = await hub.client.start_new("NoSuchOrchestrator")
        status = await hub.client.wait_for_completion(instance_id, timeout=20)
        assert status.runtime_status is S.Failed
        assert "NoSuchOrchestrator" in status.output
        assert "FunctionNotFoundError" in status.output


async def test_unregistered_activity_surfaces_as_activity_failed(azurite: str, hub_name: str) -> None:
    async with ws.task_hub(azurite, hub_name) as hub:
        instance_id = await hub.client.start_new("CallsMissingActivity")
        status = await ws.completed(hub.client, instance_id)
        assert status.output["type"] == "ActivityFailedError"
        assert status.output["error_type"] == "FunctionNotFoundError"
        assert "NoSuchActivity" in status.output["message"]


async def test_non_serializable_input_writes_nothing(azurite: str, hub_name: str) -> None:
    async with ws.task_hub(azurite, hub_name, worker=False) as hub:
        with pytest.raises(df.SerializationError, match="not JSON-serializable"):
            await hub.client.start_new("HelloCities", "bad-input", {"when": object()})
        assert await hub.raw.rows(f"{hub_name}Instances") == []
        queues = [q.name for q in hub.storage.control_queues] + [hub.storage.workitems.name]
        for queue in queues:
            assert await hub.raw.peek(queue) == [], queue
        assert not await hub.client.get_status("bad-input")


async def test_instance_id_with_single_quote_end_to_end(azurite: str, hub_name: str) -> None:
    instance_id = "o'brien's-order"
    async with ws.task_hub(azurite, hub_name) as hub:
        await hub.client.start_new("HelloCities", instance_id, ["Cork"])
        await hub.client.start_new("HelloCities", "obrien-other", ["Sligo"])
        status = await ws.completed(hub.client, instance_id)
        assert status.output == ["Hello Cork!"]
        assert status.instance_id == instance_id
        page, token = await hub.client.list_instances(instance_id_prefix="o'brien")
        assert [s.instance_id for s in page] == [instance_id] and token is None
        found = await hub.client.get_status_by(instance_id_prefix="o'b")
        assert [s.instance_id for s in found] == [instance_id]
        history = await hub.client.get_status(instance_id, show_history=True)
        assert history.history
        assert (await hub.client.purge_instance_history(instance_id)).instances_deleted == 1
