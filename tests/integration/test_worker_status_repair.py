"""A worker that dies between a history checkpoint and its Instances-row write leaves the row
behind history; the next worker to load the instance repairs the row from history."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import worker_support as ws

from durable_azure import OrchestrationRuntimeStatus as S
from durable_azure.orchestration import history as h
from durable_azure.orchestration.history import OrchestrationStatus
from durable_azure.storage.instance_table import InstanceUpdate


async def history_has(hub: ws.Hub, instance_id: str, kind: type) -> bool:
    return any(isinstance(e, kind) for e in await hub.client.get_history(instance_id))


async def test_a_finished_instance_whose_final_row_write_was_lost_is_repaired(
    azurite: str, hub_name: str
) -> None:
    async with ws.task_hub(azurite, hub_name) as hub:
        instance_id = "lost-final-write"
        await hub.client.start_new("WaitForEvent", instance_id)
        await ws.wait_for_status(hub.client, instance_id, S.Running)
        await hub.client.raise_event(instance_id, "e", 7)
        await ws.completed(hub.client, instance_id)
        await hub.stop_worker()
        # what a worker killed right after appending ExecutionCompleted leaves behind
        await hub.storage.instances.merge(instance_id, InstanceUpdate(status=OrchestrationStatus.Running))
        assert (await hub.client.get_status(instance_id)).runtime_status is S.Running

        await hub.start_worker()
        # the message the dead worker never deleted comes back (here: one more event)
        await hub.client.raise_event(instance_id, "e", 8)
        status = await ws.wait_for_status(hub.client, instance_id, S.Completed)
        assert status.output == {"got": 7}
        events = await hub.client.get_history(instance_id)
        assert sum(isinstance(e, h.ExecutionCompleted) for e in events) == 1


async def test_a_running_instance_whose_first_row_write_was_lost_is_shown_running_again(
    azurite: str, hub_name: str
) -> None:
    async with ws.task_hub(azurite, hub_name) as hub:
        instance_id = "lost-first-write"
        await hub.client.start_new("WaitTwice", instance_id)
        await ws.wait_for_status(hub.client, instance_id, S.Running)
        await hub.stop_worker()
        # a worker killed after its first checkpoint but before its row write leaves "Pending"
        await hub.storage.instances.merge(instance_id, InstanceUpdate(status=OrchestrationStatus.Pending))

        await hub.start_worker()
        await hub.client.raise_event(instance_id, "a", 1)

        async def a_recorded() -> bool:
            return await history_has(hub, instance_id, h.EventRaised)

        await ws.wait_until(a_recorded, what="event a in history")
        # the episode that consumed "a" repaired the row (it changes no user-visible column itself)
        await ws.wait_for_status(hub.client, instance_id, S.Running)
        await hub.client.raise_event(instance_id, "b", 2)
        status = await ws.completed(hub.client, instance_id)
        assert status.output == [1, 2]
