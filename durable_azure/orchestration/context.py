"""``DurableOrchestrationContext``: the Durable Functions for Python orchestrator API over the replay core.

Every method that schedules work records a history event under the next sequence number in the
context's :class:`ReplayState`; the executor matches those against recorded history and reports
the unmatched ones as new actions.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from ..errors import PayloadTooLargeError
from . import limits, serialization
from .durable_http import HTTP_ACTIVITY_NAME, DurableHttpRequest, DurableHttpTask, TokenSource, check_request
from .entity_id import EntityId
from .entity_request import EntityRequest
from .history import EventSent, SubOrchestrationInstanceCreated, TaskScheduled
from .long_timers import LongTimerTask
from .net_time import ticks_of
from .replay_state import EntityLock, ReplayState
from .retry import RetryOptions
from .tasks import AtomicTask, RetryableTask, TaskBase, TimerTask, WhenAllTask, WhenAnyTask

_DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
_UUID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_OID, "9e952958-5e33-4daf-827f-2fa12937b875")
_ENTITY_REQUEST_NAMESPACE = uuid.UUID("a7a1b0c6-3c5e-4d6e-9f7e-2b0c8d4e5f60")


def function_name(target: Any, kind: str) -> str:
    """The registered name of an activity or orchestrator given as a string or a decorated function."""
    if isinstance(target, str):
        return limits.check_name(target, f"{kind} name")
    durable_name = getattr(target, "durable_function_name", None)
    if isinstance(durable_name, str):
        return limits.check_name(durable_name, f"{kind} name")
    inner = getattr(target, "_function", None)  # a Functions SDK FunctionBuilder, as DF accepts
    get_trigger = getattr(inner, "get_trigger", None)
    trigger = get_trigger() if callable(get_trigger) else None
    override = getattr(trigger, "activity", None) or getattr(trigger, "orchestration", None)
    if isinstance(override, str) and override:
        return override
    get_name = getattr(inner, "get_function_name", None)
    if callable(get_name):
        name = get_name()
        if isinstance(name, str) and name:
            return name
    raise ValueError(
        f"Expected the {kind} name or a function decorated with the {kind} trigger, got {target!r}."
    )


class DurableOrchestrationContext:
    """What an orchestrator function receives: deterministic time, ids and task factories."""

    def __init__(self, replay_state: ReplayState | None = None) -> None:
        self.instance_id = ""
        self.parent_instance_id: str | None = None
        self.execution_id = ""
        self.name = ""
        self.version: str | None = None
        self._state = replay_state if replay_state is not None else ReplayState()
        self._input_decoded = False
        self._input: Any = None
        self._uuid_counter = 0

    # ---- properties -------------------------------------------------------------------------
    @property
    def is_replaying(self) -> bool:
        """True while the code re-runs steps that history already recorded."""
        return self._state.is_replaying

    @property
    def current_utc_datetime(self) -> datetime:
        """Deterministic 'now': the time the current episode started (timezone-aware UTC)."""
        return self._state.now

    @current_utc_datetime.setter
    def current_utc_datetime(self, value: datetime) -> None:
        self._state.now = value

    @property
    def custom_status(self) -> Any:
        return self._state.custom_status

    @property
    def will_continue_as_new(self) -> bool:
        return self._state.continue_as_new is not None

    def get_input(self, expected_type: type | None = None) -> Any:
        """The orchestration input, decoded from JSON once."""
        if not self._input_decoded:
            self._input = serialization.loads(self._state.input_text)
            self._input_decoded = True
        expected_type = expected_type or self._state.input_type
        if expected_type is not None and isinstance(self._input, dict):
            from_json = getattr(expected_type, "from_json", None)
            if callable(from_json):
                return from_json(self._input)
        return self._input

    # ---- deterministic ids ------------------------------------------------------------------
    def new_uuid(self) -> str:
        """A deterministic UUID string (same algorithm as Durable Functions for Python)."""
        name = f"{self.instance_id}_{self._state.now.strftime(_DATETIME_FORMAT)}_{self._uuid_counter}"
        self._uuid_counter += 1
        return str(uuid.uuid5(_UUID_NAMESPACE, name))

    def new_guid(self) -> uuid.UUID:
        """A deterministic ``uuid.UUID`` (same algorithm as Durable Functions for Python)."""
        name = f"{self.instance_id}_{self._state.now!s}_{self._uuid_counter}"
        self._uuid_counter += 1
        return uuid.uuid5(uuid.NAMESPACE_URL, name)

    # ---- scheduling -------------------------------------------------------------------------
    def call_activity(self, name: Any, input_: Any = None, expected_type: type | None = None) -> TaskBase:
        """Schedule an activity; the task's result is its return value."""
        activity = function_name(name, "activity")
        payload = serialization.dumps(input_, what=f"input of activity '{activity}'")
        state = self._state
        event = TaskScheduled(event_id=state.next_id(), timestamp=state.now, name=activity, input=payload)
        return state.schedule(event, _decoder(expected_type))

    def call_activity_with_retry(
        self, name: Any, retry_options: RetryOptions, input_: Any = None, expected_type: type | None = None
    ) -> TaskBase:
        """Schedule an activity, retrying failures as ``retry_options`` says."""
        return RetryableTask(
            self._state, retry_options, lambda: self.call_activity(name, input_, expected_type)
        )

    def call_http(
        self,
        method: str,
        uri: str,
        content: Any = None,
        headers: dict[str, str] | None = None,
        token_source: TokenSource | None = None,
        is_raw_str: bool = False,
        *,
        asynchronous_pattern_enabled: bool = True,
    ) -> TaskBase:
        """A durable HTTP request; the task's result is ``{"statusCode", "headers", "content"}``.

        As in Durable Functions: ``content`` is sent as JSON (``is_raw_str=True`` sends a string
        as it is); ``token_source`` (:class:`ManagedIdentityTokenSource`) adds a bearer token; a
        ``202 Accepted`` with a ``Location`` header is polled on durable timers (``Retry-After``
        seconds, else 30 s) until another status comes (``asynchronous_pattern_enabled=False``
        returns the 202). Every request is recorded in history as the activity
        ``BuiltIn::HttpActivity``. An unreachable host fails the task with ``ActivityFailedError``
        (``error_type`` ``DurableHttpError``); HTTP error statuses are results, not failures.
        """
        method, uri, headers = check_request(method, uri, headers)
        if is_raw_str and not isinstance(content, str):
            raise TypeError(
                "Invalid use of 'is_raw_str' parameter: 'is_raw_str' is set to 'True' but 'content' is not "
                "an instance of type 'str'. Either set 'is_raw_str' to 'False', or ensure your 'content' "
                "is of type 'str'."
            )
        body: str | None = None
        if content is not None:
            if isinstance(content, str) and is_raw_str:
                body = content
            else:
                serialization.dumps(content, what="call_http content")  # refuses NaN, huge ints, ...
                body = json.dumps(content, default=serialization.json_default)
        if token_source is not None and not isinstance(token_source, TokenSource):
            raise TypeError(f"token_source must be a TokenSource, not {type(token_source).__name__}.")
        request = DurableHttpRequest(
            method,
            uri,
            body,
            headers,
            token_source.to_json() if token_source is not None else None,
            asynchronous_pattern_enabled,
        )
        return DurableHttpTask(
            self._state, request, lambda r: self.call_activity(HTTP_ACTIVITY_NAME, [r.to_json()])
        )

    def call_sub_orchestrator(
        self,
        name: Any,
        input_: Any = None,
        instance_id: str | None = None,
        version: str | None = None,
        expected_type: type | None = None,
    ) -> TaskBase:
        """Start a sub-orchestration and wait for its output."""
        orchestrator = function_name(name, "orchestrator")
        if instance_id:  # None or "" (as in Durable Functions): the default id
            limits.check_instance_id(instance_id)
        if version is not None:
            limits.check_name(version, "version", allow_empty=True)
        seq = self._state.next_id()  # before encoding the input, as always: replays depend on it
        payload = serialization.dumps(input_, what=f"input of sub-orchestration '{orchestrator}'")
        # The default id, "{parent}:{n}", grows with nesting: it must still fit a table key.
        child_id = instance_id or limits.check_generated_instance_id(f"{self.instance_id}:{seq}")
        event = SubOrchestrationInstanceCreated(
            event_id=seq,
            timestamp=self._state.now,
            name=orchestrator,
            instance_id=child_id,
            input=payload,
            version=version or "",
        )
        return self._state.schedule(event, _decoder(expected_type))

    def call_sub_orchestrator_with_retry(
        self,
        name: Any,
        retry_options: RetryOptions,
        input_: Any = None,
        instance_id: str | None = None,
        version: str | None = None,
        expected_type: type | None = None,
    ) -> TaskBase:
        """Start a sub-orchestration, retrying failures; retries reuse the instance id if one was given."""
        return RetryableTask(
            self._state,
            retry_options,
            lambda: self.call_sub_orchestrator(name, input_, instance_id, version, expected_type),
        )

    def create_timer(self, fire_at: datetime) -> TimerTask | LongTimerTask:
        """A durable timer that fires at ``fire_at`` (naive datetimes are taken as UTC).

        A timer further out than the maximum short-timer duration (6 days) is a chain of shorter
        timers in history, as Durable Functions records it (:mod:`.long_timers`); it completes at
        ``fire_at`` all the same.
        """
        state = self._state
        if fire_at.tzinfo is None:
            fire_at = fire_at.replace(tzinfo=timezone.utc)
        if state.timer_limits.is_long(fire_at, state.now):
            return LongTimerTask(state, fire_at, state.timer_limits)
        return state.create_timer(fire_at)

    def wait_for_external_event(self, name: str, expected_type: type | None = None) -> TaskBase:
        """Wait for an event raised to this instance. Events raised earlier are delivered once, in order."""
        limits.check_name(name, "event name")
        task = AtomicTask(name, _decoder(expected_type), name)
        self._state.add_waiter(name, task)
        return task

    def task_all(self, activities: Sequence[TaskBase]) -> TaskBase:
        """Completes with the list of results when all tasks complete; fails on the first failure."""
        return WhenAllTask(activities)

    def task_any(self, activities: Sequence[TaskBase]) -> TaskBase:
        """Completes with the first task to complete (compare it with ``==`` to see which)."""
        return WhenAnyTask(activities)

    def continue_as_new(self, input_: Any, *, preserve_unprocessed_events: bool = True) -> None:
        """Restart this instance with fresh history and ``input_`` once the function returns."""
        serialization.dumps(input_, what="continue_as_new input")
        self._state.request_continue_as_new(input_, preserve_unprocessed_events)

    def set_custom_status(self, status: Any) -> None:
        """Publish a JSON-serializable status that clients can read while the instance runs.

        Raises :class:`SerializationError` if it is not JSON (see :func:`serialization.dumps`) and
        :class:`PayloadTooLargeError` if its JSON is over 16 KiB (UTF-8), as Durable Functions does;
        a refused status leaves the previous one in place.
        """
        text = serialization.dumps(status, what="custom status")
        if text is not None and len(text) * 4 > limits.MAX_CUSTOM_STATUS_BYTES:
            size = len(text.encode("utf-8"))
            if size > limits.MAX_CUSTOM_STATUS_BYTES:
                raise PayloadTooLargeError(
                    f"The custom status is {size:,} bytes of JSON; the limit is "
                    f"{limits.MAX_CUSTOM_STATUS_BYTES:,} (as in Durable Functions). Keep large data "
                    "in activity results or blobs."
                )
        self._state.custom_status = status

    # ---- entities ---------------------------------------------------------------------------
    def _request_id(self, seq: int) -> str:
        """Deterministic id of the entity request sent at sequence number ``seq``."""
        return str(uuid.uuid5(_ENTITY_REQUEST_NAMESPACE, f"{self.instance_id}:{self.execution_id}:{seq}"))

    def _send_request(self, seq: int, target: str, request: EntityRequest) -> None:
        self._state.entity_sorter.label_outgoing(request, target, ticks_of(self._state.now))
        self._state.record_action(
            EventSent(
                event_id=seq,
                timestamp=self._state.now,
                instance_id=target,
                name="op",
                input=serialization.dumps(request.to_json()),
            )
        )

    def _entity_request(
        self, entity_id: EntityId, operation: str, operation_input: Any, signal: bool
    ) -> tuple[int, str]:
        """Record an operation request to ``entity_id``; returns its sequence number and request id."""
        target = limits.check_entity_id(_entity(entity_id))
        limits.check_name(operation, "operation name")
        seq = self._state.next_id()  # before encoding the input, as always: replays depend on it
        payload = serialization.dumps(operation_input, what=f"input of entity operation '{operation}'")
        request = EntityRequest(
            operation,
            payload,
            id=self._request_id(seq),
            signal=signal,
            parent=self.instance_id,
            parent_execution=self.execution_id,
        )
        self._send_request(seq, target, request)
        return seq, request.id

    def call_entity(
        self,
        entityId: EntityId,
        operationName: str,
        operationInput: Any = None,
        expected_type: type | None = None,
    ) -> TaskBase:
        """Call an entity operation and wait for its result (failures raise EntityOperationFailedError)."""
        seq, request_id = self._entity_request(entityId, operationName, operationInput, signal=False)
        task = AtomicTask(seq, _decoder(expected_type), f"{operationName} on {entityId}")
        return self._state.expect(request_id, task)

    def lock(self, entities: Sequence[EntityId]) -> TaskBase:
        """Lock entities for a critical section: ``with (yield context.lock([a, b])): ...``.

        Locks are taken in one global order (sorted instance ids), so two orchestrations can never
        deadlock. While held, only this orchestration's operations reach those entities. Leaving the
        ``with`` block releases them; so does the orchestration completing, failing or being terminated.
        """
        state = self._state
        if state.locks is not None:
            raise RuntimeError(
                "This orchestration already holds entity locks; release them before locking again."
            )
        targets = sorted({limits.check_entity_id(_entity(e)) for e in entities})
        if not targets:
            raise ValueError("lock() needs at least one EntityId.")
        seq = state.next_id()
        request_id = self._request_id(seq)
        request = EntityRequest(
            "",
            id=request_id,
            signal=False,
            parent=self.instance_id,
            parent_execution=self.execution_id,
            lockset=targets,
        )
        self._send_request(seq, targets[0], request)
        handle = EntityLock(state, self.instance_id, targets, request_id)

        def acquired(_: Any) -> EntityLock:
            state.locks = handle
            return handle

        return state.expect(request_id, AtomicTask(seq, acquired, f"lock {', '.join(targets)}"))

    @property
    def is_locked(self) -> bool:
        """True while this orchestration holds entity locks."""
        return self._state.locks is not None

    def signal_entity(self, entityId: EntityId, operationName: str, operationInput: Any = None) -> TaskBase:
        """Send a one-way operation to an entity. The returned task is already complete."""
        seq, _ = self._entity_request(entityId, operationName, operationInput, signal=True)
        task = AtomicTask(seq)
        task._succeed(None)
        return task

    # ---- logging ----------------------------------------------------------------------------
    def create_replay_safe_logger(self, logger: logging.Logger | str) -> logging.LoggerAdapter[Any]:
        """A logger that stays silent while the orchestrator replays, so each line appears once."""
        base = logging.getLogger(logger) if isinstance(logger, str) else logger
        return _ReplaySafeLogger(base, self)


def _entity(value: Any) -> EntityId:
    if not isinstance(value, EntityId):
        raise TypeError(f"Expected an EntityId, got {type(value).__name__}.")
    return value


if TYPE_CHECKING:
    _LoggerAdapter = logging.LoggerAdapter[logging.Logger]
else:
    _LoggerAdapter = logging.LoggerAdapter  # not subscriptable at runtime before Python 3.11


class _ReplaySafeLogger(_LoggerAdapter):
    def __init__(self, logger: logging.Logger, context: DurableOrchestrationContext) -> None:
        super().__init__(logger, {})
        self._context = context

    def isEnabledFor(self, level: int) -> bool:
        return not self._context.is_replaying and self.logger.isEnabledFor(level)

    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        extra = dict(kwargs.get("extra") or {})
        extra.setdefault("instance_id", self._context.instance_id)
        kwargs["extra"] = extra
        return msg, kwargs


def _decoder(expected_type: type | None) -> Callable[[Any], Any] | None:
    if expected_type is None:
        return None
    from_json = getattr(expected_type, "from_json", None)
    if not callable(from_json):
        return None

    def decode(value: Any) -> Any:
        return from_json(value) if isinstance(value, dict) else value

    return decode
