"""DurableEntityContext (what an entity function sees), EntityId, and the orchestration's lock API."""

from __future__ import annotations

import json
import sys
from dataclasses import FrozenInstanceError, replace
from pathlib import Path
from typing import Any

import pytest

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)  # history_factory, importable under --import-mode=importlib

from history_factory import (  # noqa: E402
    INSTANCE_ID,
    Episodes,
    Point,
    at,
    entity_failure_response,
    entity_response,
    event_raised,
)

import durable_azure as df  # noqa: E402
from durable_azure.entities.context import DurableEntityContext, OperationSnapshot  # noqa: E402
from durable_azure.entities.executor import LOCK_ACQUIRED  # noqa: E402
from durable_azure.orchestration.history import (  # noqa: E402
    EventRaised,
    EventSent,
    ExecutionCompleted,
    OrchestrationStatus,
)


def context(
    exists: bool = False, state: Any = None, *, name: str = "counter", key: str = "k"
) -> DurableEntityContext:
    return DurableEntityContext(name, key, exists, json.dumps(state) if exists else None)


def begin(ctx: DurableEntityContext, operation: str, value: Any = None) -> OperationSnapshot:
    """What the executor does before calling the entity function."""
    return ctx.begin_operation(operation, json.dumps(value) if value is not None else None)


# ============================================================================ DurableEntityContext
class TestEntityContext:
    def test_identity(self) -> None:
        ctx = context(name="counter", key="Key-1")
        assert (ctx.entity_name, ctx.entity_key) == ("counter", "Key-1")
        assert ctx.entity_id == df.EntityId("counter", "Key-1")
        assert isinstance(ctx, df.DurableEntityContext)

    def test_operation_name_outside_an_operation_raises(self) -> None:
        ctx = context()
        with pytest.raises(RuntimeError, match="No operation"):
            _ = ctx.operation_name
        begin(ctx, "add", 1)
        assert ctx.operation_name == "add"
        ctx.end_operation()
        with pytest.raises(RuntimeError):
            _ = ctx.operation_name

    def test_get_input_decodes_json(self) -> None:
        ctx = context()
        begin(ctx, "add", {"amount": [1, 2]})
        assert ctx.get_input() == {"amount": [1, 2]}
        begin(ctx, "noinput")
        assert ctx.get_input() is None

    def test_get_input_with_expected_type(self) -> None:
        ctx = context()
        begin(ctx, "move", {"x": 1, "y": 2})
        assert ctx.get_input(Point) == Point(1, 2)

    def test_get_state_initializer_is_used_only_when_there_is_no_state(self) -> None:
        calls: list[int] = []

        def init() -> int:
            calls.append(1)
            return 100

        fresh = context()
        assert fresh.get_state(init) == 100 and calls == [1]
        assert fresh.get_state() is None  # no initializer, no state
        assert not fresh.exists  # reading does not create the entity

        existing = context(True, 5)
        assert existing.get_state(init) == 5 and calls == [1]

    def test_get_state_initializer_must_be_callable(self) -> None:
        with pytest.raises(TypeError, match="callable"):
            context().get_state(0)  # type: ignore[arg-type]
        assert context(True, 3).get_state(0) == 3  # type: ignore[arg-type]  # not consulted

    def test_explicit_none_state_is_not_replaced_by_the_initializer(self) -> None:
        ctx = context()
        ctx.set_state(None)
        assert ctx.exists
        assert ctx.get_state(lambda: 7) is None

    def test_get_state_with_expected_type(self) -> None:
        ctx = context(True, {"x": 3, "y": 4})
        assert ctx.get_state(expected_type=Point) == Point(3, 4)

    def test_set_state_marks_the_entity_existing(self) -> None:
        ctx = context()
        assert ctx.is_newly_constructed
        ctx.set_state({"n": 1})
        assert ctx.exists and ctx.get_state() == {"n": 1}
        assert json.loads(ctx.state_json() or "") == {"n": 1}

    def test_state_text_is_kept_verbatim_when_never_read(self) -> None:
        ctx = DurableEntityContext("c", "k", True, '{"b": 1,   "a": 2}')
        assert ctx.state_json() == '{"b": 1,   "a": 2}'

    def test_state_is_decoded_lazily_once(self) -> None:
        ctx = context(True, {"items": [1]})
        first = ctx.get_state()
        first["items"].append(2)  # same object on the next read within the batch
        assert ctx.get_state() == {"items": [1, 2]}

    def test_set_result(self) -> None:
        ctx = context()
        begin(ctx, "get")
        ctx.set_result([1, "two"])
        assert ctx.result == [1, "two"]
        begin(ctx, "next")
        assert ctx.result is None

    def test_destruct_on_exit_takes_effect_at_the_end_of_the_operation(self) -> None:
        ctx = context(True, 10)
        begin(ctx, "delete-me")
        ctx.destruct_on_exit()
        assert ctx.exists and ctx.get_state() == 10  # still there during the operation
        ctx.end_operation()
        assert not ctx.exists and ctx.state_json() is None
        assert ctx.get_state(lambda: "new") == "new"

    def test_rollback_restores_state_existence_and_signals(self) -> None:
        ctx = context(True, {"n": 1})
        ctx.signal_entity(df.EntityId("Other", "1"), "kept")
        saved = begin(ctx, "bad")
        ctx.get_state()["n"] = 99
        ctx.signal_entity(df.EntityId("Other", "1"), "dropped")
        ctx.destruct_on_exit()
        ctx.rollback(saved)
        ctx.end_operation()
        assert ctx.exists and ctx.get_state() == {"n": 1}
        assert [operation for _, operation, _ in ctx.signals] == ["kept"]

    def test_rollback_of_a_first_set_state(self) -> None:
        ctx = context()
        saved = begin(ctx, "create")
        ctx.set_state("x")
        ctx.rollback(saved)
        assert not ctx.exists and ctx.state_json() is None

    def test_signal_entity_records_the_target_operation_and_json_input(self) -> None:
        ctx = context()
        ctx.signal_entity(df.EntityId("Audit", "A"), "log", {"n": 1})
        ((target, operation, payload),) = ctx.signals
        assert target == df.EntityId("audit", "A") and operation == "log"
        assert json.loads(payload or "") == {"n": 1}

    def test_signal_entity_rejects_input_that_is_not_json(self) -> None:
        with pytest.raises(df.SerializationError):
            context().signal_entity(df.EntityId("Audit", "A"), "log", object())


# ============================================================================ EntityId
class TestEntityId:
    def test_instance_id_lower_cases_the_name_only(self) -> None:
        entity = df.EntityId("MyCounter", "Key-A")
        assert entity.instance_id == "@mycounter@Key-A"
        assert str(entity) == "@mycounter@Key-A"
        assert df.EntityId.get_scheduler_id(entity) == "@mycounter@Key-A"
        assert (entity.name, entity.key) == ("MyCounter", "Key-A")

    def test_frozen(self) -> None:
        entity = df.EntityId("c", "k")
        with pytest.raises(FrozenInstanceError):
            entity.key = "other"  # type: ignore[misc]

    def test_hashable_and_equal_by_instance_id(self) -> None:
        assert df.EntityId("Counter", "k") == df.EntityId("counter", "k")
        assert df.EntityId("counter", "k") != df.EntityId("counter", "K")
        assert df.EntityId("counter", "k") != "@counter@k"
        ids = {df.EntityId("Counter", "k"), df.EntityId("COUNTER", "k"), df.EntityId("counter", "j")}
        assert len(ids) == 2
        lookup = {df.EntityId("Counter", "k"): 1}
        assert lookup[df.EntityId("counter", "k")] == 1

    def test_parsing_splits_at_the_second_at_sign(self) -> None:
        parsed = df.EntityId.get_entity_id("@account@user@example.com")
        assert (parsed.name, parsed.key) == ("account", "user@example.com")
        assert parsed.instance_id == "@account@user@example.com"

    def test_round_trip(self) -> None:
        for entity in (df.EntityId("A", "1"), df.EntityId("x", "with space/slash")):
            assert df.EntityId.get_entity_id(entity.instance_id) == entity

    @pytest.mark.parametrize("text", ["counter", "counter@k", "@counter", "", "x@y@z"])
    def test_parsing_rejects_non_entity_ids(self, text: str) -> None:
        with pytest.raises(ValueError, match="entity"):
            df.EntityId.get_entity_id(text)

    @pytest.mark.parametrize(("name", "key"), [("", "k"), ("a@b", "k"), (None, "k"), ("c", 5)])
    def test_invalid_names_and_keys(self, name: Any, key: Any) -> None:
        with pytest.raises(ValueError):
            df.EntityId(name, key)

    def test_url_path_and_json(self) -> None:
        entity = df.EntityId("MyCounter", "k1")
        assert df.EntityId.get_entity_id_url_path(entity) == "entities/MyCounter/k1"
        assert entity.to_json() == {"name": "MyCounter", "key": "k1"}


# ============================================================================ orchestration lock API
A = df.EntityId("Account", "a")
B = df.EntityId("Account", "b")
C = df.EntityId("Account", "c")


def sent(result: Any) -> list[EventSent]:
    return [a for a in result.actions if isinstance(a, EventSent)]


def output(result: Any) -> Any:
    assert result.completion is not None, "orchestration did not complete"
    assert result.completion.status is OrchestrationStatus.Completed, result.completion
    return json.loads(result.completion.output) if result.completion.output else None


class TestOrchestrationLocks:
    def test_a_plain_lock_answer_as_dtfx_writes_it_acquires_the_lock(self) -> None:
        def orch(ctx: Any) -> Any:
            with (yield ctx.lock([A])):
                return ctx.is_locked

        eps = Episodes(orch)
        lock_id = json.loads(sent(eps.start())[0].input or "")["id"]
        plain = EventRaised(name=lock_id, input=json.dumps({"result": LOCK_ACQUIRED}), timestamp=at(1))
        assert output(eps.step(plain, timestamp=at(1))) is True

    def test_lock_sends_one_request_to_the_lowest_entity_of_the_sorted_set(self) -> None:
        def orch(ctx: Any) -> Any:
            with (yield ctx.lock([C, A, B, A])):
                pass

        (request_event,) = sent(Episodes(orch).start())
        assert request_event.instance_id == A.instance_id and request_event.name == "op"
        request = json.loads(request_event.input or "")
        assert request["lockset"] == [{"name": "account", "key": k} for k in ("a", "b", "c")]
        assert "pos" not in request and request["parent"] == INSTANCE_ID  # DF omits pos 0
        assert request["op"] is None  # a lock request has "op": null, as DF writes it
        assert not request.get("signal")

    def test_critical_section_calls_and_releases_every_locked_entity(self) -> None:
        def orch(ctx: Any) -> Any:
            assert not ctx.is_locked
            with (yield ctx.lock([B, A])) as held:
                assert ctx.is_locked
                assert held.instance_ids == [A.instance_id, B.instance_id]
                a = yield ctx.call_entity(A, "get")
                b = yield ctx.call_entity(B, "get")
            assert not ctx.is_locked
            return a + b

        eps = Episodes(orch)
        lock_id = json.loads(sent(eps.start())[0].input or "")["id"]
        r1 = eps.step(entity_response(lock_id, LOCK_ACQUIRED), timestamp=at(1))
        (call_a,) = sent(r1)
        assert call_a.instance_id == A.instance_id
        r2 = eps.step(entity_response(json.loads(call_a.input or "")["id"], 30), timestamp=at(2))
        (call_b,) = sent(r2)
        r3 = eps.step(entity_response(json.loads(call_b.input or "")["id"], 12), timestamp=at(3))
        releases = sent(r3)
        assert [(e.instance_id, e.name) for e in releases] == [
            (A.instance_id, "release"),
            (B.instance_id, "release"),
        ]
        for event in releases:
            assert json.loads(event.input or "") == {"parent": INSTANCE_ID, "id": lock_id}
        assert output(r3) == 42

    def test_locks_are_released_when_the_orchestration_completes_inside_the_section(self) -> None:
        def orch(ctx: Any) -> Any:
            yield ctx.lock([A, B])  # never leaves a `with` block
            return "done"

        eps = Episodes(orch)
        lock_id = json.loads(sent(eps.start())[0].input or "")["id"]
        final = eps.step(entity_response(lock_id, LOCK_ACQUIRED), timestamp=at(1))
        assert output(final) == "done"
        assert [(e.instance_id, e.name) for e in sent(final)] == [
            (A.instance_id, "release"),
            (B.instance_id, "release"),
        ]
        kinds = [type(e) for e in final.new_events]
        assert kinds.index(ExecutionCompleted) > max(i for i, k in enumerate(kinds) if k is EventSent)

    def test_locks_are_released_when_the_orchestration_fails(self) -> None:
        def orch(ctx: Any) -> Any:
            with (yield ctx.lock([A])):
                yield ctx.call_entity(A, "withdraw", 1000)
            return "unreachable"

        eps = Episodes(orch)
        lock_id = json.loads(sent(eps.start())[0].input or "")["id"]
        r1 = eps.step(entity_response(lock_id, LOCK_ACQUIRED), timestamp=at(1))
        call_id = json.loads(sent(r1)[0].input or "")["id"]
        final = eps.step(
            entity_failure_response(call_id, "ValueError", "insufficient funds"), timestamp=at(2)
        )
        assert final.completion is not None and final.completion.status is OrchestrationStatus.Failed
        assert [(e.instance_id, e.name) for e in sent(final)] == [(A.instance_id, "release")]

    def test_locks_are_released_when_the_orchestration_fails_outside_a_with_block(self) -> None:
        def orch(ctx: Any) -> Any:
            yield ctx.lock([A])
            raise RuntimeError("boom")

        eps = Episodes(orch)
        lock_id = json.loads(sent(eps.start())[0].input or "")["id"]
        final = eps.step(entity_response(lock_id, LOCK_ACQUIRED), timestamp=at(1))
        assert final.completion is not None and final.completion.status is OrchestrationStatus.Failed
        assert [(e.instance_id, e.name) for e in sent(final)] == [(A.instance_id, "release")]

    def test_locking_again_while_holding_locks_is_an_error(self) -> None:
        def orch(ctx: Any) -> Any:
            with (yield ctx.lock([A])):
                try:
                    ctx.lock([B])
                except RuntimeError as error:
                    return str(error)

        eps = Episodes(orch)
        lock_id = json.loads(sent(eps.start())[0].input or "")["id"]
        assert "already holds entity locks" in output(
            eps.step(entity_response(lock_id, LOCK_ACQUIRED), timestamp=at(1))
        )

    def test_lock_after_release_is_allowed(self) -> None:
        def orch(ctx: Any) -> Any:
            with (yield ctx.lock([A])):
                pass
            with (yield ctx.lock([B])):
                pass
            return "ok"

        eps = Episodes(orch)
        first_id = json.loads(sent(eps.start())[0].input or "")["id"]
        r1 = eps.step(entity_response(first_id, LOCK_ACQUIRED), timestamp=at(1))
        events = sent(r1)
        assert [(e.instance_id, e.name) for e in events] == [
            (A.instance_id, "release"),
            (B.instance_id, "op"),
        ]
        second_id = json.loads(events[1].input or "")["id"]
        assert second_id != first_id
        final = eps.step(entity_response(second_id, LOCK_ACQUIRED), timestamp=at(2))
        assert output(final) == "ok"
        assert [(e.instance_id, e.name) for e in sent(final)] == [(B.instance_id, "release")]

    def test_lock_needs_entities(self) -> None:
        def orch(ctx: Any) -> Any:
            try:
                ctx.lock([])
            except ValueError as error:
                return str(error)
            yield ctx.call_activity("never")

        assert "at least one" in output(Episodes(orch).start())

    def test_lock_rejects_non_entity_ids(self) -> None:
        def orch(ctx: Any) -> Any:
            yield ctx.lock(["@account@a"])

        result = Episodes(orch).start()
        assert result.completion is not None and result.completion.status is OrchestrationStatus.Failed
        assert "EntityId" in (result.completion.failure.error_message if result.completion.failure else "")

    def test_lock_replays_deterministically(self) -> None:
        def orch(ctx: Any) -> Any:
            with (yield ctx.lock([A, B])):
                value = yield ctx.call_entity(A, "get")
            yield ctx.wait_for_external_event("go")
            return value

        eps = Episodes(orch)
        lock_id = json.loads(sent(eps.start())[0].input or "")["id"]
        r1 = eps.step(entity_response(lock_id, LOCK_ACQUIRED), timestamp=at(1))
        call_id = json.loads(sent(r1)[0].input or "")["id"]
        r2 = eps.step(entity_response(call_id, 5), timestamp=at(2))
        assert [e.name for e in sent(r2)] == ["release", "release"]
        # a full replay of the history produces no new entity messages, only the completion
        final = eps.step(event_raised("go"), timestamp=at(3))
        assert output(final) == 5 and sent(final) == []


def test_a_history_durable_functions_wrote_is_answered_under_its_request_ids() -> None:
    """DF draws entity request ids at random; taking over its instance, the replayed call and lock
    await the answers under the ids DF recorded, not ours."""
    df_call = "5d1c3a4e-0000-4000-8000-00000000c411"
    df_lock = "5d1c3a4e-0000-4000-8000-0000000010c4"

    def orch(ctx: Any) -> Any:
        value = yield ctx.call_entity(df.EntityId("Counter", "k1"), "get")
        with (yield ctx.lock([A])):
            return value

    eps = Episodes(orch)
    first = eps.start()
    ((sent_call,),) = [sent(first)]
    recorded = json.loads(sent_call.input or "")
    assert recorded["id"] != df_call
    # rewrite the recorded request as DF wrote it: its own id and stamp
    df_request = (
        '{"op":"get","id":"'
        + df_call
        + '","parent":"'
        + INSTANCE_ID
        + '","parentExecution":"'
        + recorded["parentExecution"]
        + '","Timestamp":"2024-01-01T00:00:00Z","Predecessor":"0001-01-01T00:00:00"}'
    )
    eps.history = [e if not isinstance(e, EventSent) else replace(e, input=df_request) for e in eps.history]
    second = eps.step(entity_response(df_call, 41), timestamp=at(1))
    ((lock_sent,),) = [sent(second)]
    lock_request = json.loads(lock_sent.input or "")
    lock_request["id"] = df_lock
    eps.history = [
        e
        if not (isinstance(e, EventSent) and e.event_id == lock_sent.event_id)
        else replace(e, input=json.dumps(lock_request))
        for e in eps.history
    ]
    final = eps.step(
        EventRaised(name=df_lock, input='{"result":"Lock Acquisition Completed"}', timestamp=at(2)),
        timestamp=at(2),
    )
    assert output(final) == 41


def _as_written_before_stamps(request_json: str | None) -> str:
    """A request as durable-azure wrote it before DTFx's sorter stamps (``git show 4bfa65c``):
    ``op``, ``id``, ``input``, ``signal`` or ``lockset``/``pos``, ``parent``, no ``Timestamp``."""
    data = json.loads(request_json or "")
    old: dict[str, Any] = {"op": data.get("op"), "id": data["id"], "input": data.get("input")}
    if "lockset" in data:
        old.update(parent=data["parent"], parentExecution=data["parentExecution"])
        old.update(lockset=data["lockset"], pos=data.get("pos", 0))
    else:
        old.update(
            signal=bool(data.get("signal")), parent=data["parent"], parentExecution=data["parentExecution"]
        )
    return json.dumps(old, separators=(",", ":"))


def test_a_request_after_unstamped_ones_in_history_names_no_predecessor() -> None:
    """An instance in flight across the upgrade: its history holds the lock request and a call an
    older durable-azure sent without sorter stamps. The next call to the same entity must not name the
    stamp the replay computes for them as its ``Predecessor``: the entity never received that stamp
    and would hold the call back (for the 30-minute reorder window, or for ever), with the
    orchestration inside its critical section."""

    def orch(ctx: Any) -> Any:
        with (yield ctx.lock([A])):
            first = yield ctx.call_entity(A, "get")
            yield ctx.wait_for_external_event("go")
            second = yield ctx.call_entity(A, "get")
        return [first, second]

    eps = Episodes(orch)
    ((lock,),) = [sent(eps.start())]
    lock_id = json.loads(lock.input or "")["id"]
    old_lock_answer = '{"result":"\\"Lock Acquisition Completed\\""}'  # JSON-encoded, as it was
    ((call,),) = [
        sent(eps.step(EventRaised(name=lock_id, input=old_lock_answer, timestamp=at(1)), timestamp=at(1)))
    ]
    call_id = json.loads(call.input or "")["id"]
    eps.step(entity_response(call_id, 1), timestamp=at(2))
    eps.history = [
        replace(e, input=_as_written_before_stamps(e.input))
        if isinstance(e, EventSent) and e.name == "op"
        else e
        for e in eps.history
    ]
    after = eps.step(event_raised("go", None), timestamp=at(3))
    ((next_call,),) = [sent(after)]
    request = json.loads(next_call.input or "")
    assert request["op"] == "get"
    assert request["Predecessor"] == "0001-01-01T00:00:00", request
    final = eps.step(entity_response(request["id"], 2), timestamp=at(4))
    assert output(final) == [1, 2]
