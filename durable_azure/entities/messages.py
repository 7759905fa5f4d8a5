"""Entity messages and state in the DurableTask layout (reference §7).

Operations arrive as ``EventRaised`` events named ``op`` whose input is a request JSON
(``op``, ``signal``, ``input``, ``id``, ``parent``, ``parentExecution``, ``lockset``, ``pos``);
responses to orchestrations are ``EventRaised`` events named with the request id. The entity's
state lives in the Instances row ``Input`` as the scheduler-state JSON (``exists``, ``state``,
``queue``, ``lockedBy``); ``CustomStatus`` holds ``{"entityExists", "queueSize", "lockedBy"}``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..orchestration import serialization
from ..orchestration.history import EventRaised

OPERATION_EVENT = "op"
# Several client signals to one entity in one message (a JSON array of requests): a durable-azure
# addition that saves a queue message, and its delete, per signal.
OPERATION_BATCH_EVENT = "opbatch"
RELEASE_EVENT = "release"


@dataclass
class EntityRequest:
    """One operation (or lock request) sent to an entity."""

    operation: str
    input: str | None = None
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    signal: bool = True
    parent: str | None = None
    parent_execution: str | None = None
    lockset: list[str] | None = None
    position: int = 0
    sender: str | None = None  # the entity that signalled, for signals between entities

    @property
    def from_instance(self) -> bool:
        """Sent by an orchestration or an entity (which may re-send it after a crash), not by a client."""
        return bool(self.parent or self.sender)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EntityRequest:
        lockset = data.get("lockset")
        return cls(
            operation=str(data.get("op") or ""),
            input=data.get("input"),
            id=str(data.get("id") or uuid.uuid4()),
            signal=bool(data.get("signal", False)),
            parent=data.get("parent"),
            parent_execution=data.get("parentExecution"),
            lockset=[_lock_target(item) for item in lockset] if lockset else None,
            position=int(data.get("pos") or 0),
            sender=data.get("sender"),
        )

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"op": self.operation, "id": self.id, "input": self.input}
        if self.signal:
            data["signal"] = True
        if self.parent:
            data["parent"] = self.parent
            data["parentExecution"] = self.parent_execution
        if self.lockset is not None:
            data["lockset"] = [_lock_json(item) for item in self.lockset]
            data["pos"] = self.position
        if self.sender:
            data["sender"] = self.sender
        return data

    @property
    def is_lock_request(self) -> bool:
        return self.lockset is not None


def _lock_target(item: Any) -> str:
    if isinstance(item, dict):
        return f"@{str(item.get('name', '')).lower()}@{item.get('key', '')}"
    return str(item)


def _lock_json(instance_id: str) -> dict[str, str]:
    name, key = instance_id[1:].split("@", 1)
    return {"name": name, "key": key}


def signal_request_json(operation: str, operation_input: Any) -> dict[str, Any]:
    """A client's signal request (raises SerializationError for inputs that are not JSON)."""
    payload = serialization.dumps(operation_input, what=f"input of entity operation '{operation}'")
    return EntityRequest(operation, payload).to_json()


def signal_event(requests: list[dict[str, Any]], now: datetime) -> EventRaised:
    """One message carrying one signal (``op``, the DTFx form) or several (``opbatch``)."""
    if len(requests) == 1:
        return EventRaised(name=OPERATION_EVENT, input=serialization.dumps(requests[0]), timestamp=now)
    return EventRaised(name=OPERATION_BATCH_EVENT, input=serialization.dumps(requests), timestamp=now)


def signal_request(operation: str, operation_input: Any, now: datetime) -> EventRaised:
    """The event a client sends to signal an entity."""
    return signal_event([signal_request_json(operation, operation_input)], now)


def decode_entity_state(scheduler_state: str | None) -> tuple[bool, Any]:
    """(exists, state) from the Instances row ``Input`` of an entity."""
    data = serialization.loads(scheduler_state)
    if not isinstance(data, dict):
        return False, None
    exists = bool(data.get("exists", "state" in data))
    return exists, serialization.loads(data.get("state")) if exists else None
