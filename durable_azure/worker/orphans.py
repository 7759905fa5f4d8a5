"""Messages no running execution will consume: the instance has finished, or does not exist.

For an instance **without history** (and no start in the batch), as DTFx decides (research-13 §2),
except that nothing is dropped unrecorded:

* ``ExecutionTerminated`` for a ``Pending`` instance ends it: its row says ``Terminated``;
* anything for an instance whose row is ``Pending`` waits for the start message (retried later);
* a response (an activity or sub-orchestration result, a timer, an event another instance sent)
  gets the benefit of the doubt for :data:`RESPONSE_RETRIES` receives with back-off (its instance
  may be about to be written), then is set aside: a result for a purged instance ends there;
* anything else (a client's event or command for an instance that does not exist) is set aside.

For a **finished** instance the messages are consumed without effect (late results, timers and
events are normal after a ``task_any`` or a termination); entity locks granted to it are released.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

from ..orchestration import serialization
from ..orchestration.entity_request import EntityRequest, release_payload
from ..orchestration.history import (
    EventRaised,
    EventSent,
    ExecutionTerminated,
    HistoryEvent,
    OrchestrationStatus,
    SubOrchestrationInstanceCompleted,
    SubOrchestrationInstanceFailed,
    TaskCompleted,
    TaskFailed,
    TimerFired,
)
from ..storage.instance_table import InstanceUpdate
from ..storage.messages import TaskMessage
from ..storage.queues import ReceivedMessage
from ..storage.taskhub import TaskHubStorage
from .instance_state import InstanceState
from .outbound import Outbound, OutboundSender
from .settle import Disposal

log = logging.getLogger(__name__)

#: Receives a response for an instance without history gets before it is set aside (DTFx: 5).
RESPONSE_RETRIES = 5

_RESPONSES = (
    TaskCompleted,
    TaskFailed,
    SubOrchestrationInstanceCompleted,
    SubOrchestrationInstanceFailed,
    TimerFired,
)


def is_response(received: ReceivedMessage) -> bool:
    """A message answering something an instance did (DTFx's "out of order" message types)."""
    event = received.message.event
    if isinstance(event, _RESPONSES):
        return True
    return isinstance(event, EventRaised) and bool(received.message.sender_instance_id)


async def for_missing_instance(
    storage: TaskHubStorage,
    instance_id: str,
    state: InstanceState,
    consumed: list[ReceivedMessage],
    disposal: Disposal,
) -> None:
    """Decide what becomes of messages for ``instance_id``, which has no history (see module doc)."""
    row = state.row
    pending = row is not None and row.status is OrchestrationStatus.Pending
    for received in consumed:
        event = received.message.event
        if isinstance(event, ExecutionTerminated) and pending:
            # A Pending instance terminated before it ran: record it, as DTFx does.
            now = datetime.now(timezone.utc)
            await storage.instances.merge(
                instance_id,
                InstanceUpdate(
                    status=OrchestrationStatus.Terminated,
                    output=event.input,
                    completed_time=now,
                    last_updated_time=now,
                ),
            )
            disposal.delete.append(received)
        elif pending:
            disposal.retry.append(
                (received, f"instance '{instance_id}' is Pending; waiting for its start", None)
            )
        elif is_response(received):
            disposal.retry.append(
                (received, f"instance '{instance_id}' does not exist (no history)", RESPONSE_RETRIES)
            )
        else:
            disposal.aside.append(
                (received, f"instance '{instance_id}' does not exist (no history and no start message)")
            )


def _sent_payloads(history: list[HistoryEvent]) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(name, JSON object)`` of each ``EventSent`` in ``history`` whose input is a JSON object."""
    for event in history:
        if isinstance(event, EventSent) and event.input:
            data = serialization.loads(event.input)
            if isinstance(data, dict):
                yield event.name, data


async def release_orphaned_locks(
    sender: OutboundSender, instance_id: str, state: InstanceState, incoming: list[HistoryEvent]
) -> None:
    """A lock granted to an instance that already finished (say, terminated while waiting) is released."""
    grants = {e.name for e in incoming if isinstance(e, EventRaised)}
    if not grants:
        return
    releases: list[Outbound] = []
    for name, data in _sent_payloads(state.history):
        if name != "op":
            continue
        request = EntityRequest.from_json(data)
        if request.id not in grants or not request.lockset:
            continue
        payload = release_payload(instance_id, request.id)
        for entity_id in request.lockset:
            release = EventRaised(name="release", input=payload, timestamp=datetime.now(timezone.utc))
            message = TaskMessage(
                event=release,
                instance_id=entity_id,
                execution_id=None,
                sender_instance_id=instance_id,
                sender_execution_id=state.execution_id or "",
            )
            releases.append(Outbound(message))
    if releases:
        log.info(
            "releasing %d entity lock(s) granted after the instance finished",
            len(releases),
            extra={"instance_id": instance_id},
        )
        await sender.send_all(releases)


def held_lock_releases(history: list[HistoryEvent], instance_id: str, now: datetime) -> list[EventSent]:
    """The ``release`` events for the entity locks ``history`` shows as held: a lock request (an
    ``op`` event with a lockset) whose grant arrived and that no ``release`` followed. For an
    instance that ends without its code running (``versionFailureStrategy`` ``Fail``), which would
    otherwise keep those entities locked for good. A request not yet granted needs nothing here:
    its grant, arriving at a finished instance, is released by :func:`release_orphaned_locks`."""
    granted = {e.name for e in history if isinstance(e, EventRaised)}
    released: set[str] = set()
    held: EntityRequest | None = None
    for name, data in _sent_payloads(history):
        if name == "release":
            released.add(str(data.get("id")))
        elif name == "op" and data.get("lockset"):
            held = EntityRequest.from_json(data)
    if held is None or held.id not in granted or held.id in released or not held.lockset:
        return []
    next_id = max((e.event_id for e in history if e.event_id >= 0), default=-1) + 1
    payload = release_payload(instance_id, held.id)
    return [
        EventSent(event_id=next_id + n, timestamp=now, instance_id=target, name="release", input=payload)
        for n, target in enumerate(held.lockset)
    ]


__all__ = [
    "RESPONSE_RETRIES",
    "for_missing_instance",
    "held_lock_releases",
    "is_response",
    "release_orphaned_locks",
]
