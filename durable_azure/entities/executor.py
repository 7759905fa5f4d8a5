"""The entity batch executor (pure): apply a batch of operation messages to an entity's state.

Operations run in arrival order against one context, so a batch is one checkpoint. A failing
operation rolls its own state change back and only it fails. Lock requests implement critical
sections: an entity locked by an orchestration queues everyone else's requests until released;
lock requests travel the sorted lock set entity by entity, so lock acquisition cannot deadlock.

Incoming events are classified by name as DTFx's ``TaskEntityDispatcher.DetermineWork`` does
(``op…`` request, ``release``, anything else a ``continue``); a scheduled request that arrives more
than 100 ms early is sent back to the entity itself as ``op@<time>``; requests from orchestrations
and entities pass through the :class:`MessageSorter` (stamps in order, duplicates dropped).
"""

from __future__ import annotations

import json
import logging
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from ..errors import FunctionNotFoundError
from ..orchestration import serialization
from ..orchestration.entity_id import EntityId
from ..orchestration.entity_request import LOCK_ACQUIRED
from ..orchestration.entity_sorter import MessageSorter
from ..orchestration.history import EventRaised
from ..orchestration.net_time import datetime_of, parse_ticks, ticks_of
from .context import DurableEntityContext
from .messages import (
    OPERATION_BATCH_EVENT,
    OPERATION_EVENT,
    RELEASE_EVENT,
    EntityRequest,
    is_request_event,
    scheduled_event,
)

log = logging.getLogger(__name__)

DELETE_OPERATION = "delete"
MAX_UNCONFIRMED_BATCHES = 100
RESEND_WINDOW = timedelta(minutes=15)  # well past lease expiry plus visibility timeouts
MAX_REMEMBERED_FROM_INSTANCES = 20_000
_SIGNAL_NAMESPACE = uuid.UUID("5d3c1d1e-8f3b-4c53-9a1e-6b0f3a2d9c47")
EARLY_TOLERANCE_TICKS = 100 * 10_000  # DTFx delivers a scheduled request at most 100 ms early


@dataclass
class SchedulerState:
    """What an entity keeps between batches (the Instances row ``Input``).

    Its JSON is the DF extension's ``SchedulerState`` (``EntityScheduler/SchedulerState.cs`` at
    a7c6d694): ``exists`` (only when true), ``state``, ``queue``, ``lockedBy`` (each only when set),
    ``sorter`` (always, ``{}`` when empty); DTFx Core's (``StateFormat/SchedulerState.cs`` at 52170329)
    is the same without ``exists``. durable-azure adds ``unconfirmed`` and ``fromInstances`` after them
    (DTFx ignores members it does not know).
    """

    exists: bool = False
    state: str | None = None
    queue: list[dict[str, Any]] = field(default_factory=list)
    locked_by: str | None = None
    sorter: MessageSorter = field(default_factory=MessageSorter)
    # Request ids of checkpointed batches whose queue messages are not known to be deleted yet: a
    # redelivered copy of any of them is skipped, however many batches ran in between.
    unconfirmed: list[list[str]] = field(default_factory=list)
    # Ids of requests from orchestrations and entities, with when they were applied: their senders
    # may re-send them after a crash at any later time, so they are kept for a time window.
    from_instances: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_json(cls, text: str | None) -> SchedulerState:
        data = serialization.loads(text)
        if not isinstance(data, dict):
            return cls()
        return cls(
            exists=bool(data.get("exists", "state" in data)),
            state=data.get("state"),
            queue=list(data.get("queue") or []),
            locked_by=data.get("lockedBy"),
            sorter=MessageSorter.from_json(data.get("sorter")),
            unconfirmed=[list(batch) for batch in data.get("unconfirmed") or data.get("recent") or []],
            from_instances=dict(data.get("fromInstances") or {}),
        )

    def to_json(self) -> str:
        data: dict[str, Any] = {}
        if self.exists:
            data["exists"] = True
            if self.state is not None:
                data["state"] = self.state
        if self.queue:
            data["queue"] = self.queue
        if self.locked_by:
            data["lockedBy"] = self.locked_by
        data["sorter"] = self.sorter.to_json()
        if self.unconfirmed:
            data["unconfirmed"] = self.unconfirmed
        if self.from_instances:
            data["fromInstances"] = self.from_instances
        return json.dumps(data, separators=(",", ":"))

    def status_json(self) -> str:
        """The ``CustomStatus`` DF clients read: DTFx's ``EntityStatus`` (``StateFormat/EntityStatus.cs``),
        each member left out at its default: DTFx tests existence by the substring ``entityExists``."""
        data: dict[str, Any] = {}
        if self.exists:
            data["entityExists"] = True
        if self.queue:
            data["queueSize"] = len(self.queue)
        if self.locked_by:
            data["lockedBy"] = self.locked_by
        return json.dumps(data, separators=(",", ":"))

    def seen(self, request_id: str) -> bool:
        return request_id in self.from_instances or any(request_id in batch for batch in self.unconfirmed)

    def remember(self, request_id: str, now: datetime) -> None:
        """Keep a request id from an orchestration or entity for :data:`RESEND_WINDOW`."""
        self.from_instances[request_id] = now.isoformat()
        horizon = (now - RESEND_WINDOW).isoformat()
        stale = [rid for rid, at in self.from_instances.items() if at < horizon]
        for rid in stale:
            del self.from_instances[rid]
        while len(self.from_instances) > MAX_REMEMBERED_FROM_INSTANCES:
            del self.from_instances[next(iter(self.from_instances))]

    def confirm(self, request_ids: list[str]) -> None:
        """The messages of a batch are deleted: its ids need no longer be remembered."""
        if request_ids in self.unconfirmed:
            self.unconfirmed.remove(request_ids)


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A message the batch sends: to an orchestration (response) or to an entity (signal, lock hop)."""

    instance_id: str
    execution_id: str | None
    event: EventRaised


@dataclass(frozen=True, slots=True)
class OperationRecord:
    """One operation as telemetry reports it (kept only when ``run_batch(record=True)``)."""

    operation: str
    request_id: str
    input: str | None
    output: str | None
    error: str | None
    seconds: float


@dataclass
class BatchResult:
    scheduler: SchedulerState
    outgoing: list[Outgoing]
    operations: int = 0
    failed: int = 0
    duplicates: int = 0
    applied: list[str] = field(default_factory=list)
    records: list[OperationRecord] = field(default_factory=list)


def _error_response(error: BaseException) -> str:
    return (
        serialization.dumps(
            {
                "result": serialization.dumps(str(error)),
                "exceptionType": type(error).__name__,
                "failureDetails": {
                    "ErrorType": type(error).__name__,
                    "ErrorMessage": str(error),
                    "StackTrace": "".join(
                        traceback.format_exception(type(error), error, error.__traceback__)
                    ),
                },
            }
        )
        or ""
    )


class _Batch:
    def __init__(
        self,
        fn: Callable[[DurableEntityContext], Any] | None,
        entity: EntityId,
        scheduler: SchedulerState,
        now: datetime,
    ) -> None:
        self.fn = fn
        self.entity = entity
        self.scheduler = scheduler
        self.now = now
        self.ctx = DurableEntityContext(entity.name, entity.key, scheduler.exists, scheduler.state)
        self.result = BatchResult(scheduler, [])
        self.applied: list[str] = []
        self.record = False
        #: (result JSON, error) of the last operation, for :class:`OperationRecord`.
        self.outcome: tuple[str | None, str | None] = (None, None)

    def respond(self, request: EntityRequest, body: str) -> None:
        if request.signal or not request.parent:
            return
        event = EventRaised(name=request.id, input=body, timestamp=self.now)
        self.result.outgoing.append(Outgoing(request.parent, request.parent_execution, event))

    def handle(self, request: EntityRequest) -> None:
        owner = self.scheduler.locked_by
        if owner is not None and request.parent != owner:
            self.scheduler.queue.append(request.to_json())
            return
        if request.is_lock_request:
            self.lock(request)
        else:
            self.operate(request)

    def lock(self, request: EntityRequest) -> None:
        assert request.lockset is not None
        self.scheduler.locked_by = request.parent
        if request.position + 1 < len(request.lockset):
            hop = replace(request, position=request.position + 1)
            event = EventRaised(
                name=OPERATION_EVENT, input=serialization.dumps(hop.to_json()), timestamp=self.now
            )
            self.result.outgoing.append(Outgoing(request.lockset[request.position + 1], None, event))
        else:
            # as DTFx's SendLockResponseMessage: the plain string, which the receiver ignores
            self.respond(request, serialization.dumps({"result": LOCK_ACQUIRED}) or "")

    def release(self, owner: str | None) -> None:
        if owner is None or self.scheduler.locked_by != owner:
            return
        self.scheduler.locked_by = None
        waiting, self.scheduler.queue = self.scheduler.queue, []
        for item in waiting:
            self.handle(EntityRequest.from_json(item))

    def resume_queue(self) -> None:
        """Run what a DTFx/DF worker left queued but runnable: the whole queue when unlocked (DF
        queues past its batch size and suspends itself), else its front requests from the lock owner."""
        queue = self.scheduler.queue
        if not queue or (
            self.scheduler.locked_by is not None and queue[0].get("parent") != self.scheduler.locked_by
        ):
            return
        owner = self.scheduler.locked_by
        if owner is None:
            waiting, self.scheduler.queue = queue, []
        else:
            count = next((i for i, item in enumerate(queue) if item.get("parent") != owner), len(queue))
            waiting, self.scheduler.queue = queue[:count], queue[count:]
        for item in waiting:
            self.handle(EntityRequest.from_json(item))

    def operate(self, request: EntityRequest) -> None:
        if not self.record:
            self._operate(request)
            return
        began = time.perf_counter()
        self.outcome = (None, None)
        self._operate(request)
        output, error = self.outcome
        self.result.records.append(
            OperationRecord(
                request.operation, request.id, request.input, output, error, time.perf_counter() - began
            )
        )

    def _operate(self, request: EntityRequest) -> None:
        ctx = self.ctx
        self.result.operations += 1
        saved = ctx.begin_operation(request.operation, request.input)
        try:
            if request.operation == DELETE_OPERATION:
                ctx.destruct_on_exit()
            elif self.fn is None:
                raise FunctionNotFoundError(
                    f"No entity named '{self.entity.name}' is registered in this app; check the EntityId name and "
                    "that the function is decorated with @app.entity_trigger."
                )
            else:
                outcome = self.fn(ctx)
                if hasattr(outcome, "__await__"):
                    outcome.close()
                    raise TypeError("Entity functions must be plain (not async def) functions.")
            ctx.end_operation()
            ctx.state_json()  # must be serializable, or the operation fails
            result_text = serialization.dumps(
                ctx.result, what=f"result of entity operation '{request.operation}'"
            )
        except Exception as error:
            ctx.rollback(saved)
            ctx.end_operation()
            self.result.failed += 1
            log.warning(
                "entity operation %s on %s failed: %s: %s",
                request.operation,
                self.entity,
                type(error).__name__,
                error,
                extra={"instance_id": self.entity.instance_id},
            )
            self.outcome = (None, f"{type(error).__name__}: {error}")
            self.respond(request, _error_response(error))
            return
        for position, (target, operation, payload) in enumerate(ctx.signals):
            # Derived from the request that caused it, so a re-run batch re-sends recognisable duplicates.
            signal_id = str(uuid.uuid5(_SIGNAL_NAMESPACE, f"{request.id}:{position}"))
            # DTFx: the sender is the entity (``parent``, no execution: its sorter outlives executions).
            signal = EntityRequest(operation, payload, id=signal_id, parent=self.entity.instance_id)
            self.scheduler.sorter.label_outgoing(signal, target.instance_id, ticks_of(self.now))
            event = EventRaised(
                name=OPERATION_EVENT, input=serialization.dumps(signal.to_json()), timestamp=self.now
            )
            self.result.outgoing.append(Outgoing(target.instance_id, None, event))
        ctx.signals.clear()
        self.outcome = (result_text, None)
        self.respond(request, serialization.dumps({"result": result_text}) or "")


def run_batch(
    fn: Callable[[DurableEntityContext], Any] | None,
    entity: EntityId,
    scheduler: SchedulerState,
    events: list[EventRaised],
    now: datetime,
    *,
    record: bool = False,
) -> BatchResult:
    """Apply ``events`` (operation, lock and release messages) in order; returns the new state and messages.

    ``record`` keeps an :class:`OperationRecord` of each operation (for telemetry).
    """
    batch = _Batch(fn, entity, scheduler, now)
    batch.record = record
    batch.resume_queue()
    now_ticks = ticks_of(now)
    # ids already applied: earlier unconfirmed batches, this batch, and requests from instances
    applied_ids: set[str] = set().union(*scheduler.unconfirmed)
    for event in events:
        name = event.name
        if name == RELEASE_EVENT:
            data = serialization.loads(event.input)
            batch.release(data.get("parent") if isinstance(data, dict) else None)
            continue
        if name == OPERATION_BATCH_EVENT:  # durable-azure's own client batch (read for messages in flight)
            data = serialization.loads(event.input)
            items = [item for item in data if isinstance(item, dict)] if isinstance(data, list) else []
            deliver = [EntityRequest.from_json(item) for item in items]
        elif is_request_event(name):
            data = serialization.loads(event.input)
            if not isinstance(data, dict):
                log.warning("entity %s ignored a request that is not a JSON object (%r)", entity, name)
                continue
            request = EntityRequest.from_json(data)
            if request.due is not None:
                due = parse_ticks(request.due)
                if due - now_ticks > EARLY_TOLERANCE_TICKS:  # too early: hold it until its time
                    again = scheduled_event(request.to_json(), _datetime(request.due, now), now)
                    batch.result.outgoing.append(Outgoing(entity.instance_id, None, again))
                    continue
                deliver = [request]  # scheduled messages skip the sorter (no FIFO for them)
            elif request.parent is None:
                deliver = [request]  # a client signal: the sorter passes it through anyway
            else:
                deliver = scheduler.sorter.receive_in_order(request)
        else:
            continue  # ``continue``: resumes a suspended entity; we never suspend, so nothing to do
        for request in deliver:
            if request.id in applied_ids or request.id in scheduler.from_instances:
                batch.result.duplicates += 1
                continue
            batch.applied.append(request.id)
            applied_ids.add(request.id)
            if request.from_instance or request.due is not None:  # such may be sent again after a crash
                scheduler.remember(request.id, now)
            batch.handle(request)
    scheduler.exists = batch.ctx.exists
    scheduler.state = batch.ctx.state_json()
    if batch.applied:
        scheduler.unconfirmed = [*scheduler.unconfirmed, batch.applied][-MAX_UNCONFIRMED_BATCHES:]
    batch.result.applied = batch.applied
    return batch.result


def _datetime(text: str, fallback: datetime) -> datetime:
    ticks = parse_ticks(text)
    return datetime_of(ticks) if ticks else fallback
