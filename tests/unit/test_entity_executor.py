"""The pure entity batch executor: ordering, rollback, responses, signals, locks and de-duplication.

Everything here drives ``run_batch`` directly with hand-built ``EventRaised`` messages, exactly as
the dispatcher hands them over after a queue receive; no storage is involved.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from typing import Any

import pytest

import durable_azure as df
from durable_azure.entities.context import DurableEntityContext
from durable_azure.entities.executor import (
    LOCK_ACQUIRED,
    BatchResult,
    Outgoing,
    SchedulerState,
    run_batch,
)
from durable_azure.entities.messages import (
    OPERATION_EVENT,
    RELEASE_EVENT,
    EntityRequest,
    decode_entity_state,
    signal_request,
)
from durable_azure.orchestration.history import EventRaised

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
COUNTER = df.EntityId("Counter", "k1")
ORCH = "orch-1"
ORCH_EXEC = "exec-1"


# ---------------------------------------------------------------------------------- helpers
def op(
    operation: str,
    value: Any = None,
    *,
    id: str | None = None,
    call: bool = False,
    parent: str = ORCH,
    parent_execution: str = ORCH_EXEC,
) -> EventRaised:
    """An operation message: a signal by default, a call from ``parent`` with ``call=True``."""
    request = EntityRequest(
        operation=operation,
        input=json.dumps(value) if value is not None else None,
        id=id or str(uuid.uuid4()),
        signal=not call,
        parent=parent if call else None,
        parent_execution=parent_execution if call else None,
    )
    return EventRaised(name=OPERATION_EVENT, input=json.dumps(request.to_json()), timestamp=NOW)


def locked_op(operation: str, value: Any = None, *, parent: str, id: str | None = None) -> EventRaised:
    """A call from ``parent`` (e.g. an orchestration holding the lock)."""
    return op(operation, value, id=id, call=True, parent=parent, parent_execution=f"{parent}-exec")


def lock_request(
    lockset: list[df.EntityId], position: int, *, parent: str = ORCH, id: str = "lock-req-1"
) -> EventRaised:
    targets = sorted(e.instance_id for e in lockset)
    request = EntityRequest(
        operation="",
        input=None,
        id=id,
        signal=False,
        parent=parent,
        parent_execution=f"{parent}-exec",
        lockset=targets,
        position=position,
    )
    return EventRaised(name=OPERATION_EVENT, input=json.dumps(request.to_json()), timestamp=NOW)


def release(parent: str = ORCH, id: str = "lock-req-1") -> EventRaised:
    return EventRaised(name=RELEASE_EVENT, input=json.dumps({"parent": parent, "id": id}), timestamp=NOW)


def counter(ctx: DurableEntityContext) -> None:
    state = ctx.get_state(lambda: 0)
    name = ctx.operation_name
    if name == "add":
        ctx.set_state(state + ctx.get_input())
    elif name == "reset":
        ctx.set_state(0)
    elif name == "get":
        ctx.set_result(state)
    elif name == "fail":
        ctx.set_state(state + 1000)  # changed, then raises: must be rolled back
        raise ValueError(f"cannot do that at {state}")
    elif name == "destroy":
        ctx.destruct_on_exit()
    else:
        raise NotImplementedError(name)


def run(fn: Any, events: list[EventRaised], scheduler: SchedulerState | None = None) -> BatchResult:
    return run_batch(fn, COUNTER, scheduler or SchedulerState(), events, NOW)


def state_of(result: BatchResult) -> Any:
    assert result.scheduler.exists
    return json.loads(result.scheduler.state or "null")


def responses(result: BatchResult) -> dict[str, dict[str, Any]]:
    """Request id → response body, for responses sent to orchestrations."""
    return {
        out.event.name: json.loads(out.event.input or "null")
        for out in result.outgoing
        if out.event.name not in (OPERATION_EVENT, RELEASE_EVENT)
    }


def result_of(body: dict[str, Any]) -> Any:
    assert "exceptionType" not in body, body
    return json.loads(body["result"]) if body.get("result") is not None else None


def sent_requests(result: BatchResult) -> list[tuple[str, dict[str, Any]]]:
    return [
        (out.instance_id, json.loads(out.event.input or "null"))
        for out in result.outgoing
        if out.event.name == OPERATION_EVENT
    ]


# ============================================================================ ordering & state
class TestOperations:
    def test_operations_apply_in_arrival_order_in_one_batch(self) -> None:
        def log(ctx: DurableEntityContext) -> None:
            ctx.set_state([*ctx.get_state(list), f"{ctx.operation_name}:{ctx.get_input()}"])

        events = [op("a", 1), op("b", 2), op("c", 3), op("a", 4), op("z", 5)]
        result = run(log, events)
        assert state_of(result) == ["a:1", "b:2", "c:3", "a:4", "z:5"]
        assert result.operations == 5 and result.failed == 0

    def test_counter_add_reset_get(self) -> None:
        result = run(counter, [op("add", 5), op("add", 7), op("get", id="g1", call=True)])
        assert state_of(result) == 12
        assert result_of(responses(result)["g1"]) == 12
        result = run(counter, [op("reset"), op("add", 3), op("get", id="g2", call=True)], result.scheduler)
        assert state_of(result) == 3
        assert result_of(responses(result)["g2"]) == 3

    def test_state_persists_across_batches_through_json(self) -> None:
        first = run(counter, [op("add", 2)])
        # what the dispatcher stores and loads again
        reloaded = SchedulerState.from_json(first.scheduler.to_json())
        second = run(counter, [op("add", 40), op("get", id="g", call=True)], reloaded)
        assert result_of(responses(second)["g"]) == 42

    def test_signals_get_no_response_and_calls_get_one_addressed_to_the_caller(self) -> None:
        result = run(counter, [op("add", 1), op("get", id="call-1", call=True, parent_execution="e9")])
        assert len(result.outgoing) == 1
        (out,) = result.outgoing
        assert isinstance(out, Outgoing)
        assert (out.instance_id, out.execution_id, out.event.name) == (ORCH, "e9", "call-1")
        assert result_of(json.loads(out.event.input or "")) == 1

    def test_operation_without_set_result_answers_null(self) -> None:
        result = run(counter, [op("add", 1, id="c", call=True)])
        assert result_of(responses(result)["c"]) is None

    def test_set_result_value_is_the_response(self) -> None:
        def fn(ctx: DurableEntityContext) -> None:
            ctx.set_result({"op": ctx.operation_name, "echo": ctx.get_input(), "list": [1, 2]})

        result = run(fn, [op("hello", {"a": 1}, id="r", call=True)])
        assert result_of(responses(result)["r"]) == {"op": "hello", "echo": {"a": 1}, "list": [1, 2]}

    def test_result_is_reset_between_operations(self) -> None:
        def fn(ctx: DurableEntityContext) -> None:
            if ctx.operation_name == "set":
                ctx.set_result("from set")

        result = run(fn, [op("set", id="r1", call=True), op("other", id="r2", call=True)])
        assert result_of(responses(result)["r1"]) == "from set"
        assert result_of(responses(result)["r2"]) is None

    def test_entity_that_never_sets_state_does_not_exist(self) -> None:
        result = run(counter, [op("get", id="g", call=True)])
        assert result_of(responses(result)["g"]) == 0  # the initializer's value
        assert not result.scheduler.exists and result.scheduler.state is None
        assert decode_entity_state(result.scheduler.to_json()) == (False, None)

    def test_falsy_states_exist(self) -> None:
        for value in (0, "", [], {}, False, None):

            def fn(ctx: DurableEntityContext, value: Any = value) -> None:
                ctx.set_state(value)

            result = run(fn, [op("set")])
            assert result.scheduler.exists
            assert decode_entity_state(result.scheduler.to_json()) == (True, value)

    def test_unexpected_event_names_are_ignored(self) -> None:
        stray = EventRaised(name="something", input=json.dumps({"op": "add", "input": "5"}), timestamp=NOW)
        junk = EventRaised(name=OPERATION_EVENT, input=json.dumps([1, 2]), timestamp=NOW)
        result = run(counter, [stray, junk, op("add", 1)])
        assert state_of(result) == 1 and result.operations == 1


# ============================================================================ failures
class TestFailures:
    def test_failure_rolls_back_only_its_own_change_and_later_operations_apply(self) -> None:
        events = [op("add", 5), op("fail", id="f", call=True), op("add", 10), op("get", id="g", call=True)]
        result = run(counter, events)
        assert state_of(result) == 15
        assert result_of(responses(result)["g"]) == 15
        assert result.operations == 4 and result.failed == 1

    def test_error_response_carries_the_original_type_and_message(self) -> None:
        result = run(counter, [op("add", 2), op("fail", id="f", call=True)])
        body = responses(result)["f"]
        assert body["exceptionType"] == "ValueError"
        assert json.loads(body["result"]) == "cannot do that at 2"
        details = body["failureDetails"]
        assert details["ErrorType"] == "ValueError"
        assert details["ErrorMessage"] == "cannot do that at 2"
        assert "ValueError: cannot do that at 2" in details["StackTrace"]
        assert "counter" in details["StackTrace"]  # the user function's frame

    def test_in_place_mutation_of_the_state_is_rolled_back(self) -> None:
        def fn(ctx: DurableEntityContext) -> None:
            state = ctx.get_state(lambda: {"items": [], "n": 0})
            state["items"].append(ctx.get_input())
            state["n"] += 1
            ctx.set_state(state)
            if ctx.get_input() == "bad":
                raise KeyError("bad item")

        result = run(fn, [op("push", "a"), op("push", "bad"), op("push", "c")])
        assert state_of(result) == {"items": ["a", "c"], "n": 2}
        assert result.failed == 1

    def test_failure_of_the_first_operation_of_a_new_entity_leaves_it_nonexistent(self) -> None:
        result = run(counter, [op("fail", id="f", call=True)])
        assert not result.scheduler.exists and result.scheduler.state is None
        assert responses(result)["f"]["exceptionType"] == "ValueError"

    def test_failure_after_destruct_on_exit_keeps_the_entity(self) -> None:
        def fn(ctx: DurableEntityContext) -> None:
            if ctx.operation_name == "init":
                ctx.set_state("alive")
            else:
                ctx.destruct_on_exit()
                raise RuntimeError("changed my mind")

        result = run(fn, [op("init"), op("kill")])
        assert state_of(result) == "alive"

    def test_a_signal_that_fails_only_logs(self, caplog: pytest.LogCaptureFixture) -> None:
        result = run(counter, [op("fail"), op("add", 1)])
        assert result.outgoing == [] and state_of(result) == 1
        assert "ValueError" in caplog.text and "cannot do that at 0" in caplog.text

    def test_result_that_is_not_json_fails_the_operation_and_rolls_back(self) -> None:
        def fn(ctx: DurableEntityContext) -> None:
            ctx.set_state(ctx.get_state(lambda: 0) + 1)
            if ctx.operation_name == "weird":
                ctx.set_result(object())

        result = run(fn, [op("inc"), op("weird", id="w", call=True), op("inc")])
        assert state_of(result) == 2
        body = responses(result)["w"]
        assert body["exceptionType"] == "SerializationError"
        assert "result of entity operation 'weird'" in body["failureDetails"]["ErrorMessage"]

    def test_state_that_is_not_json_fails_the_operation_and_rolls_back(self) -> None:
        def fn(ctx: DurableEntityContext) -> None:
            if ctx.operation_name == "weird":
                ctx.set_state({"when": datetime.now(timezone.utc)})
            else:
                ctx.set_state("fine")

        result = run(fn, [op("ok"), op("weird", id="w", call=True)])
        assert state_of(result) == "fine"
        assert responses(result)["w"]["exceptionType"] == "SerializationError"

    def test_async_entity_function_is_a_clear_error(self) -> None:
        async def fn(ctx: DurableEntityContext) -> None:
            ctx.set_state(1)

        result = run(fn, [op("x", id="x", call=True)])
        body = responses(result)["x"]
        assert body["exceptionType"] == "TypeError"
        assert "not async def" in body["failureDetails"]["ErrorMessage"]
        assert not result.scheduler.exists

    def test_unknown_entity_answers_every_call_with_a_clear_error(self) -> None:
        result = run(None, [op("add", 1), op("get", id="g", call=True)])
        body = responses(result)["g"]
        assert body["exceptionType"] == "FunctionNotFoundError"
        message = body["failureDetails"]["ErrorMessage"]
        assert "no entity named 'counter'" in message.lower() and "entity_trigger" in message
        assert not result.scheduler.exists
        assert result.failed == 2


# ============================================================================ deletion
class TestDeletion:
    def test_destruct_on_exit_deletes_at_the_end_of_the_operation(self) -> None:
        result = run(counter, [op("add", 5), op("destroy")])
        assert not result.scheduler.exists and result.scheduler.state is None
        assert decode_entity_state(result.scheduler.to_json()) == (False, None)
        assert result.scheduler.status_json() == "{}"  # DTFx omits entityExists when false

    def test_state_after_destruct_starts_from_the_initializer(self) -> None:
        result = run(counter, [op("add", 5), op("destroy"), op("add", 2), op("get", id="g", call=True)])
        assert result_of(responses(result)["g"]) == 2
        assert state_of(result) == 2

    def test_set_state_after_destruct_in_the_same_operation_keeps_the_entity(self) -> None:
        def fn(ctx: DurableEntityContext) -> None:
            ctx.destruct_on_exit()
            ctx.set_state("reborn")

        assert state_of(run(fn, [op("x")])) == "reborn"

    def test_builtin_delete_operation(self) -> None:
        first = run(counter, [op("add", 9)])
        result = run(counter, [op("delete", id="d", call=True)], first.scheduler)
        assert not result.scheduler.exists and result.scheduler.state is None
        assert result_of(responses(result)["d"]) is None

    def test_builtin_delete_does_not_call_the_function(self) -> None:
        calls: list[str] = []

        def fn(ctx: DurableEntityContext) -> None:
            calls.append(ctx.operation_name)
            ctx.set_state(1)

        result = run(fn, [op("set"), op("delete")])
        assert calls == ["set"] and not result.scheduler.exists

    def test_builtin_delete_works_for_an_unregistered_entity(self) -> None:
        scheduler = SchedulerState(exists=True, state=json.dumps(5))
        result = run(None, [op("delete", id="d", call=True)], scheduler)
        assert not result.scheduler.exists and result.failed == 0


# ============================================================================ entity-to-entity signals
class TestOutgoingSignals:
    def test_signals_from_an_entity_become_operation_messages(self) -> None:
        other = df.EntityId("Audit", "Log-1")

        def fn(ctx: DurableEntityContext) -> None:
            ctx.set_state(ctx.get_input())
            ctx.signal_entity(other, "record", {"from": ctx.entity_key, "value": ctx.get_input()})

        result = run(fn, [op("set", 7)])
        ((target, request),) = sent_requests(result)
        assert target == "@audit@Log-1"
        out = result.outgoing[0]
        assert out.execution_id is None  # auto-starts the target entity
        assert request["op"] == "record" and request["signal"] is True
        assert json.loads(request["input"]) == {"from": "k1", "value": 7}
        # DTFx: the sending entity is the parent (no execution id), stamped by its message sorter
        assert request["parent"] == COUNTER.instance_id and "parentExecution" not in request
        assert (
            request["Timestamp"].startswith("2024-05-01T12:00:00")
            and request["Predecessor"] == "0001-01-01T00:00:00"
        )
        assert set(responses(result)) == set()  # a signal is not answered
        uuid.UUID(request["id"])

    def test_signals_of_a_failed_operation_are_not_sent(self) -> None:
        other = df.EntityId("Audit", "x")

        def fn(ctx: DurableEntityContext) -> None:
            ctx.signal_entity(other, ctx.operation_name)
            if ctx.operation_name == "bad":
                raise RuntimeError("no")

        result = run(fn, [op("good1"), op("bad"), op("good2")])
        assert [request["op"] for _, request in sent_requests(result)] == ["good1", "good2"]

    def test_signals_keep_the_order_they_were_made_in(self) -> None:
        targets = [df.EntityId("T", str(i)) for i in range(3)]

        def fn(ctx: DurableEntityContext) -> None:
            for target in targets:
                ctx.signal_entity(target, "ping", ctx.get_input())

        result = run(fn, [op("go", 1), op("go", 2)])
        sent = [(target, json.loads(request["input"])) for target, request in sent_requests(result)]
        assert sent == [(t.instance_id, n) for n in (1, 2) for t in targets]

    def test_rerunning_a_batch_sends_signals_with_the_same_request_ids(self) -> None:
        def fn(ctx: DurableEntityContext) -> None:
            ctx.signal_entity(df.EntityId("Counter", "target"), "add", ctx.get_input())

        events = [op("forward", 1, id="in-1"), op("forward", 2, id="in-2")]
        first = run(fn, events, SchedulerState())
        again = run(fn, events, SchedulerState())  # same input state: the checkpoint never happened
        ids_first = [request["id"] for _, request in sent_requests(first)]
        ids_again = [request["id"] for _, request in sent_requests(again)]
        assert len(ids_first) == 2 and ids_first == ids_again

    def test_signal_with_an_input_that_is_not_json_fails_the_operation(self) -> None:
        def fn(ctx: DurableEntityContext) -> None:
            ctx.set_state(1)
            ctx.signal_entity(df.EntityId("T", "1"), "ping", object())

        result = run(fn, [op("go", id="g", call=True)])
        assert responses(result)["g"]["exceptionType"] == "SerializationError"
        assert sent_requests(result) == [] and not result.scheduler.exists


# ============================================================================ locks
A = df.EntityId("Account", "a")
B = df.EntityId("Account", "b")
C = df.EntityId("Account", "c")


def run_on(entity: df.EntityId, fn: Any, events: list[EventRaised], scheduler: SchedulerState) -> BatchResult:
    return run_batch(fn, entity, scheduler, events, NOW)


class TestLocks:
    def test_lock_request_hops_through_the_sorted_lock_set_and_the_last_answers(self) -> None:
        lockset = [C, A, B]  # the orchestration sorts; the executor follows the order it is given
        states = {e: SchedulerState() for e in (A, B, C)}

        first = run_on(A, counter, [lock_request(lockset, 0, id="L")], states[A])
        assert states[A].locked_by == ORCH
        ((target, hop),) = sent_requests(first)
        assert target == B.instance_id
        assert hop["id"] == "L" and hop["pos"] == 1 and hop["parent"] == ORCH
        assert "signal" not in hop
        assert hop["lockset"] == [{"name": "account", "key": k} for k in ("a", "b", "c")]
        assert first.outgoing[0].execution_id is None
        assert responses(first) == {}

        hop_event = first.outgoing[0].event
        second = run_on(B, counter, [hop_event], states[B])
        assert states[B].locked_by == ORCH
        ((target, hop2),) = sent_requests(second)
        assert target == C.instance_id and hop2["pos"] == 2

        third = run_on(C, counter, [second.outgoing[0].event], states[C])
        assert states[C].locked_by == ORCH
        assert sent_requests(third) == []
        ((out),) = third.outgoing
        assert (out.instance_id, out.execution_id, out.event.name) == (ORCH, f"{ORCH}-exec", "L")
        assert json.loads(out.event.input or "") == {
            "result": LOCK_ACQUIRED
        }  # plain string, as DTFx writes it

    def test_single_entity_lock_answers_at_once(self) -> None:
        scheduler = SchedulerState()
        result = run_on(A, counter, [lock_request([A], 0, id="L")], scheduler)
        assert scheduler.locked_by == ORCH
        assert responses(result)["L"] == {"result": LOCK_ACQUIRED}
        assert json.loads(scheduler.status_json()) == {"lockedBy": ORCH}

    def test_lock_does_not_create_the_entity(self) -> None:
        scheduler = SchedulerState()
        run_on(A, counter, [lock_request([A], 0)], scheduler)
        assert not scheduler.exists
        assert SchedulerState.from_json(scheduler.to_json()).locked_by == ORCH

    def test_requests_from_others_wait_while_locked_and_run_in_order_after_release(self) -> None:
        def log(ctx: DurableEntityContext) -> None:
            ctx.set_state([*ctx.get_state(list), ctx.get_input()])
            ctx.set_result(len(ctx.get_state()))

        scheduler = SchedulerState()
        run_on(A, log, [lock_request([A], 0)], scheduler)
        result = run_on(
            A,
            log,
            [
                op("x", "signal-1"),
                locked_op("x", "other-call", parent="orch-2", id="o2"),
                locked_op("x", "owner-1", parent=ORCH, id="w1"),
                op("x", "signal-2"),
                locked_op("x", "owner-2", parent=ORCH, id="w2"),
            ],
            scheduler,
        )
        assert state_of(result) == ["owner-1", "owner-2"]
        assert set(responses(result)) == {"w1", "w2"}  # the other caller is not answered yet
        assert len(scheduler.queue) == 3
        assert json.loads(scheduler.status_json())["queueSize"] == 3

        # the queue survives a checkpoint
        scheduler = SchedulerState.from_json(scheduler.to_json())
        assert scheduler.locked_by == ORCH and len(scheduler.queue) == 3

        after = run_on(A, log, [release(), op("x", "signal-3")], scheduler)
        assert state_of(after) == ["owner-1", "owner-2", "signal-1", "other-call", "signal-2", "signal-3"]
        assert scheduler.locked_by is None and scheduler.queue == []
        assert result_of(responses(after)["o2"]) == 4
        after_status = json.loads(scheduler.status_json())
        assert after_status == {"entityExists": True}

    def test_release_by_someone_else_is_ignored(self) -> None:
        scheduler = SchedulerState()
        run_on(A, counter, [lock_request([A], 0)], scheduler)
        run_on(A, counter, [op("add", 1)], scheduler)
        result = run_on(A, counter, [release(parent="intruder")], scheduler)
        assert scheduler.locked_by == ORCH and len(scheduler.queue) == 1
        assert result.outgoing == []

    def test_release_of_an_unlocked_entity_is_harmless(self) -> None:
        scheduler = SchedulerState(exists=True, state="3")
        result = run_on(A, counter, [release(), op("add", 1)], scheduler)
        assert state_of(result) == 4 and scheduler.locked_by is None

    def test_a_queued_lock_request_takes_over_at_release_and_requeues_the_rest(self) -> None:
        scheduler = SchedulerState()
        run_on(A, counter, [lock_request([A], 0, parent=ORCH, id="L1")], scheduler)
        waiting = run_on(
            A,
            counter,
            [
                lock_request([A, B], 0, parent="orch-2", id="L2"),
                op("add", 1),
                locked_op("add", 10, parent="orch-2", id="o2-add"),
            ],
            scheduler,
        )
        assert waiting.outgoing == [] and len(scheduler.queue) == 3

        handover = run_on(A, counter, [release(parent=ORCH, id="L1")], scheduler)
        assert scheduler.locked_by == "orch-2"
        # the lock travels on to B; orch-2's own call runs; the signal waits for orch-2's release
        assert [target for target, _ in sent_requests(handover)] == [B.instance_id]
        assert result_of(responses(handover)["o2-add"]) is None
        assert state_of(handover) == 10
        assert [EntityRequest.from_json(q).operation for q in scheduler.queue] == ["add"]

        final = run_on(A, counter, [release(parent="orch-2", id="L2")], scheduler)
        assert state_of(final) == 11 and scheduler.locked_by is None

    def test_two_orchestrations_locking_overlapping_sets_cannot_deadlock(self) -> None:
        """Both start at the lowest entity of their sorted sets, so the second waits at A, holding nothing."""
        states = {e: SchedulerState() for e in (A, B)}
        # orch-1 locks [B, A] and orch-2 locks [A, B]: both sets sort to [A, B]
        r1 = run_on(A, counter, [lock_request([B, A], 0, parent="orch-1", id="L1")], states[A])
        r2 = run_on(A, counter, [lock_request([A, B], 0, parent="orch-2", id="L2")], states[A])
        assert r2.outgoing == [] and states[B].locked_by is None  # orch-2 holds nothing while it waits
        done1 = run_on(B, counter, [r1.outgoing[0].event], states[B])
        assert "L1" in responses(done1)
        # orch-1 releases both; orch-2 then gets A, hops to B and is answered
        run_on(B, counter, [release("orch-1", "L1")], states[B])
        hop = run_on(A, counter, [release("orch-1", "L1")], states[A])
        assert states[A].locked_by == "orch-2"
        done2 = run_on(B, counter, [hop.outgoing[0].event], states[B])
        assert states[B].locked_by == "orch-2" and "L2" in responses(done2)

    def test_failed_operation_inside_a_critical_section_keeps_the_lock(self) -> None:
        scheduler = SchedulerState()
        run_on(A, counter, [lock_request([A], 0)], scheduler)
        result = run_on(A, counter, [locked_op("fail", parent=ORCH, id="f")], scheduler)
        assert responses(result)["f"]["exceptionType"] == "ValueError"
        assert scheduler.locked_by == ORCH


# ============================================================================ duplicates
class TestDuplicates:
    def test_the_same_request_twice_in_one_batch_applies_once(self) -> None:
        event = op("add", 5, id="dup")
        result = run(counter, [event, event, op("add", 1)])
        assert state_of(result) == 6
        assert result.duplicates == 1 and result.operations == 2

    def test_a_redelivered_request_is_not_applied_again_in_the_next_batches(self) -> None:
        first_batch = [op("add", 1, id="r1"), op("add", 2, id="r2")]
        first = run(counter, first_batch)
        # the worker died after the checkpoint but before deleting the messages: they come back
        scheduler = SchedulerState.from_json(first.scheduler.to_json())
        second = run(counter, [*first_batch, op("add", 10, id="r3")], scheduler)
        assert state_of(second) == 13 and second.duplicates == 2
        # ... and once more, one batch later
        scheduler = SchedulerState.from_json(second.scheduler.to_json())
        third = run(counter, [first_batch[1], op("add", 100, id="r4")], scheduler)
        assert state_of(third) == 113 and third.duplicates == 1

    def test_a_request_redelivered_after_several_later_batches_is_not_applied_again(self) -> None:
        original = op("add", 1, id="late")
        scheduler = run(counter, [original]).scheduler
        for n in range(3):  # other messages that were visible sooner are processed meanwhile
            scheduler = run(counter, [op("add", 10, id=f"other-{n}")], scheduler).scheduler
        result = run(counter, [original], scheduler)
        assert state_of(result) == 31 and result.duplicates == 1

    def test_ids_of_a_batch_are_forgotten_once_its_messages_are_confirmed_deleted(self) -> None:
        first = run(counter, [op("add", 1, id="a"), op("add", 1, id="b")])
        assert first.applied == ["a", "b"]
        second = run(counter, [op("add", 1, id="c")], first.scheduler)
        assert first.scheduler.seen("a") and first.scheduler.seen("c")
        second.scheduler.confirm(first.applied)  # the dispatcher: every delete of that batch succeeded
        assert not second.scheduler.seen("a") and not second.scheduler.seen("b")
        assert second.scheduler.seen("c")  # not confirmed yet
        assert json.loads(second.scheduler.to_json())["unconfirmed"] == [["c"]]

    def test_a_redelivered_call_is_not_answered_twice(self) -> None:
        call = op("add", 1, id="c1", call=True)
        first = run(counter, [call])
        second = run(counter, [call], SchedulerState.from_json(first.scheduler.to_json()))
        assert len(first.outgoing) == 1 and second.outgoing == []

    def test_a_redelivered_lock_request_does_not_hop_twice(self) -> None:
        scheduler = SchedulerState()
        event = lock_request([A, B], 0, id="L")
        first = run_on(A, counter, [event], scheduler)
        again = run_on(A, counter, [event], scheduler)
        assert len(first.outgoing) == 1 and again.outgoing == []

    def test_queued_requests_count_as_seen(self) -> None:
        scheduler = SchedulerState()
        run_on(A, counter, [lock_request([A], 0)], scheduler)
        add = op("add", 1, id="q1")
        run_on(A, counter, [add], scheduler)
        run_on(A, counter, [add], scheduler)  # redelivered while still queued
        result = run_on(A, counter, [release()], scheduler)
        assert state_of(result) == 1


# ============================================================================ scheduler state & messages
class TestSchedulerStateAndMessages:
    def test_scheduler_state_json_round_trip(self) -> None:
        scheduler = SchedulerState(
            exists=True,
            state=json.dumps({"n": 1}),
            queue=[{"op": "add", "id": "x", "input": "1", "signal": True}],
            locked_by="orch-9",
            unconfirmed=[["a", "b"], ["c"]],
        )
        text = scheduler.to_json()
        data = json.loads(text)
        assert data["exists"] is True and json.loads(data["state"]) == {"n": 1}
        assert data["lockedBy"] == "orch-9" and data["queue"][0]["op"] == "add"
        assert SchedulerState.from_json(text) == scheduler

    def test_nonexistent_entity_has_no_state_key(self) -> None:
        data = json.loads(SchedulerState().to_json())
        assert data == {"sorter": {}}  # as the DF extension writes an empty scheduler
        assert SchedulerState.from_json(None) == SchedulerState()
        assert SchedulerState.from_json("not json at all") == SchedulerState()

    def test_dtfx_scheduler_state_without_exists_reads_existence_from_state(self) -> None:
        # Core writes `state` only when the entity exists (no `exists` field before DF 2.x)
        text = json.dumps({"state": json.dumps(5), "queue": [], "sorter": {}})
        scheduler = SchedulerState.from_json(text)
        assert scheduler.exists and json.loads(scheduler.state or "") == 5
        assert decode_entity_state(text) == (True, 5)
        assert decode_entity_state(json.dumps({"sorter": {}})) == (False, None)
        assert decode_entity_state(None) == (False, None)

    def test_status_json_has_the_fields_df_clients_read(self) -> None:
        scheduler = SchedulerState(exists=True, state="1", queue=[{}, {}], locked_by="o")
        assert json.loads(scheduler.status_json()) == {"entityExists": True, "queueSize": 2, "lockedBy": "o"}
        assert '"entityExists"' in scheduler.status_json()  # DF's substring check

    def test_client_signal_request_format(self) -> None:
        event = signal_request("add", {"amount": 3}, NOW)
        assert event.name == OPERATION_EVENT and event.timestamp == NOW
        request = json.loads(event.input or "")
        assert request["op"] == "add" and request["signal"] is True
        assert json.loads(request["input"]) == {"amount": 3}
        assert "parent" not in request and "lockset" not in request
        uuid.UUID(request["id"])
        assert json.loads(signal_request("add", 1, NOW).input or "")["id"] != request["id"]

    def test_entity_request_round_trip_and_lockset_names(self) -> None:
        data = {
            "op": "",
            "id": "L",
            "parent": "o",
            "parentExecution": "e",
            "lockset": [{"name": "Account", "key": "A"}, {"name": "account", "key": "b"}],
            "pos": 1,
        }
        request = EntityRequest.from_json(data)
        assert request.is_lock_request and not request.signal
        assert request.lockset == ["@account@A", "@account@b"]  # names lower-cased, keys kept
        assert request.position == 1
        again = EntityRequest.from_json(request.to_json())
        assert again.to_json() == request.to_json() and again.operation == ""  # "op": null
        plain = EntityRequest.from_json({"op": "add", "signal": True, "input": "1", "id": "s"})
        assert not plain.is_lock_request and plain.signal and plain.parent is None
        assert EntityRequest.from_json(plain.to_json()) == plain
