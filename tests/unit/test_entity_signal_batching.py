"""Client-side batching of entity signals, and the entity executor applying a batched message."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import pytest

from durable_azure.client.signals import MAX_SIGNALS_PER_MESSAGE, SignalBatcher
from durable_azure.entities.context import DurableEntityContext
from durable_azure.entities.executor import SchedulerState, run_batch
from durable_azure.entities.messages import (
    OPERATION_BATCH_EVENT,
    OPERATION_EVENT,
    signal_event,
    signal_request_json,
)
from durable_azure.orchestration import serialization
from durable_azure.orchestration.entity_id import EntityId
from durable_azure.orchestration.history import EventRaised, HistoryEvent

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)


def counter(context: DurableEntityContext) -> None:
    value = context.get_state(lambda: 0)
    if context.operation_name == "add":
        value += context.get_input()
    context.set_state(value)


def test_one_signal_is_a_plain_op_message_and_many_are_one_opbatch() -> None:
    one = signal_event([signal_request_json("add", 1)], NOW)
    many = signal_event([signal_request_json("add", n) for n in range(3)], NOW)
    assert one.name == OPERATION_EVENT and isinstance(serialization.loads(one.input), dict)
    assert many.name == OPERATION_BATCH_EVENT and len(serialization.loads(many.input)) == 3


def test_executor_applies_every_request_of_a_batched_message_once() -> None:
    requests = [signal_request_json("add", n) for n in (1, 2, 3)]
    event = signal_event(requests, NOW)
    scheduler = SchedulerState()
    result = run_batch(counter, EntityId("Counter", "k"), scheduler, [event], NOW)
    assert serialization.loads(result.scheduler.state) == 6 and result.operations == 3
    again = run_batch(counter, EntityId("Counter", "k"), result.scheduler, [event], NOW)
    assert serialization.loads(again.scheduler.state) == 6 and again.duplicates == 3


async def test_concurrent_signals_share_one_message_per_entity_and_keep_their_order() -> None:
    sent: list[tuple[str, HistoryEvent]] = []

    async def send(instance_id: str, event: HistoryEvent) -> None:
        sent.append((instance_id, event))

    batcher = SignalBatcher(send)
    await asyncio.gather(
        *(batcher.signal("@counter@a", signal_request_json("add", n)) for n in range(5)),
        batcher.signal("@counter@b", signal_request_json("add", 9)),
    )
    by_target = {target: event for target, event in sent}
    assert len(sent) == 2
    batch = by_target["@counter@a"]
    assert isinstance(batch, EventRaised) and batch.name == OPERATION_BATCH_EVENT
    assert [serialization.loads(r["input"]) for r in serialization.loads(batch.input)] == [0, 1, 2, 3, 4]
    assert by_target["@counter@b"].name == OPERATION_EVENT  # type: ignore[attr-defined]


async def test_large_bursts_are_split_into_bounded_messages() -> None:
    sent: list[HistoryEvent] = []

    async def send(instance_id: str, event: HistoryEvent) -> None:
        sent.append(event)

    batcher = SignalBatcher(send)
    total = MAX_SIGNALS_PER_MESSAGE * 2 + 1
    await asyncio.gather(*(batcher.signal("@c@k", signal_request_json("add", 1)) for _ in range(total)))
    sizes = [len(serialization.loads(e.input)) if e.name == OPERATION_BATCH_EVENT else 1 for e in sent]  # type: ignore[attr-defined]
    assert sizes == [MAX_SIGNALS_PER_MESSAGE, MAX_SIGNALS_PER_MESSAGE, 1]


async def test_a_failed_send_fails_every_signal_it_carried() -> None:
    async def send(instance_id: str, event: HistoryEvent) -> None:
        raise OSError("queue unavailable")

    batcher = SignalBatcher(send)
    results = await asyncio.gather(
        *(batcher.signal("@c@k", signal_request_json("add", 1)) for _ in range(3)), return_exceptions=True
    )
    assert all(isinstance(r, OSError) for r in results)


def test_non_json_input_is_rejected_before_anything_is_sent() -> None:
    with pytest.raises(TypeError):
        signal_request_json("add", object())
