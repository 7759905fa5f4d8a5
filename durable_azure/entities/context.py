"""``DurableEntityContext``: what an entity function receives, one operation at a time."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..orchestration import limits, serialization
from ..orchestration.entity_id import EntityId


@dataclass(frozen=True, slots=True)
class OperationSnapshot:
    """What :meth:`DurableEntityContext.rollback` restores: state, existence and signals before an operation."""

    state: Any
    exists: bool
    signal_count: int


class DurableEntityContext:
    """The Durable Functions for Python entity API: state, input, result and signals for one operation."""

    def __init__(self, name: str, key: str, exists: bool, state_text: str | None) -> None:
        self._name = name
        self._key = key
        self._exists = exists
        self._state_text = state_text
        self._state: Any = None
        self._state_loaded = False
        self._operation: str | None = None
        self._input_text: str | None = None
        self._result: Any = None
        self._destruct = False
        self.signals: list[tuple[EntityId, str, str | None]] = []

    # ---- identity -----------------------------------------------------------------------
    @property
    def entity_name(self) -> str:
        return self._name

    @property
    def entity_key(self) -> str:
        return self._key

    @property
    def entity_id(self) -> EntityId:
        return EntityId(self._name, self._key)

    @property
    def operation_name(self) -> str:
        if self._operation is None:
            raise RuntimeError("No operation is being processed.")
        return self._operation

    @property
    def is_newly_constructed(self) -> bool:
        return not self._exists

    # ---- state --------------------------------------------------------------------------
    def get_state(
        self, initializer: Callable[[], Any] | None = None, expected_type: type | None = None
    ) -> Any:
        """The entity state; ``initializer()`` when the entity has none yet."""
        if not self._state_loaded:
            self._state = serialization.loads(self._state_text) if self._exists else None
            self._state_loaded = True
        if self._state is None and not self._exists:
            if initializer is None:
                return None
            if not callable(initializer):
                raise TypeError("initializer must be callable, e.g. get_state(lambda: 0)")
            return initializer()
        if expected_type is not None and isinstance(self._state, dict):
            from_json = getattr(expected_type, "from_json", None)
            if callable(from_json):
                return from_json(self._state)
        return self._state

    def set_state(self, state: Any) -> None:
        self._state = state
        self._state_loaded = True
        self._exists = True
        self._destruct = False

    def get_input(self, expected_type: type | None = None) -> Any:
        value = serialization.loads(self._input_text)
        if expected_type is not None and isinstance(value, dict):
            from_json = getattr(expected_type, "from_json", None)
            if callable(from_json):
                return from_json(value)
        return value

    def set_result(self, result: Any) -> None:
        self._result = result

    @property
    def destructing(self) -> bool:
        """True once ``destruct_on_exit()`` was called in the current operation."""
        return self._destruct

    def destruct_on_exit(self) -> None:
        """Delete the entity when this operation ends."""
        self._destruct = True

    def signal_entity(self, entity_id: EntityId, operation_name: str, operation_input: Any = None) -> None:
        """Send a one-way operation to another entity (delivered if this operation succeeds).

        The target id, operation name and input are checked here (limits:
        :mod:`durable_azure.orchestration.limits`), so a bad signal fails this operation at once.
        """
        limits.check_entity_id(entity_id)
        limits.check_name(operation_name, "operation name")
        payload = serialization.dumps(operation_input, what=f"input of entity operation '{operation_name}'")
        self.signals.append((entity_id, operation_name, payload))

    # ---- used by the batch executor -----------------------------------------------------
    @property
    def exists(self) -> bool:
        return self._exists

    @property
    def result(self) -> Any:
        """The value passed to ``set_result`` in the current operation (``None`` if none)."""
        return self._result

    def begin_operation(self, operation: str, input_text: str | None) -> OperationSnapshot:
        """Start ``operation`` with JSON ``input_text``; returns what :meth:`rollback` restores."""
        self._operation = operation
        self._input_text = input_text
        self._result = None
        self._destruct = False
        snapshot = copy.deepcopy(self.get_state()) if self._exists else None
        return OperationSnapshot(snapshot, self._exists, len(self.signals))

    def rollback(self, saved: OperationSnapshot) -> None:
        """Undo the current operation's state change, destruction and signals."""
        self._state, self._exists = saved.state, saved.exists
        self._state_loaded = True
        del self.signals[saved.signal_count :]
        self._destruct = False

    def end_operation(self) -> None:
        """Finish the current operation, deleting the entity if it asked to be destructed."""
        if self._destruct:
            self._exists = False
            self._state = None
            self._state_loaded = True
        self._operation = None

    def state_json(self) -> str | None:
        """The state as JSON (``None`` if the entity does not exist); raises if it is not serializable."""
        if not self._exists:
            return None
        if not self._state_loaded:
            return self._state_text
        return serialization.dumps(self._state, what=f"state of entity {self.entity_id}")
