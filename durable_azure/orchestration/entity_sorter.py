"""DTFx's entity ``MessageSorter`` (pure): in-order, duplicate-free delivery of entity requests.

A port of ``MessageSorter`` (Azure/durabletask ``src/DurableTask.Core/Entities/StateFormat/
MessageSorter.cs`` at 5217032961abf45846f462732a5e2813316e3747; the same algorithm as the Durable
Functions extension's ``EntityScheduler/MessageSorter.cs`` at a7c6d6944041b48267ed8409bb8ec8144ab9bab9).

Senders (orchestrations and entities) stamp each request to a destination with ``Timestamp`` (their
clock, forced strictly increasing per destination) and ``Predecessor`` (the stamp of the previous
request to that destination). The receiving entity keeps, per sender, the stamp of the last request
it delivered: a request whose stamp is not newer is a duplicate and is dropped; one whose
predecessor was not delivered yet waits in a buffer until it is. Stamps older than the reorder
window (30 minutes, DF's ``entityMessageReorderWindowInMinutes``) stop taking part, so the state
forgets quiet senders. Client signals, forwarded lock requests (``pos`` > 0) and unstamped requests
pass through.

Its JSON is the entity state's ``sorter`` member, with DTFx's names: ``LastSentToInstance``,
``ReceivedFromInstance`` (``Last``, ``ExecutionId``, ``Buffered``), ``ReceiveHorizon``,
``SendHorizon``; members at their default are left out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .entity_request import EntityRequest
from .net_time import MIN_TICKS, TICKS_PER_SECOND, format_ticks, parse_ticks

__all__ = ["MIN_INTERVAL_BETWEEN_COLLECTIONS", "REORDER_WINDOW", "MessageSorter", "ReceiveBuffer"]

REORDER_WINDOW = 30 * 60 * TICKS_PER_SECOND
MIN_INTERVAL_BETWEEN_COLLECTIONS = 10 * TICKS_PER_SECOND


@dataclass
class ReceiveBuffer:
    """What a receiver knows of one sender: the last stamp delivered and requests waiting."""

    last: int = MIN_TICKS
    execution_id: str | None = None
    buffered: dict[int, EntityRequest] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"Last": format_ticks(self.last)}
        if self.execution_id is not None:
            data["ExecutionId"] = self.execution_id
        if self.buffered:
            data["Buffered"] = {format_ticks(t): self.buffered[t].to_json() for t in sorted(self.buffered)}
        return data

    @classmethod
    def from_json(cls, data: Any) -> ReceiveBuffer:
        if not isinstance(data, dict):
            return cls()
        buffered = data.get("Buffered")
        items = buffered.items() if isinstance(buffered, dict) else ()
        return cls(
            last=parse_ticks(data.get("Last")),
            execution_id=data.get("ExecutionId"),
            buffered={parse_ticks(k): EntityRequest.from_json(v) for k, v in items if isinstance(v, dict)},
        )


def _identity(instance_id: str) -> str:
    """What makes two instance ids the same sender or destination: an entity's name ignoring case,
    its key and an orchestration's id exactly. (DTFx's dictionaries ignore case altogether while in
    memory, so an orchestration calling keys ``K`` and ``k`` gives the second request a predecessor
    that entity never received, and the entity holds it back; once deserialized they are ordinal.)"""
    if instance_id.startswith("@"):
        name, at, key = instance_id[1:].partition("@")
        if at:
            return f"@{name.casefold()}@{key}"
    return instance_id


def _find(table: dict[str, Any], key: str) -> str | None:
    """The key of ``table`` naming the same instance as ``key`` (:func:`_identity`)."""
    if key in table:
        return key
    wanted = _identity(key)
    return next((k for k in table if _identity(k) == wanted), None)


@dataclass
class MessageSorter:
    last_sent_to_instance: dict[str, int] | None = None
    received_from_instance: dict[str, ReceiveBuffer] | None = None
    receive_horizon: int = MIN_TICKS
    send_horizon: int = MIN_TICKS

    # ---- JSON -------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        if self.last_sent_to_instance is not None:
            data["LastSentToInstance"] = {k: format_ticks(v) for k, v in self.last_sent_to_instance.items()}
        if self.received_from_instance is not None:
            data["ReceivedFromInstance"] = {k: v.to_json() for k, v in self.received_from_instance.items()}
        if self.receive_horizon != MIN_TICKS:
            data["ReceiveHorizon"] = format_ticks(self.receive_horizon)
        if self.send_horizon != MIN_TICKS:
            data["SendHorizon"] = format_ticks(self.send_horizon)
        return data

    @classmethod
    def from_json(cls, data: Any) -> MessageSorter:
        if not isinstance(data, dict):
            return cls()
        sent = data.get("LastSentToInstance")
        received = data.get("ReceivedFromInstance")
        return cls(
            last_sent_to_instance={str(k): parse_ticks(v) for k, v in sent.items()}
            if isinstance(sent, dict)
            else None,
            received_from_instance=(
                {str(k): ReceiveBuffer.from_json(v) for k, v in received.items()}
                if isinstance(received, dict)
                else None
            ),
            receive_horizon=parse_ticks(data.get("ReceiveHorizon")),
            send_horizon=parse_ticks(data.get("SendHorizon")),
        )

    @property
    def buffered_count(self) -> int:
        return sum(len(b.buffered) for b in (self.received_from_instance or {}).values())

    # ---- sending ----------------------------------------------------------------------------
    def label_outgoing(
        self, request: EntityRequest, destination: str, now: int, window: int = REORDER_WINDOW
    ) -> None:
        """Stamp ``request`` (``Timestamp``, ``Predecessor``) for ``destination`` at time ``now`` (ticks)."""
        if window == 0:
            return
        timestamp = now
        if self.send_horizon + window + MIN_INTERVAL_BETWEEN_COLLECTIONS < now:
            self.send_horizon = now - window
            if self.last_sent_to_instance is not None:
                for expired in [k for k, v in self.last_sent_to_instance.items() if v < self.send_horizon]:
                    del self.last_sent_to_instance[expired]
        if self.last_sent_to_instance is None:
            self.last_sent_to_instance = {}
        else:
            key = _find(self.last_sent_to_instance, destination)
            if key is not None:
                last = self.last_sent_to_instance[key]
                request.predecessor = last
                if timestamp <= last:  # monotonic even if the clock is not
                    timestamp = last + 1
                destination = key
        request.timestamp = timestamp
        self.last_sent_to_instance[destination] = timestamp

    def adopt_sent(self, destination: str, timestamp: int) -> None:
        """History recorded the last request to ``destination`` with stamp ``timestamp`` (ticks;
        ``MIN_TICKS`` when it was sent unstamped, by durable-azure before it stamped requests): the
        next request names that as its predecessor, or none, instead of the stamp a replay computed
        for a request that never carried it (the entity would hold the next one back for it)."""
        table = self.last_sent_to_instance
        if table is None:
            if timestamp == MIN_TICKS:
                return
            table = self.last_sent_to_instance = {}
        key = _find(table, destination) or destination
        if timestamp == MIN_TICKS:
            table.pop(key, None)
        else:
            table[key] = timestamp

    # ---- receiving --------------------------------------------------------------------------
    def receive_in_order(self, request: EntityRequest, window: int = REORDER_WINDOW) -> list[EntityRequest]:
        """The requests deliverable now that ``request`` arrived, in order (possibly none: a
        duplicate, or one waiting for its predecessor)."""
        if window == 0 or request.parent is None or request.position > 0:
            return [request]
        if request.timestamp == MIN_TICKS:
            # Unstamped (a sender with no reorder window, or durable-azure before it stamped): DTFx
            # would take it for a duplicate of "nothing yet"; it passes through, deduplicated by id.
            return [request]
        out: list[EntityRequest] = []
        if self.receive_horizon + window + MIN_INTERVAL_BETWEEN_COLLECTIONS < request.timestamp:
            self.receive_horizon = request.timestamp - window
            if self.received_from_instance is not None:
                for source in list(self.received_from_instance):
                    held = self.received_from_instance[source]
                    if held.last < self.receive_horizon:
                        held.last = MIN_TICKS
                    out.extend(self._deliver_buffered(held))
                    if held.last == MIN_TICKS and not held.buffered:
                        del self.received_from_instance[source]
                if not self.received_from_instance:
                    self.received_from_instance = None
        if request.timestamp < self.receive_horizon:
            out.append(request)
            return out
        if self.received_from_instance is None:
            self.received_from_instance = {}
        sender = request.parent
        key = _find(self.received_from_instance, sender)
        if key is None:
            buffer = self.received_from_instance[sender] = ReceiveBuffer(
                execution_id=request.parent_execution
            )
        else:
            buffer = self.received_from_instance[key]
            if buffer.execution_id != request.parent_execution:
                # a new execution of the sender: release what waited and start over
                out.extend(buffer.buffered[t] for t in sorted(buffer.buffered))
                buffer.buffered.clear()
                buffer.last = MIN_TICKS
                buffer.execution_id = request.parent_execution
        if request.timestamp <= buffer.last:
            return out  # delivered before: a duplicate
        if request.predecessor > buffer.last and request.predecessor >= self.receive_horizon:
            buffer.buffered[request.timestamp] = request  # waits for its predecessor
            return out
        out.append(request)
        buffer.last = request.timestamp if request.timestamp >= self.receive_horizon else MIN_TICKS
        out.extend(self._deliver_buffered(buffer))
        return out

    def _deliver_buffered(self, buffer: ReceiveBuffer) -> list[EntityRequest]:
        out: list[EntityRequest] = []
        while buffer.buffered:
            first = min(buffer.buffered)
            message = buffer.buffered[first]
            if not (message.predecessor <= buffer.last or message.predecessor < self.receive_horizon):
                break
            out.append(message)
            buffer.last = message.timestamp if message.timestamp >= self.receive_horizon else MIN_TICKS
            del buffer.buffered[first]
        return out
