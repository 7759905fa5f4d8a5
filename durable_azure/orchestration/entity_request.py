"""The entity request message (pure): what orchestrations, entities and clients send to an entity.

Its JSON is DTFx's ``RequestMessage`` (``op``, ``signal``, ``input``, ``id``, ``parent``,
``parentExecution``, ``lockset``, ``pos``) plus ``sender`` for signals between entities. It lives in
the replay core because orchestrations build requests too; ``entities/`` interprets them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from . import serialization


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
        if self.lockset is None:  # an operation says whether it is a one-way signal; a lock request does not
            data["signal"] = self.signal
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


def release_payload(parent: str, request_id: str) -> str:
    """Input of the ``release`` event that ends a critical section of orchestration ``parent``."""
    return serialization.dumps({"parent": parent, "id": request_id}) or ""
