"""Work items through the queue trigger behave as through the engine's own dispatcher.

Two hubs run the same app: one with a plain ``TaskHubWorker`` that receives its work-item queue
itself, one the way a Functions host runs it — ``AzureHosting`` with the engine not receiving work
items, and a host loop (below) that receives them, hands each to the ``durable_workitems`` function
as the Python worker would (an ``azure.functions.QueueMessage``), deletes it after success and makes
it visible again after a failure. Results, retries (an activity failing twice, retried by the
orchestration) and poison (a work item received more than ``maxDequeueCount`` times) must come out
the same: same outputs, same history, same poison records. In-process, against Azurite.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from azure.functions.queue import QueueMessage as WorkerQueueMessage
from azure.storage.queue.aio import QueueClient

import durable_azure as df
from durable_azure.config import Settings
from durable_azure.functions.azure_hosting import AzureHosting
from durable_azure.functions.workitem_trigger import run_work_item
from durable_azure.orchestration import history as h
from durable_azure.storage.messages import TaskMessage
from durable_azure.storage.naming import workitem_queue_name
from durable_azure.storage.taskhub import TaskHubStorage

CONNECTION = "UseDevelopmentStorage=true"
FAST = {
    "max_queue_polling_interval": 0.2,
    "lease_acquire_interval": 1.0,
    "lease_renew_interval": 1.0,
    "max_dequeue_count": 1,
}

app = df.DFApp()
attempts: dict[str, int] = {}


@app.orchestration_trigger(context_name="context")
def retrying(context: df.DurableOrchestrationContext):
    key = context.get_input()
    retry = df.RetryOptions(first_retry_interval_in_milliseconds=200, max_number_of_attempts=3)
    first = yield context.call_activity_with_retry("flaky", retry, key)
    second = yield context.call_activity("double", 21)
    return [first, second]


@app.activity_trigger(input_name="key")
def flaky(key: str) -> str:
    attempts[key] = attempts.get(key, 0) + 1
    if attempts[key] < 3:
        raise ValueError(f"attempt {attempts[key]} of {key} fails")
    return f"{key} ok after {attempts[key]}"


@app.activity_trigger(input_name="n")
def double(n: int) -> int:
    return 2 * n


def _settings(hub: str) -> Settings:
    return Settings(connection_string=CONNECTION, hub_name=hub).with_overrides(**FAST)


async def _host_loop(hosting: AzureHosting, hub: str, delivered: list[str]) -> None:
    """The Functions host's queue listener, reduced: receive, invoke, delete or release."""
    async with QueueClient.from_connection_string(CONNECTION, workitem_queue_name(hub)) as queue:
        while True:
            try:
                batch = [m async for m in queue.receive_messages(max_messages=16, visibility_timeout=30)]
            except HttpResponseError:
                batch = []
            if not batch:
                await asyncio.sleep(0.1)
                continue
            for m in batch:
                msg = WorkerQueueMessage(  # what the worker's queue-trigger converter builds
                    id=m.id,
                    body=m.content,
                    pop_receipt=m.pop_receipt,
                    dequeue_count=m.dequeue_count,
                    insertion_time=m.inserted_on,
                    expiration_time=m.expires_on,
                    time_next_visible=m.next_visible_on,
                )
                try:
                    await run_work_item(hosting, msg)
                except Exception:
                    await queue.update_message(m.id, m.pop_receipt, visibility_timeout=0)
                    continue
                delivered.append(m.id)
                with contextlib.suppress(HttpResponseError):  # gone: the engine deleted it already
                    await queue.delete_message(m.id, m.pop_receipt)


@contextlib.asynccontextmanager
async def _engine(
    kind: str, before: Callable[[str], Awaitable[None]] | None = None
) -> AsyncIterator[tuple[str, list[str]]]:
    """A running engine for a new hub: ``"dispatcher"`` (receives work items) or ``"trigger"``;
    ``before(hub)`` runs once the hub exists, before the engine starts."""
    hub = "wt" + uuid.uuid4().hex[:16]
    delivered: list[str] = []
    storage = TaskHubStorage(CONNECTION, hub)
    await storage.create_if_not_exists()
    if before is not None:
        await before(hub)
    worker: df.TaskHubWorker | None = None
    hosting: AzureHosting | None = None
    loop_task: asyncio.Task[None] | None = None
    try:
        if kind == "dispatcher":
            worker = df.TaskHubWorker.from_settings(app, _settings(hub))
            await worker.start()
            engine = worker
        else:
            hosting = AzureHosting(app, settings=_settings(hub), in_host=True)
            hosting.ensure_worker()
            assert await asyncio.to_thread(hosting.wait_ready, 30)
            engine = hosting.engine()[0]
            assert engine.activities._task is None  # the engine does not receive work items itself
            loop_task = asyncio.create_task(_host_loop(hosting, hub, delivered))
        # No in-process hand-over: every work item goes through the queue, on both sides.
        engine.activities.reserve = lambda: False
        yield hub, delivered
    finally:
        if loop_task is not None:
            loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await loop_task
        if hosting is not None:
            await asyncio.to_thread(hosting.stop)
        if worker is not None:
            await worker.stop()
        with contextlib.suppress(Exception):
            await storage.delete()
        await storage.close()


async def _run(hub: str, key: str) -> tuple[Any, list[str]]:
    async with df.DurableOrchestrationClient.from_connection_string(CONNECTION, hub_name=hub) as client:
        instance_id = await client.start_new("retrying", None, key)
        status = await client.wait_for_completion(instance_id, timeout=60)
        events = await client.get_history(instance_id)
    shape = [
        type(e).__name__
        for e in events
        if not isinstance(e, (h.OrchestratorStarted, h.OrchestratorCompleted))
    ]
    return status.output, shape


@pytest.mark.parametrize("kind", ["dispatcher", "trigger"])
async def test_results_and_retries_are_the_same_through_the_trigger(kind: str) -> None:
    async with _engine(kind) as (hub, delivered):
        key = f"{kind}-{uuid.uuid4().hex[:6]}"
        output, shape = await _run(hub, key)
    assert output == [f"{key} ok after 3", 42]
    assert attempts[key] == 3  # two failures retried by the orchestration, no extra run
    assert shape == [
        "ExecutionStarted",
        *itertools.chain.from_iterable([["TaskScheduled", "TaskFailed", "TimerCreated", "TimerFired"]] * 2),
        "TaskScheduled",
        "TaskCompleted",
        "TaskScheduled",
        "TaskCompleted",
        "ExecutionCompleted",
    ]
    if kind == "trigger":
        assert len(delivered) == 4  # flaky three times, double once: all through the trigger


async def _poison_record(kind: str, work_item: TaskMessage) -> dict[str, Any]:
    """Send ``work_item`` and receive it once without finishing it (its worker "died"), before the
    engine starts; then the engine (or the trigger) gets it a second time: with ``maxDequeueCount``
    1 it is set aside."""

    async def receive_once(hub: str) -> None:
        storage = TaskHubStorage(CONNECTION, hub)
        try:
            await storage.workitems.send(work_item)
            taken = await storage.workitems.receive(1, visibility_timeout=1)
            assert [m.dequeue_count for m in taken] == [1]
        finally:
            await storage.close()

    async with _engine(kind, before=receive_once) as (hub, _):
        storage = TaskHubStorage(CONNECTION, hub)
        try:
            for _ in range(300):
                records = await storage.poison.list()
                if records:
                    break
                await asyncio.sleep(0.1)
            assert len(records) == 1, records
            record = records[0]
            assert await storage.workitems.approximate_count() == 0
            return {
                "reason": record.reason,
                "queue": record.queue.replace(hub, "HUB"),
                "count": record.dequeue_count,
            }
        finally:
            await storage.close()


async def test_poison_is_the_same_through_the_trigger() -> None:
    work_item = TaskMessage(
        event=h.TaskScheduled(event_id=0, name="double", input=json.dumps(1)),
        instance_id="poison-" + uuid.uuid4().hex[:8],
        execution_id=uuid.uuid4().hex,
    )
    through_dispatcher = await _poison_record("dispatcher", work_item)
    through_trigger = await _poison_record("trigger", work_item)
    assert through_trigger == through_dispatcher
    assert through_trigger["count"] == 2
    assert "started 2 times" in through_trigger["reason"]
    assert through_trigger["queue"] == "HUB-workitems"
