"""Class entities (public methods = operations, attributes = state), Entity.create, and DFApp registration."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from typing import Any

import pytest

import durable_azure as df
from durable_azure.entities.classes import entity_function_for_class, operations_of
from durable_azure.entities.context import DurableEntityContext
from durable_azure.entities.executor import BatchResult, SchedulerState, run_batch
from durable_azure.entities.messages import OPERATION_EVENT, EntityRequest
from durable_azure.orchestration.history import EventRaised

NOW = datetime(2024, 5, 1, tzinfo=timezone.utc)


class Account:
    """A bank account entity."""

    def __init__(self) -> None:
        self.balance = 0
        self.history: list[int] = []

    def deposit(self, amount: int) -> int:
        self.balance += amount
        self.history.append(amount)
        return self.balance

    def withdraw(self, amount: int) -> int:
        self.balance -= amount
        self.history.append(-amount)
        if self.balance < 0:
            raise ValueError(f"insufficient funds: balance would be {self.balance}")
        return self.balance

    def get(self) -> int:
        return self.balance

    def GetHistory(self) -> list[int]:
        return list(self.history)

    def whoami(self) -> list[str]:
        ctx = self.entity_context  # type: ignore[attr-defined]
        return [ctx.entity_name, ctx.entity_key, ctx.operation_name]

    def close(self) -> None:
        self.entity_context.destruct_on_exit()  # type: ignore[attr-defined]

    def _audit(self) -> None:  # private: not an operation
        raise AssertionError("private methods are not operations")


ACCOUNT = df.EntityId("account", "acc-1")  # as the worker parses it from "@account@acc-1"


def call(operation: str, value: Any = None, *, id: str | None = None) -> EventRaised:
    request = EntityRequest(
        operation=operation,
        input=json.dumps(value) if value is not None else None,
        id=id or str(uuid.uuid4()),
        signal=False,
        parent="orch",
        parent_execution="e",
    )
    return EventRaised(name=OPERATION_EVENT, input=json.dumps(request.to_json()), timestamp=NOW)


def run(cls: type, events: list[EventRaised], scheduler: SchedulerState | None = None) -> BatchResult:
    return run_batch(entity_function_for_class(cls), ACCOUNT, scheduler or SchedulerState(), events, NOW)


def answers(result: BatchResult) -> dict[str, Any]:
    """Request id → result, or ('error', type, message) for failures."""
    out: dict[str, Any] = {}
    for message in result.outgoing:
        body = json.loads(message.event.input or "")
        if "exceptionType" in body:
            out[message.event.name] = ("error", body["exceptionType"], body["failureDetails"]["ErrorMessage"])
        else:
            out[message.event.name] = json.loads(body["result"]) if body.get("result") else None
    return out


def state(result: BatchResult) -> Any:
    return json.loads(result.scheduler.state or "null") if result.scheduler.exists else None


class TestClassEntities:
    def test_public_methods_are_the_operations(self) -> None:
        assert set(operations_of(Account)) == {"deposit", "withdraw", "get", "gethistory", "whoami", "close"}

    def test_new_entity_runs_init_and_attributes_become_the_state(self) -> None:
        result = run(Account, [call("deposit", 10, id="d"), call("get", id="g")])
        assert answers(result) == {"d": 10, "g": 10}
        assert state(result) == {"balance": 10, "history": [10]}

    def test_state_is_restored_from_attributes_in_later_batches(self) -> None:
        first = run(Account, [call("deposit", 10)])
        scheduler = SchedulerState.from_json(first.scheduler.to_json())
        second = run(Account, [call("deposit", 5, id="d"), call("GetHistory", id="h")], scheduler)
        assert answers(second) == {"d": 15, "h": [10, 5]}

    def test_operation_names_are_case_insensitive(self) -> None:
        result = run(Account, [call("DEPOSIT", 3, id="a"), call("gethistory", id="b"), call("Get", id="c")])
        assert answers(result) == {"a": 3, "b": [3], "c": 3}

    def test_unknown_operation_is_a_clear_error_listing_the_operations(self) -> None:
        result = run(Account, [call("deposit", 1), call("transfer", 5, id="t"), call("get", id="g")])
        kind, error_type, message = answers(result)["t"]
        assert (kind, error_type) == ("error", "AttributeError")
        assert "no operation 'transfer'" in message
        assert "deposit" in message and "withdraw" in message
        assert answers(result)["g"] == 1  # the entity keeps serving

    def test_private_methods_are_not_operations(self) -> None:
        result = run(Account, [call("_audit", id="p"), call("__init__", id="i")])
        assert answers(result)["p"][:2] == ("error", "AttributeError")
        assert answers(result)["i"][:2] == ("error", "AttributeError")

    def test_exception_rolls_back_attribute_changes(self) -> None:
        result = run(
            Account,
            [call("deposit", 10), call("withdraw", 25, id="w"), call("withdraw", 4, id="ok")],
        )
        assert answers(result)["w"] == ("error", "ValueError", "insufficient funds: balance would be -15")
        assert answers(result)["ok"] == 6
        assert state(result) == {"balance": 6, "history": [10, -4]}

    def test_entity_context_is_available_but_not_stored(self) -> None:
        result = run(Account, [call("whoami", id="w")])
        assert answers(result)["w"] == ["account", "acc-1", "whoami"]
        assert "entity_context" not in state(result)

    def test_destruct_on_exit_from_a_method(self) -> None:
        first = run(Account, [call("deposit", 10), call("close")])
        assert not first.scheduler.exists
        result = run(Account, [call("deposit", 10), call("close"), call("get", id="g")])
        assert answers(result)["g"] == 0  # a fresh account after the close

    def test_builtin_delete(self) -> None:
        first = run(Account, [call("deposit", 10)])
        result = run(Account, [call("delete")], SchedulerState.from_json(first.scheduler.to_json()))
        assert not result.scheduler.exists

    def test_non_json_attribute_fails_the_operation(self) -> None:
        class Bad:
            def __init__(self) -> None:
                self.n = 0

            def inc(self) -> int:
                self.n += 1
                return self.n

            def stamp(self) -> None:
                self.when = datetime.now(timezone.utc)

        result = run(Bad, [call("inc"), call("stamp", id="s"), call("inc", id="i")])
        assert answers(result)["s"][:2] == ("error", "SerializationError")
        assert answers(result)["i"] == 2 and state(result) == {"n": 2}

    def test_inherited_methods_are_operations(self) -> None:
        class Savings(Account):
            def add_interest(self, percent: int) -> int:
                self.balance += self.balance * percent // 100
                return self.balance

        result = run(Savings, [call("deposit", 200), call("add_interest", 10, id="i")])
        assert answers(result)["i"] == 220

    def test_method_without_parameters_ignores_the_input(self) -> None:
        result = run(Account, [call("deposit", 5), call("get", {"ignored": True}, id="g")])
        assert answers(result)["g"] == 5

    def test_non_dict_state_is_replaced_by_a_fresh_instance(self) -> None:
        # e.g. the entity was a function entity before and stored a plain number
        scheduler = SchedulerState(exists=True, state=json.dumps(41))
        result = run(Account, [call("deposit", 1, id="d")], scheduler)
        assert answers(result)["d"] == 1


# ============================================================================ registration
class TestRegistration:
    def test_entity_class_registers_under_the_lower_cased_class_name(self) -> None:
        app = df.DFApp()

        @app.entity_class
        class ShoppingCart:
            def __init__(self) -> None:
                self.items: list[str] = []

            def add(self, item: str) -> int:
                self.items.append(item)
                return len(self.items)

        assert ShoppingCart.__name__ == "ShoppingCart"  # the decorator returns the class itself
        registry = app.durable_registry()
        assert registry.entity("ShoppingCart") is registry.entity("shoppingcart") is not None
        fn = registry.entities["shoppingcart"]
        result = run_batch(
            fn, df.EntityId("ShoppingCart", "1"), SchedulerState(), [call("Add", "x", id="a")], NOW
        )
        assert answers(result) == {"a": 1}

    def test_entity_class_with_an_explicit_name(self) -> None:
        app = df.DFApp()

        @app.entity_class(entity_name="Wallet")
        class Purse:
            def __init__(self) -> None:
                self.coins = 0

        registry = app.durable_registry()
        assert registry.entity("wallet") is not None and registry.entity("purse") is None
        assert not app.get_functions()  # durable functions are not indexed by the Functions host

    def test_entity_trigger_registers_a_function_entity(self) -> None:
        app = df.DFApp()

        @app.entity_trigger(context_name="context")
        def Counter(context: DurableEntityContext) -> None:
            context.set_state(context.get_state(lambda: 0) + (context.get_input() or 1))

        @app.entity_trigger(context_name="context", entity_name="Other")
        def named(context: DurableEntityContext) -> None:
            context.set_result("other")

        registry = app.durable_registry()
        assert set(registry.entities) == {"counter", "other"}
        counter_fn = registry.entity("COUNTER")
        assert counter_fn is not None
        result = run_batch(counter_fn, df.EntityId("counter", "k"), SchedulerState(), [call("add", 4)], NOW)
        assert json.loads(result.scheduler.state or "") == 4

    def test_entity_create_v1_style(self) -> None:
        seen: list[str] = []

        def entity_function(context: DurableEntityContext) -> None:
            seen.append(context.operation_name)
            context.set_state(len(seen))

        main = df.Entity.create(entity_function)
        assert main.entity_function is entity_function  # type: ignore[attr-defined]
        result = run_batch(
            main.entity_function,  # type: ignore[attr-defined]
            df.EntityId("v1", "k"),
            SchedulerState(),
            [call("one"), call("two")],
            NOW,
        )
        assert seen == ["one", "two"] and json.loads(result.scheduler.state or "") == 2
        # calling the wrapper itself runs the function with the given context
        ctx = DurableEntityContext("v1", "k", False, None)
        ctx.begin_operation("three", None)
        main(ctx)
        assert seen[-1] == "three"

    def test_entity_create_registered_through_entity_trigger(self) -> None:
        def entity_function(context: DurableEntityContext) -> None:
            context.set_state("v1")

        app = df.DFApp()
        app.entity_trigger(context_name="context", entity_name="Legacy")(df.Entity.create(entity_function))
        fn = app.durable_registry().entity("legacy")
        assert fn is not None
        result = run_batch(fn, df.EntityId("legacy", "k"), SchedulerState(), [call("x")], NOW)
        assert json.loads(result.scheduler.state or "") == "v1"

    @pytest.mark.parametrize("name", ["Account", "account", "ACCOUNT"])
    def test_registry_lookup_is_case_insensitive(self, name: str) -> None:
        app = df.DFApp()
        app.entity_class(Account)
        assert app.durable_registry().entity(name) is not None


def test_v1_orchestrator_create_keeps_the_function_reachable() -> None:
    import durable_azure as df

    def orchestrator(context: object) -> None:
        return None

    handle = df.Orchestrator.create(orchestrator)
    assert handle.orchestrator_function is orchestrator  # type: ignore[attr-defined]
    with pytest.raises(TypeError, match=r"durable_azure\.testing"):
        handle(object())
