"""TaskHubQueue and the poison store against Azurite: request counts, delays, blobs, poison, abandon."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import pytest

from durable_azure.orchestration import history as h
from durable_azure.storage.clients import StorageClients
from durable_azure.storage.messages import TaskMessage, encode_message, large_message_blob_name
from durable_azure.storage.naming import control_queue_name
from durable_azure.storage.payloads import PayloadStore
from durable_azure.storage.poison import PoisonRecord, PoisonStore
from durable_azure.storage.queues import ReceivedMessage, TaskHubQueue

T = TypeVar("T")


async def wait_until(probe: Callable[[], Awaitable[T]], timeout: float = 15.0, interval: float = 0.1) -> T:
    """Poll ``probe`` until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if value or time.monotonic() > deadline:
            return value
        await asyncio.sleep(interval)


@dataclass
class Env:
    clients: StorageClients
    queue: TaskHubQueue
    poison: PoisonStore
    payloads: PayloadStore

    def counts(self) -> dict[str, int]:
        return self.clients.counter.snapshot()

    async def records(self) -> list[PoisonRecord]:
        """Every poison record, bodies included."""
        found = [await self.poison.get(r.message_id) for r in await self.poison.list()]
        return [r for r in found if r is not None]


@pytest.fixture
async def env(azurite: str, hub_name: str) -> AsyncIterator[Env]:
    clients = StorageClients(azurite)
    payloads = PayloadStore(clients, hub_name)
    poison = PoisonStore(clients, hub_name, payloads)
    queue = TaskHubQueue(clients, control_queue_name(hub_name, 0), payloads, poison)
    await queue.create()
    clients.counter.reset()
    try:
        yield Env(clients, queue, poison, payloads)
    finally:
        await clients.queues.delete_queue(queue.name)
        await poison.delete_table()
        try:
            await clients.blobs.delete_container(payloads.container_name)
        except Exception:
            pass
        await clients.close()


def started(instance_id: str = "order-42", input: str | None = '{"n":1}') -> TaskMessage:
    event = h.ExecutionStarted(name="Hello", instance_id=instance_id, execution_id="e1", input=input)
    return TaskMessage(event, instance_id, "e1")


async def test_send_receive_delete_request_counts(env: Env) -> None:
    msg = started()
    await env.queue.send(msg)
    assert env.counts() == {"queue.send": 1}

    env.clients.counter.reset()
    received = await env.queue.receive()
    assert env.counts() == {"queue.receive": 1}
    assert len(received) == 1
    r = received[0]
    assert r.message.event == msg.event and r.message.instance_id == "order-42"
    assert r.message.sequence_number > 0  # assigned on send
    assert r.queue_name == env.queue.name and r.dequeue_count == 1 and r.inserted_on is not None

    env.clients.counter.reset()
    assert await env.queue.delete(r) is True
    assert env.counts() == {"queue.delete": 1}
    assert await env.queue.delete(r) is False  # already gone: not an error

    env.clients.counter.reset()
    assert await env.queue.receive() == []
    assert env.counts() == {"queue.receive": 1}


async def test_receive_is_one_request_for_a_batch_and_ordered(env: Env) -> None:
    for i in range(5):
        await env.queue.send(started(f"i{i}"))
    env.clients.counter.reset()
    received = await env.queue.receive(max_messages=32)
    assert env.counts() == {"queue.receive": 1}
    assert [r.message.instance_id for r in received] == [f"i{i}" for i in range(5)]
    seqs = [r.message.sequence_number for r in received]
    assert seqs == sorted(seqs)

    env.clients.counter.reset()
    await asyncio.gather(*(env.queue.delete(r) for r in received))
    assert env.counts() == {"queue.delete": 5}


async def test_receive_respects_max_messages(env: Env) -> None:
    for i in range(3):
        await env.queue.send(started(f"i{i}"))
    env.clients.counter.reset()
    first = await env.queue.receive(max_messages=2)
    assert len(first) == 2 and env.counts() == {"queue.receive": 1}
    rest = await env.queue.receive(max_messages=2)
    assert len(rest) == 1


async def test_visibility_delay(env: Env) -> None:
    t0 = time.monotonic()
    await env.queue.send(started(), visibility_delay=2)
    assert await env.queue.receive() == []
    assert await env.queue.approximate_count() == 1
    received = await wait_until(env.queue.receive, timeout=15)
    assert len(received) == 1
    assert time.monotonic() - t0 >= 1.5


async def test_delay_over_seven_days_is_rejected_without_a_request(env: Env) -> None:
    with pytest.raises(ValueError, match="7-day"):
        await env.queue.send(started(), visibility_delay=7 * 24 * 3600 + 1)
    assert env.counts() == {}
    await env.queue.send(started(), visibility_delay=7 * 24 * 3600)  # exactly 7 days is allowed
    assert env.counts() == {"queue.send": 1}


async def test_large_message_goes_through_a_blob(env: Env) -> None:
    big = json.dumps("x" * 100_000)
    msg = started(input=big)
    await env.queue.send(msg)
    counts = env.counts()
    assert counts["queue.send"] == 1 and counts["blob.upload"] >= 1

    # what is on the queue is the DTFx wrapper naming the blob
    raw = await env.clients.queues.get_queue_client(env.queue.name).peek_messages(max_messages=1)
    wrapper = json.loads(raw[0].content)
    blob_name = large_message_blob_name(msg)
    assert wrapper["TaskMessage"] is None and wrapper["CompressedBlobName"] == blob_name
    assert blob_name.startswith("order-42/message-") and blob_name.endswith("-ExecutionStarted.json.gz")
    stored = json.loads(await env.payloads.download(blob_name))
    assert stored["CompressedBlobName"] == blob_name and stored["TaskMessage"] is not None

    env.clients.counter.reset()
    received = await env.queue.receive()
    assert env.counts() == {"queue.receive": 1, "blob.download": 1}
    assert len(received) == 1
    back = received[0].message
    assert back.event == msg.event and back.event.input == big  # type: ignore[attr-defined]
    assert back.activity_id == msg.activity_id


async def test_message_just_under_the_limit_stays_inline(env: Env) -> None:
    small = started(input=json.dumps("y" * 40_000))
    await env.queue.send(small)
    assert env.counts() == {"queue.send": 1}


async def test_corrupt_message_goes_to_poison_and_does_not_block(env: Env) -> None:
    raw_queue = env.clients.queues.get_queue_client(env.queue.name)
    await raw_queue.send_message("this is {not json")
    good = started()
    await env.queue.send(good)

    received = await env.queue.receive()
    assert [r.message.event for r in received] == [good.event]

    records = await wait_until(env.records)
    assert len(records) == 1
    record = records[0]
    assert record.queue == env.queue.name
    assert record.body == "this is {not json"
    assert "neither JSON nor base64" in record.reason
    assert record.dequeue_count == 1 and record.message_id and record.set_aside_at is not None
    assert await env.poison.count() == 1

    await env.queue.delete(received[0])
    assert await env.queue.approximate_count() == 0  # the corrupt one was removed, not hidden


async def test_wrapper_whose_blob_is_missing_goes_to_poison(env: Env) -> None:
    raw_queue = env.clients.queues.get_queue_client(env.queue.name)
    wrapper = {
        "$type": "DurableTask.AzureStorage.MessageData",
        "ActivityId": "00000000-0000-0000-0000-000000000000",
        "TaskMessage": None,
        "CompressedBlobName": "nobody/message-x-EventRaised.json.gz",
        "SequenceNumber": 0,
    }
    await raw_queue.send_message(json.dumps(wrapper))
    assert await env.queue.receive() == []
    records = await env.records()
    assert len(records) == 1 and "does not exist" in records[0].reason


async def test_body_nested_too_deep_goes_to_poison(env: Env) -> None:
    """json.loads raises RecursionError (not ValueError) on it; that is corruption, not a transient error."""
    body = "[" * 30_000 + "]" * 30_000
    await env.clients.queues.get_queue_client(env.queue.name).send_message(body)
    assert await env.queue.receive() == []
    (record,) = await env.records()
    assert "RecursionError" in record.reason and record.body == body
    assert await env.queue.approximate_count() == 0


@pytest.mark.parametrize(
    "reference", ["../../x", "/etc/passwd", "a/./b.json.gz", "x\\..\\y", "ok/" + "n" * 1100]
)
async def test_large_message_reference_that_is_no_blob_name_goes_to_poison(env: Env, reference: str) -> None:
    wrapper = {
        "$type": "DurableTask.AzureStorage.MessageData",
        "ActivityId": "00000000-0000-0000-0000-000000000000",
        "TaskMessage": None,
        "CompressedBlobName": reference,
        "SequenceNumber": 0,
    }
    await env.clients.queues.get_queue_client(env.queue.name).send_message(json.dumps(wrapper))
    assert await env.queue.receive() == []
    (record,) = await env.records()
    assert "large-message reference" in record.reason
    assert "blob.download" not in env.counts()  # never asked for


async def test_base64_body_from_a_v1_writer_is_read(env: Env) -> None:
    msg = TaskMessage(h.EventRaised(name="approval", input="true"), "order-42", None)
    body = base64.b64encode(encode_message(msg).encode("utf-8")).decode("ascii")
    await env.clients.queues.get_queue_client(env.queue.name).send_message(body)
    received = await env.queue.receive()
    assert [r.message for r in received] == [msg]


async def test_abandon_makes_a_message_reappear(env: Env) -> None:
    await env.queue.send(started())
    (first,) = await env.queue.receive()
    env.clients.counter.reset()
    await env.queue.abandon(first, 0)
    assert env.counts() == {"queue.update": 1}
    (again,) = await wait_until(env.queue.receive)
    assert again.message_id == first.message_id and again.dequeue_count == 2
    assert again.message == first.message  # content unchanged by the visibility update

    await env.queue.abandon(again, 2)
    assert await env.queue.receive() == []
    (third,) = await wait_until(env.queue.receive)
    assert third.dequeue_count == 3


async def test_delete_with_a_stale_pop_receipt_returns_false(env: Env) -> None:
    await env.queue.send(started())
    (first,) = await env.queue.receive(visibility_timeout=1)
    second: list[ReceivedMessage] = await wait_until(env.queue.receive)
    assert second[0].message_id == first.message_id
    assert await env.queue.delete(first) is False
    await env.queue.abandon(first, 0)  # stale: tolerated, no error
    assert await env.queue.delete(second[0]) is True


async def test_send_creates_a_missing_queue(azurite: str, hub_name: str) -> None:
    async with StorageClients(azurite) as clients:
        payloads = PayloadStore(clients, hub_name)
        queue = TaskHubQueue(clients, f"{hub_name.lower()}-workitems", payloads, None)
        try:
            await queue.send(started())
            assert await queue.approximate_count() == 1
        finally:
            await clients.queues.delete_queue(queue.name)


async def test_long_corrupt_body_is_kept_whole_in_a_blob(env: Env) -> None:
    body = "not json " * 4000  # 36,000 chars: more than a table property holds (UTF-16)
    await env.clients.queues.get_queue_client(env.queue.name).send_message(body)
    assert await env.queue.receive() == []
    (listed,) = await env.poison.list()
    assert (
        listed.body is None and listed.body_blob_name == f"poison/{env.queue.name}/{listed.message_id}.txt.gz"
    )
    record = await env.poison.get(listed.message_id)
    assert record is not None and record.body == body
    await env.poison.delete(record)
    assert await env.poison.list() == [] and await env.poison.get(listed.message_id) is None
    assert record.body_blob_name not in [b.name async for b in env.payloads._container.list_blobs()]


async def test_recording_the_same_message_twice_keeps_one_record(env: Env) -> None:
    """A worker that died between the record and the delete records the message again: one row."""
    for reason in ("first try", "second try"):
        await env.poison.put(
            queue=env.queue.name, message_id="m-1", reason=reason, body="{}", dequeue_count=2
        )
    (record,) = await env.records()
    assert record.reason == "second try" and record.body == "{}"
    assert await env.poison.count() == 1
