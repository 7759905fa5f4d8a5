"""``DurableOrchestrationClient``: start, inspect and manage instances, talking to storage directly.

Every argument is checked before the first storage request (limits:
:mod:`durable_azure.orchestration.limits`), so a refused call writes nothing.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from typing import Any

from ..errors import (
    InstanceAlreadyExistsError,
    InstanceNotFoundError,
    InvalidOperationError,
    OperationTimeoutError,
    SplitBrainError,
)
from ..orchestration import limits, serialization
from ..orchestration.entity_id import EntityId
from ..orchestration.history import (
    EventRaised,
    ExecutionResumed,
    ExecutionStarted,
    ExecutionSuspended,
    ExecutionTerminated,
    GenericEvent,
    HistoryEvent,
    OrchestrationStatus,
)
from ..orchestration.status import OrchestrationRuntimeStatus
from ..storage.instance_table import InstanceRecord, InstanceUpdate
from ..storage.messages import TaskMessage
from ..storage.naming import escape_partition_key
from ..storage.taskhub import TaskHubStorage
from ..storage.values import format_iso_seconds
from ..telemetry import hooks as telemetry
from .binding import BindingAwareClientType
from .history_json import history_to_json
from .models import DurableOrchestrationStatus, EntityStateResponse, PurgeHistoryResult
from .signals import SignalBatcher

_ACTIVE = frozenset({OrchestrationStatus.Running, OrchestrationStatus.Pending, OrchestrationStatus.Suspended})
_TERMINAL_RUNTIME = [s for s in OrchestrationRuntimeStatus if s.is_terminal]
#: How often a forced purge looks whether the terminate request has been processed (seconds).
_PURGE_POLL_SECONDS = 0.25
FORCED_PURGE_REASON = "Terminated to be purged (purge_instance_history with force=True)."


def _statuses(values: Iterable[OrchestrationRuntimeStatus | str] | None) -> list[OrchestrationStatus] | None:
    if not values:
        return None
    result = []
    for value in values:
        name = value.value if isinstance(value, OrchestrationRuntimeStatus) else str(value)
        try:
            result.append(OrchestrationStatus[name])
        except KeyError:
            raise ValueError(
                f"Unknown runtime status {name!r}; use one of {', '.join(s.value for s in OrchestrationRuntimeStatus)}."
            ) from None
    return result


class DurableOrchestrationClient(metaclass=BindingAwareClientType):
    """The Durable Functions client API (async), for one task hub."""

    def __init__(
        self,
        storage: TaskHubStorage,
        *,
        notify: Callable[[str], None] | None = None,
        default_version: str = "",
        batch_entity_signals: bool = False,
    ) -> None:
        self._storage = storage
        self._notify = notify
        #: Stamped on instances started without a version (host.json ``defaultVersion``).
        self.default_version = default_version
        self.task_hub_name = storage.hub_name
        #: Opt-in: concurrent signals to one entity share an ``opbatch`` message, which only
        #: durable-azure workers read (a DTFx/.NET worker on the same hub fails on it).
        self.batch_entity_signals = batch_entity_signals
        self._signals = SignalBatcher(self._send)

    @classmethod
    def from_connection_string(
        cls, connection_string: str, *, hub_name: str, partition_count: int = 4, default_version: str = ""
    ) -> DurableOrchestrationClient:
        return cls(
            TaskHubStorage(connection_string, hub_name, partition_count=partition_count),
            default_version=default_version,
        )

    @property
    def storage(self) -> TaskHubStorage:
        return self._storage

    async def close(self) -> None:
        await self._storage.close()

    async def __aenter__(self) -> DurableOrchestrationClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ---- messages -----------------------------------------------------------------------
    async def _send(
        self,
        instance_id: str,
        event: HistoryEvent,
        execution_id: str | None = None,
        *,
        visibility_delay: float = 0.0,
    ) -> None:
        await self._storage.create_if_not_exists()
        message = TaskMessage(event=event, instance_id=instance_id, execution_id=execution_id)
        await self._storage.control_queue_for(instance_id).send(message, visibility_delay=visibility_delay)
        if self._notify is not None:
            self._notify(instance_id)

    async def _require(self, instance_id: str, *, fetch_input: bool = False) -> InstanceRecord:
        limits.check_storable_id(instance_id)
        record = await self._storage.instances.get(instance_id, fetch_input=fetch_input, fetch_output=False)
        if record is None:
            raise InstanceNotFoundError(
                f"No orchestration instance with id '{instance_id}' exists in task hub '{self.task_hub_name}'."
            )
        return record

    # ---- start --------------------------------------------------------------------------
    async def start_new(
        self,
        orchestration_function_name: str,
        instance_id: str | None = None,
        client_input: Any = None,
        version: str | None = None,
    ) -> str:
        """Start an orchestration; returns its instance id. A finished instance with the same id is replaced.

        Without ``version`` (or with an empty one) the instance gets the client's ``default_version``
        (host.json ``defaultVersion``), as in Durable Functions.

        Raises :class:`InvalidInstanceIdError`, :class:`InvalidInputError` (name, version) or
        :class:`SerializationError` (input) before anything is written.
        """
        limits.check_name(orchestration_function_name, "orchestrator name")
        if version is not None:
            limits.check_name(version, "version", allow_empty=True)
        version = version or self.default_version
        generated = instance_id is None
        instance_id = limits.check_instance_id(instance_id) if instance_id is not None else uuid.uuid4().hex
        payload = serialization.dumps(client_input, what="orchestration input")
        await self._storage.create_if_not_exists()
        # A generated id (a random UUID) names no row or history anywhere: nothing to read (issue 14).
        existing = (
            None
            if generated
            else await self._storage.instances.get(instance_id, fetch_input=False, fetch_output=False)
        )
        if existing is not None and existing.runtime_status in _ACTIVE:
            raise InstanceAlreadyExistsError(
                f"An instance with id '{instance_id}' is already {existing.runtime_status.name}; "
                "wait for it to finish, terminate it, or use another id."
            )
        now = datetime.now(timezone.utc)
        execution_id = uuid.uuid4().hex
        generation = existing.generation + 1 if existing is not None else 0
        started = ExecutionStarted(
            name=orchestration_function_name,
            instance_id=instance_id,
            execution_id=execution_id,
            input=payload,
            version=version or "",
            generation=generation,
            timestamp=now,
        )
        # A worker in this process takes what this start knows instead of reading it (storage/local_starts.py).
        local = (
            self._storage.local_starts.begin(instance_id, execution_id, fresh=existing is None)
            if self._notify is not None
            else None
        )
        row_etag: str | None = None
        try:
            with telemetry.client_start(started) as started:
                await self._send(instance_id, started, execution_id)
            row_etag = await self._write_pending(instance_id, started, existing)
        finally:
            if local is not None:
                local.row_written(row_etag)
        return instance_id

    async def _write_pending(
        self, instance_id: str, started: ExecutionStarted, existing: InstanceRecord | None
    ) -> str | None:
        """The client start's ``Pending`` row; its ETag, or ``None`` when a worker wrote the row first."""
        payload = started.input
        try:
            return await self._storage.instances.write_pending(
                instance_id,
                name=started.name,
                version=started.version or "",
                input=payload,
                execution_id=started.execution_id,
                created_time=started.timestamp,
                generation=started.generation or 0,
                etag=existing.etag if existing is not None else None,
            )
        except SplitBrainError:
            # The worker already checkpointed the first episode (its row is newer). It leaves a large
            # input to this write, so store the input without touching the worker's columns.
            if payload is not None:
                await self._storage.instances.merge(instance_id, InstanceUpdate(input=payload))
            return None

    # ---- status -------------------------------------------------------------------------
    async def get_status(
        self,
        instance_id: str,
        show_history: bool = False,
        show_history_output: bool = False,
        show_input: bool = False,
    ) -> DurableOrchestrationStatus:
        """Status of one instance; falsy (``not status``) when there is no such instance."""
        limits.check_storable_id(instance_id)
        record = await self._storage.instances.get(instance_id, fetch_input=show_input)
        if record is None:
            return DurableOrchestrationStatus()
        history = None
        if show_history:
            loaded = await self._storage.history.load(instance_id)
            history = history_to_json(
                list(loaded.events), show_output=show_history_output, show_input=show_input
            )
        return DurableOrchestrationStatus.from_record(record, history=history, show_input=show_input)

    async def get_history(self, instance_id: str) -> list[HistoryEvent]:
        """The raw history events of the instance's current execution."""
        limits.check_storable_id(instance_id)
        return list((await self._storage.history.load(instance_id)).events)

    async def list_instances(
        self,
        *,
        created_time_from: datetime | None = None,
        created_time_to: datetime | None = None,
        runtime_status: Iterable[OrchestrationRuntimeStatus | str] | None = None,
        instance_id_prefix: str | None = None,
        page_size: int = 100,
        continuation_token: str | None = None,
        show_input: bool = False,
    ) -> tuple[list[DurableOrchestrationStatus], str | None]:
        """One page of instances and the continuation token of the next page (``None`` at the end)."""
        records, token = await self._storage.instances.query(
            created_from=created_time_from,
            created_to=created_time_to,
            statuses=_statuses(runtime_status),
            instance_id_prefix=instance_id_prefix,
            page_size=page_size,
            continuation_token=continuation_token,
            fetch_input=show_input,
        )
        return [DurableOrchestrationStatus.from_record(r, show_input=show_input) for r in records], token

    async def get_status_by(
        self,
        created_time_from: datetime | None = None,
        created_time_to: datetime | None = None,
        runtime_status: Iterable[OrchestrationRuntimeStatus | str] | None = None,
        instance_id_prefix: str | None = None,
    ) -> list[DurableOrchestrationStatus]:
        """Every matching instance (all pages)."""
        results: list[DurableOrchestrationStatus] = []
        token: str | None = None
        while True:
            page, token = await self.list_instances(
                created_time_from=created_time_from,
                created_time_to=created_time_to,
                runtime_status=runtime_status,
                instance_id_prefix=instance_id_prefix,
                page_size=1000,
                continuation_token=token,
            )
            results.extend(page)
            if not token:
                return results

    async def get_status_all(self) -> list[DurableOrchestrationStatus]:
        """Every instance in the hub (all pages, unlike DF 1.x which stops at 100)."""
        return await self.get_status_by()

    async def wait_for_completion(
        self, instance_id: str, timeout: float = 60.0, poll_interval: float = 0.1
    ) -> DurableOrchestrationStatus:
        """Poll until the instance is Completed, Failed, Terminated or Canceled.

        ``timeout`` (seconds) must be finite, greater than 0 and at most 7 days; ``poll_interval``
        between 0.01 and 3,600 seconds (polls start faster and back off to it). Raises
        :class:`OperationTimeoutError` (a ``TimeoutError``) when the timeout passes first.
        """
        timeout, poll_interval = limits.check_wait(timeout, poll_interval)
        limits.check_storable_id(instance_id)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        interval = min(poll_interval, 0.05)
        while True:
            status = await self.get_status(instance_id)
            if status and status.runtime_status is not None and status.runtime_status.is_terminal:
                return status
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise OperationTimeoutError(
                    f"Instance '{instance_id}' did not finish within {timeout:g} s "
                    f"(status: {status.runtime_status.value if status and status.runtime_status else 'not found'})."
                )
            await asyncio.sleep(min(interval, remaining))
            interval = min(interval * 2, poll_interval)

    # ---- control ------------------------------------------------------------------------
    async def raise_event(self, instance_id: str, event_name: str, event_data: Any = None) -> None:
        """Deliver an external event. Raises if the instance does not exist or has finished."""
        limits.check_storable_id(instance_id)
        limits.check_name(event_name, "event name")
        payload = serialization.dumps(event_data, what="event data")
        record = await self._require(instance_id)
        if record.runtime_status.is_terminal:
            raise InvalidOperationError(
                f"Instance '{instance_id}' is {record.runtime_status.name}; it can no longer receive events."
            )
        raised = EventRaised(name=event_name, input=payload, timestamp=datetime.now(timezone.utc))
        with telemetry.client_event(instance_id, raised) as raised:
            await self._send(instance_id, raised)

    async def _control(self, instance_id: str, event: HistoryEvent, verb: str) -> None:
        record = await self._require(instance_id)
        if record.runtime_status.is_terminal:
            raise InvalidOperationError(
                f"Cannot {verb} instance '{instance_id}': it is already {record.runtime_status.name}."
            )
        await self._send(instance_id, event)

    async def terminate(self, instance_id: str, reason: str | None = None) -> None:
        """Stop a running instance; it ends with status Terminated and ``reason`` as output."""
        reason = limits.check_reason(reason, "termination reason")
        now = datetime.now(timezone.utc)
        await self._control(
            instance_id, ExecutionTerminated(input=serialization.dumps(reason), timestamp=now), "terminate"
        )

    async def suspend(self, instance_id: str, reason: str | None = None) -> None:
        """Pause an instance: events are kept but not processed until :meth:`resume`."""
        reason = limits.check_reason(reason, "suspend reason")
        now = datetime.now(timezone.utc)
        await self._control(instance_id, ExecutionSuspended(reason=reason, timestamp=now), "suspend")

    async def resume(self, instance_id: str, reason: str | None = None) -> None:
        """Continue a suspended instance."""
        reason = limits.check_reason(reason, "resume reason")
        now = datetime.now(timezone.utc)
        await self._control(instance_id, ExecutionResumed(reason=reason, timestamp=now), "resume")

    async def restart(self, instance_id: str, restart_with_new_instance_id: bool = True) -> str:
        """Start the orchestration again with its original input; returns the (new) instance id."""
        record = await self._require(instance_id, fetch_input=True)
        new_id = None if restart_with_new_instance_id else instance_id
        if not restart_with_new_instance_id and record.runtime_status in _ACTIVE:
            raise InstanceAlreadyExistsError(
                f"Instance '{instance_id}' is still {record.runtime_status.name}."
            )
        return await self.start_new(
            record.name, new_id, serialization.loads_stored(record.input), version=record.version or None
        )

    async def rewind(self, instance_id: str, reason: str | None = None) -> None:
        """Retry the failed work of a Failed instance (and of its failed sub-orchestrations)."""
        reason = limits.check_reason(reason, "rewind reason")
        record = await self._require(instance_id)
        if record.runtime_status is not OrchestrationStatus.Failed:
            raise InvalidOperationError(
                f"Only Failed instances can be rewound; '{instance_id}' is {record.runtime_status.name}."
            )
        await self._rewind_tree(instance_id, reason or "rewind")

    async def _rewind_tree(self, instance_id: str, reason: str) -> None:
        children = await self._storage.history.rewind(instance_id)
        for child in children:
            await self._rewind_tree(child, reason)
        now = datetime.now(timezone.utc)
        # DTFx ``UpdateStatusForRewindAsync``: Pending until the worker replays it (then Running)
        await self._storage.instances.merge(
            instance_id, InstanceUpdate(status=OrchestrationStatus.Pending, last_updated_time=now)
        )
        await self._send(instance_id, GenericEvent(data=reason, timestamp=now))

    # ---- purge --------------------------------------------------------------------------
    async def purge_instance_history(
        self, instance_id: str, *, force: bool = False, timeout: float = 60.0
    ) -> PurgeHistoryResult:
        """Delete an instance's history, Instances row and blobs; ``instances_deleted`` is 0 if
        there was no such instance.

        Only an instance that has finished (Completed, Failed, Terminated, Canceled) is purged. One
        that is Running, Pending, Suspended or ContinuedAsNew is refused with
        :class:`InvalidOperationError` naming its status: deleting it would leave its queued
        messages (its start message, timers, activity results) to run it again, or to be retried
        as messages for a missing instance.

        ``force=True`` (keyword only; Durable Functions' signature is unchanged) terminates such an
        instance first: it sends a terminate request, waits up to ``timeout`` seconds for a worker
        to record ``Terminated``, then purges it. Activities already running finish, and their
        results are discarded, as after any termination; sub-orchestrations are not terminated (as
        in Durable Functions). If no worker records the termination in time,
        :class:`OperationTimeoutError` is raised and nothing is deleted; the instance ends as
        Terminated when a worker processes the request, and can be purged then.

        An entity (``@name@key``) is purged only when it holds no state, no queued operations and
        no lock; ``force=True`` deletes it anyway (operations still in flight re-create it, as any
        signal does).

        Unlike this client, Durable Functions' ``DELETE /instances/{id}`` purges whatever the status.
        """
        if force:
            timeout, _ = limits.check_wait(timeout, _PURGE_POLL_SECONDS)
        limits.check_storable_id(instance_id)
        is_entity = instance_id.startswith("@")
        record = await self._storage.instances.get(instance_id, fetch_input=is_entity, fetch_output=False)
        if record is None:
            return PurgeHistoryResult(0)
        if is_entity:
            self._check_entity_purge(instance_id, record, force)
        elif not record.runtime_status.is_terminal:
            if not force:
                raise InvalidOperationError(
                    f"Instance '{instance_id}' is {record.runtime_status.name}; only finished instances "
                    "can be purged. Terminate it first, or purge with force=True to terminate it and "
                    "purge it once a worker has recorded the termination."
                )
            if not await self._terminate_for_purge(instance_id, record, timeout):
                return PurgeHistoryResult(0)
        return PurgeHistoryResult(1 if await self._delete_instance(instance_id) else 0)

    def _check_entity_purge(self, instance_id: str, record: InstanceRecord, force: bool) -> None:
        from ..entities.executor import SchedulerState

        scheduler = SchedulerState.from_json(record.input)
        busy = [
            what
            for what, present in (
                ("still has state", scheduler.exists),
                (f"has {len(scheduler.queue)} queued operation(s)", bool(scheduler.queue)),
                (f"is locked by '{scheduler.locked_by}'", bool(scheduler.locked_by)),
            )
            if present
        ]
        if busy and not force:
            raise InvalidOperationError(
                f"The entity '{instance_id}' {' and '.join(busy)}; signal it 'delete' first, or purge "
                "with force=True to delete it anyway."
            )

    async def _terminate_for_purge(self, instance_id: str, record: InstanceRecord, timeout: float) -> bool:
        """Terminate a live instance and wait for a worker to record it; ``False`` if it vanished."""
        now = datetime.now(timezone.utc)
        terminate = ExecutionTerminated(input=serialization.dumps(FORCED_PURGE_REASON), timestamp=now)
        await self._send(instance_id, terminate)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        current: InstanceRecord | None = record
        while True:
            await asyncio.sleep(max(0.0, min(_PURGE_POLL_SECONDS, deadline - loop.time())))
            current = await self._storage.instances.get(instance_id, fetch_input=False, fetch_output=False)
            if current is None:
                return False  # someone else purged it meanwhile
            if current.runtime_status.is_terminal:
                return True
            if loop.time() >= deadline:
                raise OperationTimeoutError(
                    f"Instance '{instance_id}' is still {current.runtime_status.name} {timeout:g} s after "
                    "the terminate request was sent, so it was not purged (is a worker running for task "
                    f"hub '{self.task_hub_name}'?). The terminate request stays queued: the instance ends "
                    "as Terminated when a worker processes it; purge it then."
                )

    async def _delete_instance(self, instance_id: str) -> bool:
        """Delete the history rows, blobs and Instances row (in that order: the row goes last, so
        an interrupted purge can be repeated)."""
        # Message blobs are named "{instance id}/...", history and Instances blobs "{partition key}/...";
        # the trailing "/" keeps "order-1" from matching the blobs of "order-10".
        prefixes = {f"{instance_id}/", f"{escape_partition_key(instance_id)}/"}
        await asyncio.gather(
            self._storage.history.delete_instance(instance_id),
            *(self._storage.payloads.delete_prefix(prefix) for prefix in prefixes),
        )
        return await self._storage.instances.delete(instance_id)

    async def purge_instance_history_by(
        self,
        created_time_from: datetime | None = None,
        created_time_to: datetime | None = None,
        runtime_status: Iterable[OrchestrationRuntimeStatus | str] | None = None,
        on_progress: Callable[[int], None] | None = None,
    ) -> PurgeHistoryResult:
        """Purge every finished instance created in the range (only terminal statuses are purged)."""
        statuses = _statuses(runtime_status) or [s.to_status() for s in _TERMINAL_RUNTIME]
        statuses = [s for s in statuses if s.is_terminal]
        if not statuses:
            return PurgeHistoryResult(0)
        deleted = 0
        token: str | None = None
        while True:
            records, token = await self._storage.instances.query(
                created_from=created_time_from,
                created_to=created_time_to,
                statuses=statuses,
                page_size=100,
                continuation_token=token,
                fetch_output=False,
            )
            # The query returned finished instances only: delete them without reading each again.
            results = await asyncio.gather(*(self._delete_instance(r.instance_id) for r in records))
            deleted += sum(results)
            if on_progress is not None:
                on_progress(deleted)
            if not token:
                return PurgeHistoryResult(deleted)

    # ---- entities -----------------------------------------------------------------------
    async def signal_entity(
        self,
        entityId: EntityId,
        operation_name: str,
        operation_input: Any = None,
        *,
        scheduled_time: datetime | None = None,
    ) -> None:
        """Send a one-way operation to an entity (returns once it is durably enqueued).

        Each signal is one ``op`` queue message, as Durable Functions sends it; ``scheduled_time``
        (UTC if naive) delivers it then, as an ``op@<time>`` message (DF's scheduled signal). With
        ``batch_entity_signals=True`` concurrent unscheduled signals to one entity share one
        ``opbatch`` message instead (fewer requests, but DTFx workers cannot read it). Raises
        :class:`InvalidInstanceIdError` (an entity id storage cannot hold: its key is too long or
        has ``/ \\ # ?`` or control characters), :class:`InvalidInputError` (operation name) or
        :class:`SerializationError` (input) before anything is sent.
        """
        from ..entities.messages import signal_request_json
        from .signals import send_signal

        instance_id = limits.check_entity_id(entityId)
        request = signal_request_json(operation_name, operation_input, scheduled_time=scheduled_time)
        if self.batch_entity_signals and scheduled_time is None:
            await self._signals.signal(instance_id, request)
        else:
            await send_signal(self._send, instance_id, request)

    async def read_entity_state(self, entityId: EntityId) -> EntityStateResponse:
        """Whether the entity exists and its current state (:class:`InvalidInstanceIdError` for an
        entity id no entity can have)."""
        from ..entities.messages import decode_entity_state

        instance_id = limits.check_entity_id(entityId)
        record = await self._storage.instances.get(instance_id, fetch_input=True, fetch_output=False)
        if record is None:
            return EntityStateResponse(False)
        exists, state = decode_entity_state(record.input)
        return EntityStateResponse(exists, state if exists else None)

    async def delete_entity(self, entityId: EntityId) -> None:
        """Delete an entity's state (it then reads as not existing)."""
        await self.signal_entity(entityId, "delete")

    async def list_entities(
        self,
        *,
        entity_name: str | None = None,
        page_size: int = 100,
        continuation_token: str | None = None,
        fetch_state: bool = True,
        last_operation_time_from: datetime | None = None,
        last_operation_time_to: datetime | None = None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of existing entities as DF's HTTP API lists them, and the next page's token."""
        from ..entities.messages import decode_entity_state

        prefix = f"@{entity_name.lower()}@" if entity_name else "@"
        records, token = await self._storage.instances.query(
            instance_id_prefix=prefix,
            page_size=page_size,
            continuation_token=continuation_token,
            fetch_input=True,
            fetch_output=False,
            include_entities=True,
        )
        entities = []
        for record in records:
            if last_operation_time_from and record.last_updated_time < last_operation_time_from:
                continue
            if last_operation_time_to and record.last_updated_time > last_operation_time_to:
                continue
            exists, state = decode_entity_state(record.input)
            if not exists:
                continue
            entity = EntityId.get_entity_id(record.instance_id)
            item: dict[str, Any] = {
                "entityId": {"name": entity.name, "key": entity.key},
                "lastOperationTime": format_iso_seconds(record.last_updated_time),
            }
            if fetch_state:
                item["state"] = state
            entities.append(item)
        return entities, token
