"""Entity events classified by name as DTFx does: ``op``, ``op@<time>``, ``release``, ``continue``,
and durable-azure's old ``opbatch`` (still read); stamps from orchestrations go through the sorter."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import durable_azure as df
from durable_azure.client.signals import send_signal
from durable_azure.entities.context import DurableEntityContext
from durable_azure.entities.executor import SchedulerState, run_batch
from durable_azure.entities.messages import (
    OPERATION_BATCH_EVENT,
    adjusted_delivery,
    delivery_time,
    signal_event,
    signal_request,
    signal_request_json,
)
from durable_azure.orchestration.entity_request import EntityRequest
from durable_azure.orchestration.entity_sorter import MessageSorter
from durable_azure.orchestration.history import EventRaised, HistoryEvent
from durable_azure.orchestration.net_time import parse_ticks, ticks_of

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
COUNTER = df.EntityId("Counter", "k")


def counter(ctx: DurableEntityContext) -> None:
    value = ctx.get_state(lambda: 0)
    if ctx.operation_name == "add":
        ctx.set_state(value + ctx.get_input())
    elif ctx.operation_name == "get":
        ctx.set_result(value)


def event(name: str, payload: Any) -> EventRaised:
    return EventRaised(name=name, input=json.dumps(payload), timestamp=NOW)


def state(result_scheduler: SchedulerState) -> Any:
    return json.loads(result_scheduler.state or "null")


def test_scheduled_signal_name_and_due_are_dfs() -> None:
    due = NOW + timedelta(hours=1)
    sent = signal_request("add", 1, NOW, scheduled_time=due)
    assert sent.name == "op@2026-03-01T13:00:00.0000000Z"  # DTFx's ScheduledRequestMessageEventName ("o")
    body = json.loads(sent.input or "")
    assert list(body) == ["op", "signal", "input", "id", "due", "Timestamp", "Predecessor"]
    assert body["due"] == "2026-03-01T13:00:00Z" and body["Timestamp"] == "0001-01-01T00:00:00"
    assert delivery_time(sent.name) == due
    # further than 6 days: delivered in 3 days, and re-sent by the entity then (DF's Azure Storage provider)
    far = NOW + timedelta(days=10)
    assert adjusted_delivery(far, NOW) == NOW + timedelta(days=3)
    assert delivery_time(signal_request("add", 1, NOW, scheduled_time=far).name) == NOW + timedelta(days=3)
    assert (
        delivery_time("op") is None and delivery_time("opbatch") is None and delivery_time("op@junk") is None
    )


def test_a_scheduled_signal_runs_at_its_time_and_is_held_back_when_early() -> None:
    due = NOW + timedelta(minutes=5)
    early = signal_request("add", 2, NOW, scheduled_time=due)
    scheduler = SchedulerState()
    result = run_batch(counter, COUNTER, scheduler, [early], NOW)
    assert result.operations == 0 and not scheduler.exists
    ((again,),) = [[o for o in result.outgoing]]
    assert again.instance_id == COUNTER.instance_id and again.event.name == early.name  # back to itself
    assert json.loads(again.event.input or "")["id"] == json.loads(early.input or "")["id"]
    # on time (within DTFx's 100 ms): applied, once
    on_time = run_batch(counter, COUNTER, scheduler, [again.event], due - timedelta(milliseconds=50))
    assert on_time.operations == 1 and state(scheduler) == 2
    duplicate = run_batch(counter, COUNTER, scheduler, [again.event], due + timedelta(minutes=1))
    assert duplicate.operations == 0 and duplicate.duplicates == 1 and state(scheduler) == 2


def test_continue_and_unknown_names_are_no_ops() -> None:
    scheduler = SchedulerState()
    result = run_batch(counter, COUNTER, scheduler, [EventRaised(name="continue", timestamp=NOW)], NOW)
    assert result.operations == 0 and result.outgoing == []


def test_old_opbatch_messages_are_still_applied_in_order() -> None:
    requests = [signal_request_json("add", n) for n in (1, 2, 3)]
    batch = signal_event(requests, NOW)
    assert batch.name == OPERATION_BATCH_EVENT
    scheduler = SchedulerState()
    result = run_batch(counter, COUNTER, scheduler, [batch], NOW)
    assert result.operations == 3 and state(scheduler) == 6
    # a redelivered copy is recognised
    again = run_batch(counter, COUNTER, scheduler, [batch], NOW)
    assert again.operations == 0 and state(scheduler) == 6


def test_old_unstamped_requests_from_orchestrations_are_not_taken_for_duplicates() -> None:
    old = {"op": "add", "id": "r1", "input": "4", "signal": False, "parent": "o", "parentExecution": "e"}
    scheduler = SchedulerState()
    result = run_batch(counter, COUNTER, scheduler, [event("op", old)], NOW)
    assert result.operations == 1 and state(scheduler) == 4
    assert [o.event.name for o in result.outgoing] == ["r1"]


def test_orchestration_requests_are_ordered_and_deduplicated_by_their_stamps() -> None:
    orch = MessageSorter()
    sent = []
    for n in (1, 2, 3):
        request = EntityRequest("add", str(n), id=f"r{n}", signal=True, parent="o", parent_execution="e")
        orch.label_outgoing(request, COUNTER.instance_id, ticks_of(NOW))
        sent.append(event("op", request.to_json()))
    scheduler = SchedulerState()
    first = run_batch(counter, COUNTER, scheduler, [sent[1], sent[2]], NOW)  # r1 not here yet: both wait
    assert first.operations == 0 and scheduler.sorter.buffered_count == 2
    saved = json.loads(scheduler.to_json())["sorter"]["ReceivedFromInstance"]["o"]
    assert len(saved["Buffered"]) == 2 and saved["ExecutionId"] == "e"
    scheduler = SchedulerState.from_json(scheduler.to_json())  # the buffer survives a checkpoint
    log: list[str] = []

    def recording(ctx: DurableEntityContext) -> None:
        log.append(ctx.get_input())

    second = run_batch(recording, COUNTER, scheduler, [sent[0], sent[1]], NOW)
    assert log == [1, 2, 3] and second.operations == 3 and scheduler.sorter.buffered_count == 0


def test_entity_status_leaves_out_defaults_and_scheduler_state_keeps_the_sorter() -> None:
    empty = SchedulerState()
    assert empty.status_json() == "{}" and "entityExists" not in empty.status_json()
    assert json.loads(empty.to_json()) == {"sorter": {}}
    full = SchedulerState(exists=True, state="5", queue=[{"op": "x"}], locked_by="o")
    assert json.loads(full.status_json()) == {"entityExists": True, "queueSize": 1, "lockedBy": "o"}
    assert list(json.loads(full.to_json())) == ["exists", "state", "queue", "lockedBy", "sorter"]


def test_entity_to_entity_signals_are_stamped_per_destination() -> None:
    other = df.EntityId("Audit", "x")

    def fn(ctx: DurableEntityContext) -> None:
        ctx.signal_entity(other, "record", ctx.get_input())

    scheduler = SchedulerState()
    result = run_batch(
        fn, COUNTER, scheduler, [signal_request("a", 1, NOW), signal_request("a", 2, NOW)], NOW
    )
    first, second = (json.loads(o.event.input or "") for o in result.outgoing)
    assert first["parent"] == second["parent"] == COUNTER.instance_id
    assert (
        second["Predecessor"] == first["Timestamp"]
        and parse_ticks(second["Timestamp"]) == parse_ticks(first["Timestamp"]) + 1
    )
    assert json.loads(scheduler.to_json())["sorter"]["LastSentToInstance"] == {
        other.instance_id: second["Timestamp"]
    }


async def test_send_signal_hides_a_scheduled_signal_until_its_time() -> None:
    sent: list[tuple[str, HistoryEvent, float]] = []

    async def send(
        instance_id: str,
        event: HistoryEvent,
        execution_id: str | None = None,
        *,
        visibility_delay: float = 0.0,
    ) -> None:
        sent.append((instance_id, event, visibility_delay))

    due = datetime.now(timezone.utc) + timedelta(seconds=90)
    await send_signal(send, "@c@1", signal_request_json("add", 1, scheduled_time=due))
    await send_signal(send, "@c@1", signal_request_json("add", 1))
    (_, scheduled, delay), (_, plain, no_delay) = sent
    assert scheduled.name.startswith("op@") and 85 < delay <= 90  # type: ignore[attr-defined]
    assert plain.name == "op" and no_delay == 0.0  # type: ignore[attr-defined]


def test_a_queue_a_df_worker_left_unlocked_is_run_first() -> None:
    # DF queues requests past its batch size, suspends itself and sends "continue"
    left = {
        "exists": True,
        "state": "1",
        "queue": [signal_request_json("add", 2), signal_request_json("add", 3)],
        "suspended": True,
        "sorter": {},
    }
    scheduler = SchedulerState.from_json(json.dumps(left))
    result = run_batch(counter, COUNTER, scheduler, [EventRaised(name="continue", timestamp=NOW)], NOW)
    assert result.operations == 2 and state(scheduler) == 6 and scheduler.queue == []
    assert "suspended" not in json.loads(scheduler.to_json())


def test_queued_requests_of_the_lock_owner_at_the_front_run_while_locked() -> None:
    mine = EntityRequest("add", "5", parent="o", parent_execution="e").to_json()
    other = signal_request_json("add", 100)
    scheduler = SchedulerState(exists=True, state="0", queue=[mine, other], locked_by="o")
    result = run_batch(counter, COUNTER, scheduler, [], NOW)
    assert result.operations == 1 and state(scheduler) == 5 and scheduler.queue == [other]


def test_state_and_requests_written_before_the_dtfx_format_still_read() -> None:
    old = {
        "exists": True,
        "state": "1",
        "queue": [{"op": "add", "id": "q1", "input": "2", "signal": True, "sender": "@audit@x"}],
        "lockedBy": "o",
        "unconfirmed": [["a"]],
        "fromInstances": {"b": NOW.isoformat()},
    }
    scheduler = SchedulerState.from_json(json.dumps(old))
    assert scheduler.unconfirmed == [["a"]] and "b" in scheduler.from_instances
    queued = EntityRequest.from_json(scheduler.queue[0])
    assert queued.parent == "@audit@x" and queued.extra is None  # ``sender`` became DTFx's parent
    run_batch(counter, COUNTER, scheduler, [event("release", {"parent": "o", "id": "L"})], NOW)
    assert state(scheduler) == 3
    written = json.loads(scheduler.to_json())
    assert list(written)[:2] == ["exists", "state"] and "sorter" in written
