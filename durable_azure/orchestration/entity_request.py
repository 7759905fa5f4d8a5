"""The entity request message (pure): what orchestrations, entities and clients send to an entity.

Its JSON is Durable Functions' ``RequestMessage`` exactly as the extension's Newtonsoft settings
write it (azure-functions-durable-extension ``src/WebJobs.Extensions.DurableTask/EntityScheduler/
RequestMessage.cs`` at a7c6d694; DTFx's ``src/DurableTask.Core/Entities/EventFormat/RequestMessage.cs``
at 52170329 has the same names): in this order ``op`` (always, ``null`` for a lock request),
``signal`` (only when true), ``input`` (only when not null), ``id``, ``parent`` and
``parentExecution`` (only when set), ``due`` (a scheduled signal's time), ``Timestamp`` and
``Predecessor`` (always; the message sorter's stamps, ``0001-01-01T00:00:00`` when unset),
``lockset`` and ``pos`` (lock requests; ``pos`` only when not 0). Members other writers add (DTFx
Core's ``IsLockRequest``, ``createTrace``, ``requestTime``, ``parentTraceContext``) are kept as they
came. It lives in the replay core because orchestrations build requests too; ``entities/``
interprets them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from . import serialization
from .net_time import MIN_TICKS, format_ticks, parse_ticks

#: The result of a lock response (DTFx ``ResponseMessage.LockAcquisitionCompletion``), a plain string.
LOCK_ACQUIRED = "Lock Acquisition Completed"

_KNOWN = frozenset(
    (
        "op",
        "signal",
        "input",
        "id",
        "parent",
        "parentExecution",
        "due",
        "Timestamp",
        "Predecessor",
        "lockset",
        "pos",
    )
)


@dataclass
class EntityRequest:
    """One operation (or lock request) sent to an entity."""

    operation: str  # "" for a lock request (written as ``"op": null``)
    input: str | None = None
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    signal: bool = True
    parent: str | None = None
    parent_execution: str | None = None
    lockset: list[str] | None = None
    position: int = 0
    #: A scheduled signal's delivery time, as written (``due``).
    due: str | None = None
    #: The message sorter's stamps, in .NET ticks (:mod:`.net_time`).
    timestamp: int = MIN_TICKS
    predecessor: int = MIN_TICKS
    #: Members this engine does not interpret, kept so a request re-queued in the entity state
    #: round-trips as written.
    extra: dict[str, Any] | None = None

    @property
    def from_instance(self) -> bool:
        """Sent by an orchestration or an entity (which may re-send it after a crash), not by a client."""
        return bool(self.parent)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EntityRequest:
        lockset = data.get("lockset")
        operation = data.get("op")
        unknown = data.keys() - _KNOWN
        unknown.discard("sender")
        extra = {k: data[k] for k in data if k in unknown} if unknown else None
        due = data.get("due")
        return cls(
            operation="" if operation is None else str(operation),
            input=data.get("input"),
            id=str(data.get("id") or uuid.uuid4()),
            signal=bool(data.get("signal", False)),
            # ``sender``: how durable-azure before DTFx stamps marked signals between entities.
            parent=data.get("parent") or data.get("sender"),
            parent_execution=data.get("parentExecution"),
            lockset=[_lock_target(item) for item in lockset] if lockset else None,
            position=int(data.get("pos") or 0),
            due=due if isinstance(due, str) and due else None,
            timestamp=parse_ticks(data.get("Timestamp")),
            predecessor=parse_ticks(data.get("Predecessor")),
            extra=extra,
        )

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"op": self.operation if self.lockset is None else None}
        if self.signal and self.lockset is None:
            data["signal"] = True
        if self.input is not None:
            data["input"] = self.input
        data["id"] = self.id
        if self.parent:
            data["parent"] = self.parent
        if self.parent_execution:
            data["parentExecution"] = self.parent_execution
        if self.due:
            data["due"] = self.due
        data["Timestamp"] = format_ticks(self.timestamp)
        data["Predecessor"] = format_ticks(self.predecessor)
        if self.lockset is not None:
            data["lockset"] = [_lock_json(item) for item in self.lockset]
            if self.position:
                data["pos"] = self.position
        if self.extra:
            data.update(self.extra)
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
