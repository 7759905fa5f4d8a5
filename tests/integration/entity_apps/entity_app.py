"""The function app the entity integration tests run (in the test process or in a worker process).

Function entities ``Counter``, ``SlowCounter``, ``Forwarder``; class entity ``Account``; and
orchestrations that call, signal and lock them.
"""

from __future__ import annotations

import os
import time
from typing import Any

import durable_azure as df

app = df.DFApp()


# ---------------------------------------------------------------------------------- entities
@app.entity_trigger(context_name="context")
def Counter(context: df.DurableEntityContext) -> None:
    """A counter: ``add``, ``reset``, ``get``; ``tally`` keeps {"count", "sum"}; ``fail`` raises."""
    state = context.get_state(lambda: 0)
    operation = context.operation_name
    if operation == "add":
        state += context.get_input()
        context.set_state(state)
        context.set_result(state)
    elif operation == "reset":
        context.set_state(0)
    elif operation == "get":
        context.set_result(state)
    elif operation == "fail":
        context.set_state(state + 1000)  # rolled back: the operation raises below
        raise ValueError(f"Counter refuses: state is {state}")
    else:
        raise NotImplementedError(f"Counter has no operation {operation!r}")


@app.entity_trigger(context_name="context")
def Tally(context: df.DurableEntityContext) -> None:
    """Counts signals and sums their inputs, so a lost or doubled signal shows in ``count`` and ``sum``."""
    state = context.get_state(lambda: {"count": 0, "sum": 0})
    if context.operation_name == "add":
        state["count"] += 1
        state["sum"] += context.get_input()
        context.set_state(state)
    context.set_result(state)


#: Set in worker processes of the kill tests: SlowCounter prints ``APPLY <count>`` for every ``add``.
TRACE = os.environ.get("ENTITY_APP_TRACE") == "1"


@app.entity_trigger(context_name="context")
def SlowCounter(context: df.DurableEntityContext) -> None:
    """``add`` that takes a little CPU time, so a batch is in progress long enough to be killed."""
    state = context.get_state(lambda: {"count": 0, "sum": 0})
    if context.operation_name == "add":
        time.sleep(0.01)
        state["count"] += 1
        state["sum"] += context.get_input()
        context.set_state(state)
        if TRACE:
            print(f"APPLY {state['count']}", flush=True)
    context.set_result(state)


@app.entity_trigger(context_name="context")
def Forwarder(context: df.DurableEntityContext) -> None:
    """Counts what it forwards and signals ``Counter(<input.key>).add(<input.amount>)``."""
    request = context.get_input()
    context.set_state(context.get_state(lambda: 0) + 1)
    context.signal_entity(df.EntityId("Counter", request["key"]), "add", request["amount"])


@app.entity_class
class Account:
    """A bank account; ``withdraw`` refuses to go below zero."""

    def __init__(self) -> None:
        self.balance = 0

    def deposit(self, amount: int) -> int:
        self.balance += amount
        return self.balance

    def withdraw(self, amount: int) -> int:
        if amount > self.balance:
            raise ValueError(f"insufficient funds: {self.balance} < {amount}")
        self.balance -= amount
        return self.balance

    def get(self) -> int:
        return self.balance


# ---------------------------------------------------------------------------------- orchestrations
@app.orchestration_trigger(context_name="context")
def counter_script(context: df.DurableOrchestrationContext) -> Any:
    """Run ``[[operation, input], ...]`` against Counter(<key>) with call_entity; return every result."""
    data = context.get_input()
    entity = df.EntityId("Counter", data["key"])
    results = []
    for operation, value in data["ops"]:
        results.append((yield context.call_entity(entity, operation, value)))
    return results


@app.orchestration_trigger(context_name="context")
def call_and_catch(context: df.DurableOrchestrationContext) -> Any:
    """Call ``data.op`` on ``data.name``/``data.key``; return the result or the failure's type and message."""
    data = context.get_input()
    entity = df.EntityId(data["name"], data["key"])
    try:
        result = yield context.call_entity(entity, data["op"], data.get("input"))
    except df.EntityOperationFailedError as error:
        return {"error_type": error.error_type, "message": error.message, "text": str(error)}
    return {"result": result}


@app.orchestration_trigger(context_name="context")
def call_unchecked(context: df.DurableOrchestrationContext) -> Any:
    data = context.get_input()
    return (yield context.call_entity(df.EntityId(data["name"], data["key"]), data["op"], data.get("input")))


@app.orchestration_trigger(context_name="context")
def account_class_calls(context: df.DurableOrchestrationContext) -> Any:
    key = context.get_input()
    account = df.EntityId("Account", key)
    first = yield context.call_entity(account, "Deposit", 70)
    second = yield context.call_entity(account, "withdraw", 20)
    return [first, second, (yield context.call_entity(account, "get"))]


@app.orchestration_trigger(context_name="context")
def transfer(context: df.DurableOrchestrationContext) -> Any:
    """Move ``amount`` from one account to another inside a critical section (if funds allow)."""
    data = context.get_input()
    source = df.EntityId("Account", data["from"])
    target = df.EntityId("Account", data["to"])
    with (yield context.lock([source, target])):
        assert context.is_locked
        source_balance = yield context.call_entity(source, "get")
        target_balance = yield context.call_entity(target, "get")
        amount = min(data["amount"], source_balance)
        if amount > 0:
            # the balances read above cannot change before these two calls: both accounts are locked
            after_source = yield context.call_entity(source, "withdraw", amount)
            after_target = yield context.call_entity(target, "deposit", amount)
            assert after_source == source_balance - amount, (after_source, source_balance, amount)
            assert after_target == target_balance + amount, (after_target, target_balance, amount)
    assert not context.is_locked
    return amount


@app.orchestration_trigger(context_name="context")
def hold_lock(context: df.DurableOrchestrationContext) -> Any:
    """Lock the given accounts, report that, and wait for ``release`` (or fail on ``explode``)."""
    keys = context.get_input()
    with (yield context.lock([df.EntityId("Account", k) for k in keys])):
        context.set_custom_status("locked")
        command = yield context.wait_for_external_event("release")
        if command == "explode":
            raise RuntimeError("exploded inside the critical section")
    return "released"


@app.orchestration_trigger(context_name="context")
def signal_from_orchestration(context: df.DurableOrchestrationContext) -> Any:
    data = context.get_input()
    for _ in range(data["times"]):
        context.signal_entity(df.EntityId("Counter", data["key"]), "add", 1)
    return "sent"


@app.entity_trigger(context_name="context")
def Document(context: df.DurableEntityContext) -> None:
    """A text document: ``set``, ``append``, ``length``, ``get``."""
    text = context.get_state(str)
    operation = context.operation_name
    if operation == "set":
        context.set_state(context.get_input())
    elif operation == "append":
        context.set_state(text + context.get_input())
    elif operation == "length":
        context.set_result(len(text))
    else:
        context.set_result(text)
