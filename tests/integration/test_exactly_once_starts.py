"""A start message runs its execution once: re-delivered starts, re-sent child starts, purge then start.

Each test injects, through the engine's own queue API (no storage mocks), the copy of a start message
a crash would leave behind: the original start delivered again after the instance finished (its
delete was lost), a parent's request to start a child sent again after the child finished (the
parent's episode ran again), and a new start after the instance was purged while a worker still had
it cached.
"""

from __future__ import annotations

import sys
import uuid
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import worker_support as ws

from durable_azure import OrchestrationRuntimeStatus as S
from durable_azure.orchestration import history as h
from durable_azure.storage.messages import TaskMessage
from durable_azure.worker.outbound import outbound_messages


async def drained(hub: ws.Hub) -> bool:
    """Every control queue and the work-item queue is empty (messages deleted, not just hidden)."""
    queues = [q.name for q in hub.storage.control_queues] + [hub.storage.workitems.name]
    for queue in queues:
        if await hub.raw.queue_length(queue):
            return False
    return True


async def row_etags(hub: ws.Hub, instance_id: str) -> dict[str, str]:
    """RowKey → ETag of every History row of the instance (a rewrite changes them)."""
    return {r["RowKey"]: r.metadata["etag"] for r in await hub.raw.history_rows(hub.name, instance_id)}


async def test_start_delivered_again_after_the_instance_finished_is_dropped(
    azurite: str, hub_name: str
) -> None:
    """5a: the worker died after the final checkpoint, before deleting the start message."""
    city = f"again-{uuid.uuid4().hex[:8]}"
    calls = ws.sample_app.calls
    async with ws.task_hub(azurite, hub_name) as hub:
        instance_id = await hub.client.start_new("HelloCities", f"redelivered-{city}", [city])
        await ws.completed(hub.client, instance_id)
        await ws.wait_until(lambda: drained(hub), what="the queues to drain")
        events = await hub.client.get_history(instance_id)
        started = next(e for e in events if isinstance(e, h.ExecutionStarted))
        before = await row_etags(hub, instance_id)
        status_before = await hub.client.get_status(instance_id)

        copy = TaskMessage(event=started, instance_id=instance_id, execution_id=started.execution_id)
        await hub.storage.control_queue_for(instance_id).send(copy)
        hub.worker.notify(instance_id)
        await ws.wait_until(lambda: drained(hub), what="the duplicate start to be consumed")

        status = await hub.client.get_status(instance_id)
        assert status.runtime_status is S.Completed
        assert status.last_updated_time == status_before.last_updated_time
        assert calls[f"SayHello:{city}"] == 1, "the activity ran again"
        assert await row_etags(hub, instance_id) == before, "history rows were rewritten"


async def test_child_start_sent_again_after_the_child_finished_does_not_run_it_again(
    azurite: str, hub_name: str
) -> None:
    """5b: the parent's episode that started the child ran again (a crash before its checkpoint
    was recorded), so the child's start message went out a second time; the child had finished."""
    city = f"child-{uuid.uuid4().hex[:8]}"
    calls = ws.sample_app.calls
    async with ws.task_hub(azurite, hub_name) as hub:
        parent = await hub.client.start_new("Parent", f"parent-{city}", [city, "Lima"])
        await ws.completed(hub.client, parent)
        await ws.wait_until(lambda: drained(hub), what="the queues to drain")
        parent_events = await hub.client.get_history(parent)
        parent_start = next(e for e in parent_events if isinstance(e, h.ExecutionStarted))
        created = next(e for e in parent_events if isinstance(e, h.SubOrchestrationInstanceCreated))
        child = created.instance_id
        before = await row_etags(hub, child)
        child_status = await hub.client.get_status(child)

        # The parent's episode, run again, sends the child's start exactly as it did the first time.
        [resent] = outbound_messages(
            [created],
            instance_id=parent,
            execution_id=parent_start.execution_id,
            name="Parent",
            episode=1,
            now=datetime.now(timezone.utc),
        )
        await hub.storage.control_queue_for(child).send(resent.message)
        # A start with another execution id for the same parent request (as sent by a worker that
        # drew child execution ids at random) is the same request, too.
        assert isinstance(resent.message.event, h.ExecutionStarted)
        other = uuid.uuid4().hex
        legacy = TaskMessage(
            event=h.ExecutionStarted(
                name=resent.message.event.name,
                instance_id=child,
                execution_id=other,
                input=resent.message.event.input,
                parent=resent.message.event.parent,
                timestamp=datetime.now(timezone.utc),
            ),
            instance_id=child,
            execution_id=other,
        )
        await hub.storage.control_queue_for(child).send(legacy)
        hub.worker.notify(child)
        await ws.wait_until(lambda: drained(hub), what="the re-sent child starts to be consumed")

        status = await hub.client.get_status(child)
        assert status.runtime_status is S.Completed
        assert status.execution_id == child_status.execution_id
        assert calls[f"SayHello:{city}"] == 1, "the child ran again"
        assert await row_etags(hub, child) == before, "the child's history was rewritten"
        parent_after = await hub.client.get_history(parent)
        assert sum(isinstance(e, h.SubOrchestrationInstanceCompleted) for e in parent_after) == 2


def test_a_child_start_sent_twice_carries_one_execution_id() -> None:
    """The child's execution id is derived from the parent's request, not drawn at random."""
    now = datetime.now(timezone.utc)
    created = h.SubOrchestrationInstanceCreated(
        event_id=3, name="Child", instance_id="kid", input="1", timestamp=now
    )

    def child_start() -> TaskMessage:
        [out] = outbound_messages(
            [created], instance_id="mum", execution_id="e1", name="Mum", episode=2, now=now
        )
        return out.message

    first, second = child_start(), child_start()
    assert first.execution_id == second.execution_id
    assert len(first.execution_id or "") == 32 and int(first.execution_id or "", 16) >= 0
    [other_execution] = outbound_messages(
        [created], instance_id="mum", execution_id="e2", name="Mum", episode=1, now=now
    )
    assert other_execution.message.execution_id != first.execution_id


async def test_new_start_after_purging_a_cached_running_instance_runs(azurite: str, hub_name: str) -> None:
    """1: the worker still caches the purged execution as running; the new start must not be ignored."""
    async with ws.task_hub(azurite, hub_name) as hub:
        instance_id = await hub.client.start_new("WaitForEvent", f"purged-{uuid.uuid4().hex[:8]}")
        await ws.wait_for_status(hub.client, instance_id, S.Running)
        await ws.wait_until(lambda: drained(hub), what="the first episode to settle")
        # Purge its storage behind the worker's back (as a forced purge does).
        await hub.storage.history.delete_instance(instance_id)
        await hub.storage.instances.delete(instance_id)

        await hub.client.start_new("HelloCities", instance_id, ["Oslo"])
        status = await ws.completed(hub.client, instance_id, timeout=20)
        assert status.output == ["Hello Oslo!"]
        events = await hub.client.get_history(instance_id)
        assert [e.name for e in events if isinstance(e, h.ExecutionStarted)] == ["HelloCities"]
