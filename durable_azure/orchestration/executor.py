"""The replay executor: run an orchestrator against its history and the new events.

``execute(orchestrator, past_events, new_events)`` is pure: no I/O, clock or threads. It replays
``past_events`` (``is_replaying`` true), applies ``new_events`` live, and returns the history
events to append, the new actions among them, and the completion if the orchestration finished.
"""

from __future__ import annotations

import dataclasses
import inspect
import traceback
from collections.abc import Callable, Generator, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import (
    ActivityFailedError,
    EntityOperationFailedError,
    FailureDetails,
    NonDeterminismError,
    OrchestratorError,
    PayloadTooLargeError,
    SubOrchestrationFailedError,
)
from . import serialization
from .context import DurableOrchestrationContext
from .entity_request import LOCK_ACQUIRED
from .history import (
    EventRaised,
    EventSent,
    ExecutionCompleted,
    ExecutionResumed,
    ExecutionStarted,
    ExecutionSuspended,
    ExecutionTerminated,
    HistoryEvent,
    OrchestrationStatus,
    OrchestratorCompleted,
    OrchestratorStarted,
    SubOrchestrationInstanceCompleted,
    SubOrchestrationInstanceCreated,
    SubOrchestrationInstanceFailed,
    TaskCompleted,
    TaskFailed,
    TaskScheduled,
    TimerCreated,
    TimerFired,
)
from .limits import MAX_CUSTOM_STATUS_BYTES
from .long_timers import TimerLimits
from .net_time import parse_ticks
from .replay_state import ReplayState
from .tasks import AtomicTask, TaskBase, TaskState, TimerTask, WhenAllTask

Orchestrator = Callable[[DurableOrchestrationContext], Any]

_ACTION_TYPES = (TaskScheduled, TimerCreated, SubOrchestrationInstanceCreated, EventSent)
_RUN_WHILE_SUSPENDED = frozenset({ExecutionResumed, ExecutionTerminated, OrchestratorStarted, *_ACTION_TYPES})


@dataclass(frozen=True, slots=True)
class Completion:
    """How an execution ended. ``output`` is JSON text (for continue-as-new: the new input)."""

    status: OrchestrationStatus
    output: str | None = None
    failure: FailureDetails | None = None
    carryover_events: tuple[EventRaised, ...] = ()


@dataclass(frozen=True, slots=True)
class OrchestrationResult:
    """What one episode produced."""

    new_events: list[HistoryEvent]
    completion: Completion | None
    custom_status: str | None
    actions: list[HistoryEvent] = field(default_factory=list)

    @property
    def is_complete(self) -> bool:
        return self.completion is not None


def failure_from_exception(error: BaseException) -> FailureDetails:
    """FailureDetails carrying the exception's type name, message and formatted stack."""
    details = getattr(error, "failure_details", None)
    inner = details if isinstance(details, FailureDetails) else None
    return FailureDetails(
        error_type=type(error).__name__,
        error_message=str(error),
        stack_trace="".join(traceback.format_exception(type(error), error, error.__traceback__)),
        inner_failure=inner,
    )


def describe_action(event: HistoryEvent) -> str:
    """Human-readable description of a scheduling event, for error messages."""
    if isinstance(event, TaskScheduled):
        return f"a call to activity '{event.name}'"
    if isinstance(event, SubOrchestrationInstanceCreated):
        return f"a call to sub-orchestration '{event.name}' (instance '{event.instance_id}')"
    if isinstance(event, TimerCreated):
        return f"a timer firing at {event.fire_at.isoformat()}"
    if isinstance(event, EventSent):
        return f"an event '{event.name}' sent to '{event.instance_id}'"
    return type(event).__name__


def _request_id(text: str | None) -> str | None:
    try:
        data = serialization.loads(text)
    except Exception:
        return None
    value = data.get("id") if isinstance(data, dict) else None
    return value if isinstance(value, str) else None


def _same_action(recorded: HistoryEvent, asked: HistoryEvent) -> bool:
    if type(recorded) is not type(asked):
        return False
    if isinstance(recorded, TaskScheduled) and isinstance(asked, TaskScheduled):
        return recorded.name == asked.name
    if isinstance(recorded, SubOrchestrationInstanceCreated) and isinstance(
        asked, SubOrchestrationInstanceCreated
    ):
        return recorded.name == asked.name and recorded.instance_id == asked.instance_id
    if isinstance(recorded, EventSent) and isinstance(asked, EventSent):
        return recorded.instance_id == asked.instance_id and recorded.name == asked.name
    return True


_CAUSES = (
    "Orchestrator code must be deterministic: it must not branch on datetime.now(), random numbers, "
    "uuid4(), environment variables or I/O (use context.current_utc_datetime, context.new_uuid() and "
    "activities instead). The other usual cause is orchestrator code that changed while this instance "
    "was in flight: finish or terminate old instances before deploying breaking changes, or version "
    "the orchestrator under a new name."
)


class _Replay:
    """State of one execution of an orchestrator while its history is applied."""

    def __init__(self, orchestrator: Orchestrator, timer_limits: TimerLimits | None = None) -> None:
        self.orchestrator = orchestrator
        self.state = ReplayState(timer_limits)
        self.ctx = DurableOrchestrationContext(self.state)
        self.generator: Generator[Any, Any, Any] | None = None
        self.awaited: TaskBase | None = None
        self.completion: Completion | None = None
        self.suspended = False
        self.nondeterministic = False
        self.recorded_completion = False
        self.held: list[HistoryEvent] = []
        self.handlers: dict[type, Callable[[Any], None]] = {
            OrchestratorStarted: self._on_orchestrator_started,
            ExecutionStarted: self._on_execution_started,
            TaskScheduled: self._on_scheduled,
            SubOrchestrationInstanceCreated: self._on_scheduled,
            TimerCreated: self._on_scheduled,
            EventSent: self._on_scheduled,
            TaskCompleted: self._on_task_completed,
            SubOrchestrationInstanceCompleted: self._on_task_completed,
            TaskFailed: self._on_task_failed,
            SubOrchestrationInstanceFailed: self._on_task_failed,
            TimerFired: self._on_timer_fired,
            EventRaised: self._on_event_raised,
            ExecutionTerminated: self._on_terminated,
            ExecutionSuspended: self._on_suspended,
            ExecutionResumed: self._on_resumed,
        }

    # ---- driving ------------------------------------------------------------------------
    def apply(self, event: HistoryEvent) -> None:
        if self.completion is not None:
            self._after_completion(event)
            return
        kind = type(event)
        if self.suspended and kind not in _RUN_WHILE_SUSPENDED:
            self.held.append(event)
            return
        handler = self.handlers.get(kind)
        if handler is None:
            return  # OrchestratorCompleted, GenericEvent (rewound rows), ExecutionCompleted, ...
        try:
            handler(event)
            self._resume()
        except NonDeterminismError as error:
            self.nondeterministic = True
            self._fail(error)

    def _after_completion(self, event: HistoryEvent) -> None:
        """Past the end of the code: a recorded action the code no longer asks for is non-determinism."""
        completion = self.completion
        continue_as_new = self.state.continue_as_new
        if (
            isinstance(event, EventRaised)
            and completion is not None
            and completion.status is OrchestrationStatus.ContinuedAsNew
            and continue_as_new is not None
            and continue_as_new.preserve_unprocessed_events
        ):  # events arriving after continue_as_new in the same episode go to the next execution
            self.completion = dataclasses.replace(
                completion, carryover_events=(*completion.carryover_events, event)
            )
        elif isinstance(event, ExecutionCompleted):
            self.recorded_completion = True
        elif isinstance(event, _ACTION_TYPES) and not self.nondeterministic:
            try:
                self._on_scheduled(event)
            except NonDeterminismError as error:
                self.nondeterministic = True
                self.completion = None
                self._fail(error)

    def _resume(self) -> None:
        ctx = self.ctx
        while self.generator is not None and self.awaited is not None and self.awaited.is_completed:
            task = self.awaited
            self.awaited = None
            try:
                if task.is_faulted:
                    yielded = self.generator.throw(task.result)
                else:
                    yielded = self.generator.send(task.result)
            except StopIteration as stop:
                self._finish(stop.value)
                return
            except NonDeterminismError:
                raise
            except Exception as error:  # the orchestrator raised: the execution fails
                self._fail(error)
                return
            if self.state.continue_as_new is not None:
                self.generator.close()
                self._finish(None)
                return
            if not isinstance(yielded, TaskBase):
                self._fail(
                    OrchestratorError(
                        f"Orchestrator '{ctx.name}' yielded {yielded!r}; yield only tasks returned by "
                        "context methods (call_activity, create_timer, task_all, ...)."
                    )
                )
                return
            self.awaited = yielded

    def _start(self) -> None:
        ctx = self.ctx
        try:
            result = self.orchestrator(ctx)
        except Exception as error:
            self._fail(error)
            return
        if inspect.iscoroutine(result):
            result.close()
            self._fail(
                OrchestratorError(
                    f"Orchestrator '{ctx.name}' is an 'async def' function. Orchestrators must be generator "
                    "functions that 'yield' tasks (def orchestrator(context): result = yield context.call_activity(...))."
                )
            )
            return
        if not inspect.isgenerator(result):
            self._finish(result)
            return
        self.generator = result
        primer = TaskBase(-1)
        primer.state = TaskState.SUCCEEDED  # send(None) starts the generator
        self.awaited = primer
        self._resume()

    # ---- completion ---------------------------------------------------------------------
    def _finish(self, value: Any) -> None:
        state = self.state
        self.generator = None
        if state.continue_as_new is not None:
            carry: tuple[EventRaised, ...] = ()
            if state.continue_as_new.preserve_unprocessed_events:
                carry = tuple(
                    EventRaised(name=name, input=p, timestamp=state.now)
                    for name, p in state.buffered_events()
                )
            self.completion = Completion(
                OrchestrationStatus.ContinuedAsNew,
                serialization.dumps(state.continue_as_new.input),
                carryover_events=carry,
            )
            return
        try:
            output = serialization.dumps(value, what=f"return value of orchestrator '{self.ctx.name}'")
        except Exception as error:
            self._fail(error)
            return
        self.completion = Completion(OrchestrationStatus.Completed, output)

    def _fail(self, error: BaseException) -> None:
        if self.generator is not None:
            self.generator.close()
            self.generator = None
        failure = failure_from_exception(error)
        self.completion = Completion(
            OrchestrationStatus.Failed,
            serialization.dumps(f"{failure.error_type}: {failure.error_message}"),
            failure=failure,
        )

    # ---- event handlers -----------------------------------------------------------------
    def _on_orchestrator_started(self, event: OrchestratorStarted) -> None:
        self.state.advance_clock(event.timestamp)

    def _on_execution_started(self, event: ExecutionStarted) -> None:
        ctx = self.ctx
        ctx.instance_id = event.instance_id
        ctx.execution_id = event.execution_id
        ctx.name = event.name
        ctx.version = event.version or None
        ctx.parent_instance_id = event.parent.instance_id if event.parent else None
        input_type = getattr(self.orchestrator, "durable_input_type", None)
        self.state.start_execution(event.input, input_type, event.timestamp)
        self._start()

    def _on_scheduled(self, event: HistoryEvent) -> None:
        asked = self.state.pending_action(event.event_id)
        if asked is not None and _same_action(event, asked):
            self.state.match_action(event.event_id)
            if isinstance(event, EventSent) and isinstance(asked, EventSent) and event.input != asked.input:
                self._adopt_request_id(event, asked)
                self._adopt_stamps(event, asked)
            if isinstance(event, TimerCreated):
                self.state.timer_recorded(event.event_id, event.fire_at)
            return
        wanted = f"the code now asks for {describe_action(asked)}" if asked else "the code did not ask for it"
        raise NonDeterminismError(
            f"Non-deterministic orchestration '{self.ctx.name}' (instance '{self.ctx.instance_id}'): "
            f"at sequence number {event.event_id} history recorded {describe_action(event)}, but {wanted}. "
            + _CAUSES
        )

    def _adopt_request_id(self, recorded: EventSent, asked: EventSent) -> None:
        """An entity request another engine recorded (Durable Functions draws request ids at random)
        is answered under the recorded id: the call awaits that one instead of ours."""
        old, new = _request_id(asked.input), _request_id(recorded.input)
        if old and new and old != new:
            self.state.rekey(old, new)

    def _adopt_stamps(self, recorded: EventSent, asked: EventSent) -> None:
        """The orchestration's sorter continues from the stamps history recorded, not the ones this
        replay computed: none for a request an older durable-azure sent unstamped, Durable Functions'
        own for one it sent. Otherwise the next request to that entity would name a predecessor the
        entity never received, and the entity would hold it back."""
        if asked.name != "op":  # releases carry no stamps
            return
        try:
            data = serialization.loads(recorded.input)
        except Exception:
            return
        if isinstance(data, dict):
            self.state.entity_sorter.adopt_sent(recorded.instance_id, parse_ticks(data.get("Timestamp")))

    def _on_task_completed(self, event: TaskCompleted | SubOrchestrationInstanceCompleted) -> None:
        task = self.state.take_task(event.task_scheduled_id)
        if task is not None:
            task._complete_with_json(event.result)

    def _on_task_failed(self, event: TaskFailed | SubOrchestrationInstanceFailed) -> None:
        task = self.state.take_task(event.task_scheduled_id)
        if task is None:
            return
        details = event.failure_details or FailureDetails(
            error_type="Exception", error_message=event.reason or "", stack_trace=event.details
        )
        error_type = ActivityFailedError if isinstance(event, TaskFailed) else SubOrchestrationFailedError
        task._fail(error_type(task.name, details))

    def _on_timer_fired(self, event: TimerFired) -> None:
        task = self.state.take_task(event.timer_id)
        if task is not None and not (isinstance(task, TimerTask) and task.is_cancelled):
            task._succeed(None)

    def _on_event_raised(self, event: EventRaised) -> None:
        response_task = self.state.take_task(event.name)
        if response_task is not None:
            self._on_entity_response(response_task, event)
            return
        self.state.deliver_event(event.name, event.input, self.awaited)

    def _on_entity_response(self, task: AtomicTask, event: EventRaised) -> None:
        response = serialization.loads(event.input) or {}
        if not isinstance(response, dict):
            task._complete_with(response)
            return
        if response.get("exceptionType") or response.get("failureDetails"):
            details = response.get("failureDetails") or {}
            failure = FailureDetails(
                error_type=str(details.get("ErrorType") or response.get("exceptionType") or "Exception"),
                error_message=str(
                    details.get("ErrorMessage") or serialization.loads_stored(response.get("result")) or ""
                ),
                stack_trace=details.get("StackTrace"),
            )
            task._fail(EntityOperationFailedError(task.name, failure))
            return
        result = response.get("result")
        if result == LOCK_ACQUIRED:  # DTFx and DF write the lock answer as a plain string, not JSON
            task._complete_with(result)
            return
        task._complete_with_json(result)

    def _on_terminated(self, event: ExecutionTerminated) -> None:
        if self.generator is not None:
            self.generator.close()
            self.generator = None
        self.completion = Completion(OrchestrationStatus.Terminated, event.input)

    def _on_suspended(self, event: ExecutionSuspended) -> None:
        self.suspended = True

    def _on_resumed(self, event: ExecutionResumed) -> None:
        self.suspended = False
        held, self.held = self.held, []
        for item in held:
            self.apply(item)


class ReplaySession:
    """An orchestration kept live between episodes: replay once, then apply only new events.

    A worker that caches the session for an instance pays for replay only after a cache miss,
    so a chain of N steps costs O(N) replay work instead of O(N^2). Results are identical to
    :func:`execute` over the full history, because the same state machine consumes the same events.
    """

    def __init__(
        self,
        orchestrator: Orchestrator,
        past_events: Iterable[HistoryEvent] = (),
        *,
        timer_limits: TimerLimits | None = None,
    ) -> None:
        self._replay = _Replay(orchestrator, timer_limits)
        state = self._replay.state
        state.is_replaying = True
        apply = self._replay.apply
        for event in past_events:
            apply(event)
        state.is_replaying = False

    @property
    def completion(self) -> Completion | None:
        return self._replay.completion

    @property
    def finished_in_history(self) -> bool:
        """True when the replayed history already holds the execution's completion."""
        return self._replay.recorded_completion

    def waiting_for(self) -> list[str]:
        """Names of the external events the orchestrator waits for right now (for telemetry)."""
        return self._replay.state.waiting_for()

    def successes_needed(self) -> int:
        """The fewest successful task results after which the orchestrator can run again: the open
        children of a ``task_all`` it awaits, else 1. (A failure can wake it sooner.)"""
        awaited = self._replay.awaited
        if isinstance(awaited, WhenAllTask) and not awaited.is_completed:
            return max(1, awaited.open_children)
        return 1

    def run_episode(self, new_events: Iterable[HistoryEvent]) -> OrchestrationResult:
        """Apply ``new_events`` live and return what this episode adds to history."""
        replay = self._replay
        if replay.recorded_completion:
            return OrchestrationResult([], replay.completion, None)
        state = replay.state
        state.is_replaying = False
        appended = list(new_events)
        for event in appended:
            replay.apply(event)
        custom_status: str | None = None
        try:
            custom_status = serialization.dumps(state.custom_status, what="custom status")
            if custom_status is not None and len(custom_status.encode("utf-8")) > MAX_CUSTOM_STATUS_BYTES:
                size = len(custom_status.encode("utf-8"))
                custom_status = None
                raise PayloadTooLargeError(
                    f"The custom status is {size:,} bytes of JSON; the limit is {MAX_CUSTOM_STATUS_BYTES:,} "
                    "(as in Durable Functions). Keep large data in activity results or blobs."
                )
        except Exception as error:
            replay._fail(error)
        completion = replay.completion
        if completion is not None and not replay.nondeterministic:
            state.release_locks()  # a finished orchestration never keeps entities locked
        if completion is not None and replay.nondeterministic:
            state.drain_actions()
            actions: list[HistoryEvent] = []
        elif completion is not None and completion.status is OrchestrationStatus.ContinuedAsNew:
            request = state.continue_as_new
            actions = state.drain_actions(before=request.sequence if request is not None else 0)
        else:
            actions = state.drain_actions()
        appended.extend(actions)
        if completion is not None:
            appended.append(
                ExecutionCompleted(
                    event_id=state.next_id(),
                    timestamp=state.now,
                    orchestration_status=completion.status,
                    result=completion.output,
                    failure_details=completion.failure,
                )
            )
            replay.recorded_completion = True
        appended.append(OrchestratorCompleted(timestamp=state.now))
        return OrchestrationResult(appended, completion, custom_status, actions)


def execute(
    orchestrator: Orchestrator,
    past_events: Sequence[HistoryEvent],
    new_events: Iterable[HistoryEvent],
    *,
    timer_limits: TimerLimits | None = None,
) -> OrchestrationResult:
    """Replay ``past_events``, apply ``new_events`` and report what this episode adds to history.

    If the history already holds a completed execution, nothing is added and the completion is
    returned as it was. ``timer_limits`` say when a timer is split (default: Durable Functions' 6 and
    3 days, :mod:`.long_timers`).
    """
    session = ReplaySession(orchestrator, past_events, timer_limits=timer_limits)
    if session.finished_in_history:
        return OrchestrationResult([], session.completion, None)
    return session.run_episode(new_events)
