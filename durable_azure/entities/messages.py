"""Entity messages and state in the DurableTask layout (reference §7).

Event names are DTFx's ``EntityMessageEventNames`` (Azure/durabletask
``src/DurableTask.Core/Entities/EventFormat/EntityMessageEventNames.cs`` at 52170329; the same in the
DF extension's ``EntityScheduler/EntityMessageEventNames.cs`` at a7c6d694):

* ``op``: one request (an operation, a signal or a lock request), the input a ``RequestMessage``
  JSON (:class:`EntityRequest`);
* ``op@<time>``: a scheduled signal, ``<time>`` its delivery time in .NET's round-trip format
  (``2026-01-02T03:04:05.0000000Z``); the queue message is hidden until then (DTFx's
  ``Entities.IsDelayedEntityMessage``), and the request's ``due`` holds the time asked for;
* ``release``: the end of a critical section (``{"parent", "id"}``);
* ``continue``: resumes a suspended entity (anything else that is neither ``op…`` nor ``release``);
* responses to orchestrations are named with the request id (``{"result", "exceptionType"}``).

``opbatch`` (several client signals in one message, a JSON array of requests) was durable-azure's
own; DTFx takes any name starting with ``op`` for one request and fails on it. We no longer write it
unless a client opts in (``batch_entity_signals=True``), and still read it so none in flight is lost.

The entity's state lives in the Instances row ``Input`` as the scheduler-state JSON (``exists``,
``state``, ``queue``, ``lockedBy``, ``sorter``); ``CustomStatus`` is the ``EntityStatus``
(``entityExists``, ``queueSize``, ``lockedBy``, each left out at its default).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from ..orchestration import limits, serialization
from ..orchestration.entity_request import EntityRequest, release_payload
from ..orchestration.history import EventRaised
from ..orchestration.net_time import datetime_of, format_round_trip, format_ticks, parse_ticks, ticks_of

__all__ = [
    "CONTINUE_EVENT",
    "LONG_DELAY_INTERVAL",
    "MAX_SIGNAL_DELAY",
    "OPERATION_BATCH_EVENT",
    "OPERATION_EVENT",
    "RELEASE_EVENT",
    "EntityRequest",
    "decode_entity_state",
    "delivery_time",
    "is_request_event",
    "release_payload",
    "scheduled_event",
    "signal_event",
    "signal_request",
    "signal_request_json",
]

OPERATION_EVENT = "op"
SCHEDULED_PREFIX = "op@"
# Several client signals to one entity in one message (a JSON array of requests): read, for messages
# already in queues and histories; written only when a client opts in (see the module docstring).
OPERATION_BATCH_EVENT = "opbatch"
RELEASE_EVENT = "release"
CONTINUE_EVENT = "continue"
# Durable Functions' Azure Storage provider: a signal further out than MaximumDelayTime (6 days) is
# sent for now + LongRunningTimerIntervalLength (3 days) and re-sent by the entity when it arrives.
MAX_SIGNAL_DELAY = timedelta(days=6)
LONG_DELAY_INTERVAL = timedelta(days=3)


def is_request_event(name: str) -> bool:
    """DTFx's ``IsRequestMessage``: ``op`` and ``op@<time>`` (``opbatch`` is handled before this)."""
    return name.startswith(OPERATION_EVENT)


def delivery_time(name: str) -> datetime | None:
    """The time an ``op@<time>`` message is due (DTFx's ``IsDelayedEntityMessage``), else ``None``."""
    if len(name) < 4 or not name.startswith(SCHEDULED_PREFIX):
        return None
    ticks = parse_ticks(name[3:])
    return datetime_of(ticks) if ticks else None


def adjusted_delivery(due: datetime, now: datetime) -> datetime:
    """DF's ``RequestMessage.GetAdjustedDeliveryTime``: ``due``, or now + 3 days when over 6 days away."""
    return due if due - now <= MAX_SIGNAL_DELAY else now + LONG_DELAY_INTERVAL


def scheduled_event(request: dict[str, Any], due: datetime, now: datetime) -> EventRaised:
    """The ``op@<time>`` event carrying a scheduled request (``due`` already in ``request``)."""
    deliver = adjusted_delivery(due, now)
    return EventRaised(
        name=SCHEDULED_PREFIX + format_round_trip(ticks_of(deliver)),
        input=serialization.dumps(request),
        timestamp=now,
    )


def signal_request_json(
    operation: str, operation_input: Any, *, scheduled_time: datetime | None = None
) -> dict[str, Any]:
    """A client's signal request (DF's ``DurableClient.SignalEntityAsyncInternal``): no parent, no
    sorter stamps; ``due`` for a scheduled one. Raises InvalidInputError for a bad operation name
    and SerializationError for an input that is not JSON (or breaks the JSON limits)."""
    limits.check_name(operation, "operation name")
    payload = serialization.dumps(operation_input, what=f"input of entity operation '{operation}'")
    request = EntityRequest(operation, payload)
    if scheduled_time is not None:
        request.due = format_ticks(ticks_of(_utc(scheduled_time)))
    return request.to_json()


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def signal_event(requests: list[dict[str, Any]], now: datetime) -> EventRaised:
    """One message carrying one signal (``op``, ``op@<time>`` if scheduled) or, for a client that
    opted in, several unscheduled ones (``opbatch``)."""
    if len(requests) == 1:
        due = requests[0].get("due")
        if isinstance(due, str) and due:
            return scheduled_event(requests[0], datetime_of(parse_ticks(due)), now)
        return EventRaised(name=OPERATION_EVENT, input=serialization.dumps(requests[0]), timestamp=now)
    return EventRaised(name=OPERATION_BATCH_EVENT, input=serialization.dumps(requests), timestamp=now)


def signal_request(
    operation: str, operation_input: Any, now: datetime, *, scheduled_time: datetime | None = None
) -> EventRaised:
    """The event a client sends to signal an entity."""
    return signal_event([signal_request_json(operation, operation_input, scheduled_time=scheduled_time)], now)


def decode_entity_state(scheduler_state: str | None) -> tuple[bool, Any]:
    """(exists, state) from the Instances row ``Input`` of an entity."""
    data = serialization.loads_stored(scheduler_state)
    if not isinstance(data, dict):
        return False, None
    exists = bool(data.get("exists", "state" in data))
    return exists, serialization.loads_stored(data.get("state")) if exists else None
