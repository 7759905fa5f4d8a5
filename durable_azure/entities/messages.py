"""Entity messages and state in the DurableTask layout (reference §7).

Operations arrive as ``EventRaised`` events named ``op`` whose input is a request JSON
(``op``, ``signal``, ``input``, ``id``, ``parent``, ``parentExecution``, ``lockset``, ``pos``);
responses to orchestrations are ``EventRaised`` events named with the request id. The entity's
state lives in the Instances row ``Input`` as the scheduler-state JSON (``exists``, ``state``,
``queue``, ``lockedBy``); ``CustomStatus`` holds ``{"entityExists", "queueSize", "lockedBy"}``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..orchestration import limits, serialization
from ..orchestration.entity_request import EntityRequest, release_payload
from ..orchestration.history import EventRaised

__all__ = [
    "OPERATION_BATCH_EVENT",
    "OPERATION_EVENT",
    "RELEASE_EVENT",
    "EntityRequest",
    "decode_entity_state",
    "release_payload",
    "signal_event",
    "signal_request",
    "signal_request_json",
]

OPERATION_EVENT = "op"
# Several client signals to one entity in one message (a JSON array of requests): a durable-azure
# addition that saves a queue message, and its delete, per signal.
OPERATION_BATCH_EVENT = "opbatch"
RELEASE_EVENT = "release"


def signal_request_json(operation: str, operation_input: Any) -> dict[str, Any]:
    """A client's signal request: raises InvalidInputError for a bad operation name and
    SerializationError for an input that is not JSON (or breaks the JSON limits)."""
    limits.check_name(operation, "operation name")
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
    data = serialization.loads_stored(scheduler_state)
    if not isinstance(data, dict):
        return False, None
    exists = bool(data.get("exists", "state" in data))
    return exists, serialization.loads_stored(data.get("state")) if exists else None
