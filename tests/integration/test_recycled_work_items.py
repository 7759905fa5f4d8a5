"""A local activity's work item is rewritten into the next one after the history append (worker/episode.py).

The step costs one Update Message instead of a send before the append and a delete after it. The
window this opens — the worker dies after the append, before the rewrite — is closed by the old
work item itself: it comes back, its activity runs again, and its duplicate result makes the owner
send the next work item again (worker/orchestrations.py ``_unsent_work``). The crash is made by
holding the rewrite and stopping the worker, whose episodes are then cancelled as a crash would end
them; no storage mocks.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import worker_support as ws

from durable_azure.config import RECYCLE_ENV, Settings
from durable_azure.orchestration import history as h
from durable_azure.registry import registry_of
from durable_azure.storage.messages import TaskMessage
from durable_azure.storage.queues import TaskHubQueue
from durable_azure.worker import activities, orchestrations
from durable_azure.worker.activities import ActivityDispatcher
from durable_azure.worker.inboxes import PartitionInboxes
from durable_azure.worker.outbound import Outbound, OutboundSender


@pytest.fixture(autouse=True)
def recycling_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """Recycled work items are on by default; no environment variable of the caller's changes that here."""
    monkeypatch.delenv(RECYCLE_ENV, raising=False)


async def scheduled(hub: ws.Hub, instance_id: str, count: int) -> bool:
    events = await hub.client.get_history(instance_id)
    return sum(isinstance(e, h.TaskScheduled) for e in events) >= count


async def test_a_chain_rewrites_each_work_item_into_the_next(azurite: str, hub_name: str) -> None:
    city = f"rw-{uuid.uuid4().hex[:8]}"
    cities = [f"{city}-{i}" for i in range(4)]
    async with ws.task_hub(azurite, hub_name) as hub:
        assert hub.worker is not None
        counter = hub.worker.storage.clients.counter
        before = counter.snapshot()
        instance_id = await hub.client.start_new("HelloCities", f"chain-{city}", cities)
        status = await ws.completed(hub.client, instance_id)
        assert status.output == [f"Hello {c}!" for c in cities]
        after = counter.snapshot()
        used = {
            op: after.get(op, 0) - before.get(op, 0) for op in ("queue.update", "queue.send", "queue.delete")
        }
        # 4 activities: the first work item is sent, then rewritten 3 times, and the last deleted
        assert used["queue.update"] >= 3
        assert all(ws.sample_app.calls[f"SayHello:{c}"] == 1 for c in cities)
        queue = hub.worker.storage.workitems.name
        await ws.wait_until(lambda: _empty(hub, queue), what="the work-item queue to drain")


async def _empty(hub: ws.Hub, queue: str) -> bool:
    return await hub.raw.queue_length(queue) == 0


async def test_worker_dying_between_the_append_and_the_rewrite_loses_no_step(
    azurite: str, hub_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The history holds task 0's result and schedules task 1, but task 0's work item was never
    rewritten into task 1's: it comes back, task 0 runs again, and its duplicate result sends task 1."""
    monkeypatch.setattr(orchestrations, "STOP_GRACE_SECONDS", 0.2)
    city = f"die-{uuid.uuid4().hex[:8]}"
    cities = [f"{city}-{i}" for i in range(3)]
    original = OutboundSender.recycle
    held = asyncio.Event()

    async def hold_first(
        self: OutboundSender, spent: Any, item: Any, on_written: Any, loan: Any = None
    ) -> bool:
        if not held.is_set():
            held.set()
            await asyncio.Event().wait()  # the worker "dies" here: cancelled by the stop below
        return await original(self, spent, item, on_written, loan)

    monkeypatch.setattr(OutboundSender, "recycle", hold_first)
    async with ws.task_hub(azurite, hub_name) as hub:
        instance_id = await hub.client.start_new("HelloCities", f"die-{city}", cities)
        await ws.wait_until(lambda: _held(held), what="the first rewrite to be reached")
        assert await scheduled(hub, instance_id, 2), "the append that scheduled task 1 is durable"
        await hub.stop_worker()  # its episode is cancelled between the append and the rewrite

        monkeypatch.setattr(OutboundSender, "recycle", original)
        await hub.start_worker()
        status = await ws.completed(hub.client, instance_id, timeout=60)
        assert status.output == [f"Hello {c}!" for c in cities]
        calls = ws.sample_app.calls
        assert calls[f"SayHello:{cities[0]}"] == 2, "task 0's work item came back and ran again"
        assert calls[f"SayHello:{cities[1]}"] == 1
        assert calls[f"SayHello:{cities[2]}"] == 1
        events = await hub.client.get_history(instance_id)
        results = [e.task_scheduled_id for e in events if isinstance(e, h.TaskCompleted)]
        assert results == [0, 1, 2], "a result was recorded twice"


async def _held(event: asyncio.Event) -> bool:
    return event.is_set()


async def _two_steps(queue: TaskHubQueue) -> tuple[h.TaskScheduled, h.TaskScheduled, Any]:
    """Two activity steps, the first sent as a hidden work item (what a local activity runs from)."""
    first = h.TaskScheduled(event_id=0, name="SayHello", input='"a"')
    second = h.TaskScheduled(event_id=1, name="SayHello", input='"b"')
    sent = await queue.send(TaskMessage(event=first, instance_id="i", execution_id="e"), visibility_delay=30)
    return first, second, sent


async def test_replace_rewrites_a_hidden_message_and_reports_one_that_is_gone(
    azurite: str, hub_name: str
) -> None:
    async with ws.task_hub(azurite, hub_name, worker=False) as hub:
        queue = hub.storage.workitems
        first, second, sent = await _two_steps(queue)
        replaced = await queue.replace(
            sent, TaskMessage(event=second, instance_id="i", execution_id="e"), visibility_timeout=0
        )
        assert replaced is not None and replaced.message_id == sent.message_id
        received = await queue.receive(32, 30)
        assert [r.message.event for r in received] == [second]
        assert await queue.delete(received[0])
        assert (
            await queue.replace(
                replaced, TaskMessage(event=first, instance_id="i", execution_id="e"), visibility_timeout=0
            )
            is None
        )


@pytest.mark.parametrize("how", ["setting", "environment"])
async def test_recycling_can_be_turned_off(
    azurite: str, hub_name: str, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    """``recycle_work_items=False`` (host.json ``recycleWorkItems``) or ``DURABLE_AZURE_RECYCLE_WORK_ITEMS=0``:
    every step sends its work item and deletes the old one, as DTFx does."""
    settings: dict[str, Any] = {}
    if how == "setting":
        settings["recycle_work_items"] = False
    else:
        monkeypatch.setenv(RECYCLE_ENV, "0")
    city = f"off-{uuid.uuid4().hex[:8]}"
    async with ws.task_hub(azurite, hub_name, **settings) as hub:
        assert hub.worker is not None
        counter = hub.worker.storage.clients.counter
        before = counter.snapshot()
        instance_id = await hub.client.start_new("HelloCities", f"off-{city}", [city, f"{city}-2"])
        await ws.completed(hub.client, instance_id)
        after = counter.snapshot()
        assert after.get("queue.update", 0) - before.get("queue.update", 0) == 0
        assert after.get("queue.send", 0) - before.get("queue.send", 0) == 2  # one per work item


class _FullyBooked:
    """The activity dispatcher with every slot taken: nothing may run here."""

    def reserve(self) -> bool:
        return False

    def release(self) -> None:
        raise AssertionError("nothing was reserved")

    def claim(self, message_id: str) -> bool:
        return False

    def run(self, received: Any) -> None:
        raise AssertionError("nothing may run here")

    def run_rewritten(self, message: Any, writing: Any, on_written: Any) -> None:
        raise AssertionError("nothing may run here")

    def pending_for(self, instance_id: str) -> int:
        return 0

    def wake(self) -> None:
        pass


async def test_with_no_free_activity_slot_the_next_work_item_is_sent_not_rewritten(
    azurite: str, hub_name: str
) -> None:
    """A rewrite made visible would be received with the old message's dequeue count plus one, so
    a long chain would reach the poison limit: with no slot here, a new message is sent instead."""
    async with ws.task_hub(azurite, hub_name, worker=False) as hub:
        queue = hub.storage.workitems
        _, second, spent = await _two_steps(queue)
        sender = OutboundSender(
            hub.storage,
            Settings(),
            inboxes=PartitionInboxes(hub.storage.partition_of, 1.0),
            activities=_FullyBooked(),
        )
        item = Outbound(TaskMessage(event=second, instance_id="i", execution_id="e"), to_work_items=True)
        assert await sender.recycle(spent, item, lambda ok: None) is False  # the caller deletes ``spent``
        received = await queue.receive(32, 30)
        assert [r.message.event for r in received] == [second]
        assert received[0].message_id != spent.message_id and received[0].dequeue_count == 1


async def test_the_next_activity_starts_while_its_work_item_is_being_rewritten(
    azurite: str, hub_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The history that schedules the step is durable before the rewrite, so the activity need not
    wait for it; its result is handed over only once the rewrite has answered."""
    city = f"early-{uuid.uuid4().hex[:8]}"
    cities = [f"{city}-{i}" for i in range(2)]
    original = TaskHubQueue.replace
    release = asyncio.Event()
    rewrites = 0

    async def slow_replace(self: TaskHubQueue, msg: Any, new: Any, *, visibility_timeout: float) -> Any:
        nonlocal rewrites
        rewrites += 1
        await release.wait()
        return await original(self, msg, new, visibility_timeout=visibility_timeout)

    monkeypatch.setattr(TaskHubQueue, "replace", slow_replace)
    async with ws.task_hub(azurite, hub_name) as hub:
        instance_id = await hub.client.start_new("HelloCities", f"early-{city}", cities)
        await ws.wait_until(
            lambda: _ran(f"SayHello:{cities[1]}"), what="the second activity to run during its rewrite"
        )
        assert rewrites == 1
        assert not await _recorded(hub, instance_id, 1), "its result waits for the rewrite"
        release.set()
        status = await ws.completed(hub.client, instance_id)
        assert status.output == [f"Hello {c}!" for c in cities]
        assert all(ws.sample_app.calls[f"SayHello:{c}"] == 1 for c in cities)


async def _ran(key: str) -> bool:
    return ws.sample_app.calls[key] >= 1


async def _recorded(hub: ws.Hub, instance_id: str, task: int) -> bool:
    events = await hub.client.get_history(instance_id)
    return any(isinstance(e, h.TaskCompleted) and e.task_scheduled_id == task for e in events)


async def test_a_rewrite_that_finds_the_old_work_item_gone_sends_the_next_one(
    azurite: str, hub_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The old work item was received again elsewhere (made here by deleting it): the rewrite
    answers "gone", the running activity's work item is sent as a new message, and each activity
    runs once."""
    city = f"gone-{uuid.uuid4().hex[:8]}"
    cities = [f"{city}-{i}" for i in range(3)]
    original = TaskHubQueue.replace
    gone = 0

    async def replace_gone_once(self: TaskHubQueue, msg: Any, new: Any, *, visibility_timeout: float) -> Any:
        nonlocal gone
        if gone == 0:
            gone += 1
            assert await self.delete(msg)
        return await original(self, msg, new, visibility_timeout=visibility_timeout)

    monkeypatch.setattr(TaskHubQueue, "replace", replace_gone_once)
    async with ws.task_hub(azurite, hub_name) as hub:
        assert hub.worker is not None
        instance_id = await hub.client.start_new("HelloCities", f"gone-{city}", cities)
        status = await ws.completed(hub.client, instance_id)
        assert status.output == [f"Hello {c}!" for c in cities]
        assert gone == 1
        assert all(ws.sample_app.calls[f"SayHello:{c}"] == 1 for c in cities)
        queue = hub.worker.storage.workitems.name
        await ws.wait_until(lambda: _empty(hub, queue), what="the work-item queue to drain")


@pytest.mark.parametrize("landed", [False, True], ids=["rewrite-lost", "answer-lost"])
async def test_a_rewrite_that_fails_drops_the_early_result_and_the_step_comes_back(
    azurite: str, hub_name: str, monkeypatch: pytest.MonkeyPatch, landed: bool
) -> None:
    """The rewrite raises — before it reached storage, or after (its answer lost). The activity that
    started early has its result dropped, as a crash would drop it; the step resumes when its work
    item (the old one, or the rewritten one) comes back after the visibility timeout, and every
    result is recorded once."""
    city = f"fail-{uuid.uuid4().hex[:8]}"
    cities = [f"{city}-{i}" for i in range(3)]
    original = TaskHubQueue.replace
    failed = 0

    async def replace_failing_once(
        self: TaskHubQueue, msg: Any, new: Any, *, visibility_timeout: float
    ) -> Any:
        nonlocal failed
        if failed == 0:
            failed += 1
            if landed:
                await original(self, msg, new, visibility_timeout=visibility_timeout)
            raise ConnectionResetError("the connection dropped")
        return await original(self, msg, new, visibility_timeout=visibility_timeout)

    monkeypatch.setattr(TaskHubQueue, "replace", replace_failing_once)
    async with ws.task_hub(azurite, hub_name, work_item_visibility_timeout=2) as hub:
        instance_id = await hub.client.start_new("HelloCities", f"fail-{city}", cities)
        status = await ws.completed(hub.client, instance_id, timeout=60)
        assert status.output == [f"Hello {c}!" for c in cities]
        assert failed == 1
        calls = ws.sample_app.calls
        assert calls[f"SayHello:{cities[1]}"] == 2, "the early run's result was dropped; the step ran again"
        assert calls[f"SayHello:{cities[0]}"] == (1 if landed else 2)
        assert calls[f"SayHello:{cities[2]}"] == 1
        events = await hub.client.get_history(instance_id)
        results = [e.task_scheduled_id for e in events if isinstance(e, h.TaskCompleted)]
        assert results == [0, 1, 2], "a result was recorded twice"


async def test_a_duplicate_result_during_the_rewrite_waits_for_it_instead_of_resending(
    azurite: str, hub_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Task 0's result comes twice (a task scheduled twice after a crash runs twice); the copy
    arrives while task 0's work item is being rewritten into task 1's. The owner waits for that
    rewrite: it succeeds, so task 1 is not sent again and runs once."""
    city = f"dup-{uuid.uuid4().hex[:8]}"
    cities = [f"{city}-{i}" for i in range(2)]
    original = TaskHubQueue.replace
    release = asyncio.Event()

    async def held_replace(self: TaskHubQueue, msg: Any, new: Any, *, visibility_timeout: float) -> Any:
        await release.wait()
        return await original(self, msg, new, visibility_timeout=visibility_timeout)

    monkeypatch.setattr(TaskHubQueue, "replace", held_replace)
    async with ws.task_hub(azurite, hub_name) as hub:
        assert hub.worker is not None
        instance_id = await hub.client.start_new("HelloCities", f"dup-{city}", cities)
        await ws.wait_until(lambda: _ran(f"SayHello:{cities[1]}"), what="task 1 to start during its rewrite")
        events = await hub.client.get_history(instance_id)
        first = next(e for e in events if isinstance(e, h.TaskCompleted) and e.task_scheduled_id == 0)
        started = next(e for e in events if isinstance(e, h.ExecutionStarted))
        copy = TaskMessage(event=first, instance_id=instance_id, execution_id=started.execution_id)
        queue = hub.worker.storage.control_queue_for(instance_id)
        await queue.send(copy)
        await ws.wait_until(lambda: _empty(hub, queue.name), what="the copy to be taken in and dropped")
        release.set()
        status = await ws.completed(hub.client, instance_id)
        assert status.output == [f"Hello {c}!" for c in cities]
        work_items = hub.worker.storage.workitems.name
        await ws.wait_until(lambda: _empty(hub, work_items), what="the work-item queue to drain")
        assert ws.sample_app.calls[f"SayHello:{cities[1]}"] == 1, "task 1 was sent again"


class _HeldResults:
    """A result sink that takes every result in and runs no episode: what an owner's partition
    loop does between the hand-over and the episode."""

    def __init__(self) -> None:
        self.results: list[Any] = []

    def deliver(self, received: Any) -> bool:
        self.results.append(received)
        return True

    def wake_instance(self, instance_id: str) -> None:
        pass


@pytest.mark.parametrize("claimed", [True, False])
async def test_a_finished_activitys_slot_is_lent_to_its_results_episode(
    azurite: str, hub_name: str, claimed: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With every slot taken, the slot of an activity whose result was just handed over in-process
    is kept for that result's episode, which may rewrite the work item into the next step's and run
    it there (the work-item loop would otherwise take it); unclaimed, it is given back shortly."""
    lend = 3.0 if claimed else 0.5  # long enough for the checks below, short enough to wait out
    monkeypatch.setattr(activities, "SLOT_LEND_SECONDS", lend)
    async with ws.task_hub(azurite, hub_name, worker=False) as hub:
        sink = _HeldResults()
        dispatcher = ActivityDispatcher(
            hub.storage,
            registry_of(ws.sample_app.app),
            Settings(max_concurrent_activities=1, recycle_work_items=True),
            results=sink,
            receive=False,
        )
        scheduled = h.TaskScheduled(event_id=0, name="SayHello", input='"lent"')
        assert dispatcher.reserve()
        sent = await hub.storage.workitems.send(
            TaskMessage(event=scheduled, instance_id="lend-i", execution_id="e"), visibility_delay=30
        )
        dispatcher.run(sent)
        await ws.wait_until(lambda: _has(sink.results), what="the result to be handed over")
        await ws.wait_until(lambda: _idle(dispatcher), what="the activity's task to end")
        assert not dispatcher.reserve(), "the slot is still lent to the result's episode"
        if claimed:
            assert dispatcher.claim(sent.message_id)
            assert not dispatcher.claim(sent.message_id), "a loan is claimed once"
            dispatcher.release()
        else:
            await ws.wait_until(lambda: _reservable(dispatcher), what="the unclaimed slot to come back")
            assert not dispatcher.claim(sent.message_id)
            dispatcher.release()
        assert dispatcher.reserve()
        dispatcher.release()
        await dispatcher.stop()


async def _has(items: list[Any]) -> bool:
    return bool(items)


async def _idle(dispatcher: ActivityDispatcher) -> bool:
    return dispatcher.pending_for("lend-i") == 0


async def _reservable(dispatcher: ActivityDispatcher) -> bool:
    if dispatcher.reserve():
        dispatcher.release()
        return True
    return False
