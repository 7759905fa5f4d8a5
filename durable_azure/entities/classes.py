"""Class-based entities and the v1 ``Entity.create`` wrapper.

A class entity is a plain class: its public methods are the operations and its instance
attributes (JSON-serializable) are the state::

    @app.entity_class
    class Account:
        def __init__(self) -> None:
            self.balance = 0

        def deposit(self, amount: int) -> int:
            self.balance += amount
            return self.balance

An operation's input is passed as the method's single argument (if it takes one); its return
value is the operation's result. ``self.entity_context`` is the current DurableEntityContext.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from .context import DurableEntityContext


def operations_of(cls: type) -> dict[str, Callable[..., Any]]:
    """Public methods of ``cls``, by lower-cased name (operation names are case-insensitive)."""
    return {
        name.lower(): member
        for name, member in inspect.getmembers(cls, predicate=inspect.isfunction)
        if not name.startswith("_")
    }


def entity_function_for_class(cls: type) -> Callable[[DurableEntityContext], None]:
    """An entity function that loads an instance of ``cls``, runs one method and saves its attributes."""
    operations = operations_of(cls)

    def run(context: DurableEntityContext) -> None:
        method = operations.get(context.operation_name.lower())
        if method is None:
            raise AttributeError(
                f"Entity '{context.entity_name}' ({cls.__name__}) has no operation '{context.operation_name}'; "
                f"operations: {', '.join(sorted(operations)) or 'none'}."
            )
        state = context.get_state()
        obj: Any = object.__new__(cls)
        if isinstance(state, dict):
            obj.__dict__.update(state)
        else:
            obj.__init__()
        obj.__dict__["entity_context"] = context
        takes_input = len(inspect.signature(method).parameters) > 1
        result = method(obj, context.get_input()) if takes_input else method(obj)
        attributes = {k: v for k, v in vars(obj).items() if k != "entity_context"}
        if not context.destructing:  # destruct_on_exit() in the method wins over saving attributes
            context.set_state(attributes)
        context.set_result(result)

    run.__name__ = cls.__name__
    run.entity_class = cls  # type: ignore[attr-defined]
    return run


class Orchestrator:
    """The v1 programming model: ``main = df.Orchestrator.create(orchestrator_function)``.

    The v1 loader (``functions/v1_app.py``) registers ``main.orchestrator_function`` under the
    function folder's name; ``main`` itself is not called (the worker replays the generator).
    """

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn

    @classmethod
    def create(cls, fn: Callable[..., Any]) -> Callable[[Any], Any]:
        def handle(context: Any) -> Any:
            raise TypeError(
                "v1 orchestrators run inside the durable-azure worker (serve/worker load function "
                "folders); to test one, run .orchestrator_function with durable_azure.testing."
            )

        handle.orchestrator_function = fn  # type: ignore[attr-defined]
        return handle


class Entity:
    """The v1 programming model: ``main = df.Entity.create(entity_function)``."""

    def __init__(self, fn: Callable[[DurableEntityContext], Any]) -> None:
        self.fn = fn

    @classmethod
    def create(cls, fn: Callable[[DurableEntityContext], Any]) -> Callable[[Any], Any]:
        def handle(context: Any) -> Any:
            return fn(context)

        handle.entity_function = fn  # type: ignore[attr-defined]
        return handle
