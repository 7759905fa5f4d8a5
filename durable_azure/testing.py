"""Run orchestrators in-process for unit tests: scripted activities, events and a virtual clock.

    from durable_azure.testing import run_orchestrator

    result = run_orchestrator(my_orchestrator, {"city": "Tokyo"},
                              activities={"SayHello": lambda city: f"Hello {city}!"})
    assert result.status == "Completed" and result.output == ["Hello Tokyo!"]

No storage is involved: the real replay core runs episode by episode, exactly as the worker
drives it, and the complete history is returned for inspection.
"""

from __future__ import annotations

import heapq
import inspect
import traceback
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from .errors import FailureDetails
from .orchestration import serialization
from .orchestration.context import DurableOrchestrationContext
from .orchestration.executor import Orchestrator, execute
from .orchestration.history import (
    EventRaised,
    EventSent,
    ExecutionStarted,
    HistoryEvent,
    OrchestrationStatus,
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

DEFAULT_START = datetime(2026, 1, 1, tzinfo=timezone.utc)

__all__ = ["ExternalEvent", "OrchestrationTestResult", "orchestrator_generator_wrapper", "run_orchestrator"]


@dataclass(frozen=True)
class ExternalEvent:
    """An event to raise: at ``after`` (time since start), or, if ``None``, as soon as the instance is idle."""

    name: str
    data: Any = None
    after: timedelta | None = None


@dataclass
class OrchestrationTestResult:
    """Outcome of :func:`run_orchestrator`."""

    status: str
    output: Any
    custom_status: Any
    history: list[HistoryEvent]
    failure: FailureDetails | None = None
    activity_calls: list[tuple[str, Any]] = field(default_factory=list)
    sent_events: list[EventSent] = field(default_factory=list)
    current_time: datetime = DEFAULT_START
    episodes: int = 0


def _script_result(script: Any, argument: Any) -> Any:
    if isinstance(script, BaseException):
        raise script
    if isinstance(script, type) and issubclass(script, BaseException):
        raise script()
    if callable(script):
        return script(argument)
    return script


def _failure(error: BaseException) -> FailureDetails:
    return FailureDetails(
        error_type=type(error).__name__,
        error_message=str(error),
        stack_trace="".join(traceback.format_exception(type(error), error, error.__traceback__)),
    )


def run_orchestrator(
    orchestrator: Orchestrator | Any,
    input: Any = None,
    *,
    activities: Mapping[str, Any] | None = None,
    sub_orchestrators: Mapping[str, Any] | None = None,
    entities: Mapping[str, Any] | None = None,
    events: Sequence[ExternalEvent | tuple[str, Any]] = (),
    start_time: datetime = DEFAULT_START,
    instance_id: str = "test-instance",
    name: str | None = None,
    max_episodes: int = 100_000,
    version: str | None = None,
) -> OrchestrationTestResult:
    """Drive ``orchestrator`` to completion (or until it waits for something nobody will send).

    ``activities`` maps an activity name to a value, a callable taking the activity input, or an
    exception (instance or class) to raise. ``sub_orchestrators`` maps a name to an orchestrator
    function (run recursively) or to a scripted value/exception like activities. ``entities``
    maps ``"entityname.operation"`` to a scripted result for ``call_entity``. ``events`` are raised
    in order: timed ones at their time, the others whenever the instance is idle. Timers fire on a
    virtual clock that jumps forward, so a 72-hour timer takes no real time. ``version`` is the
    instance's version (``context.version``).
    """
    fn = _orchestrator_function(orchestrator)
    activities = activities or {}
    sub_orchestrators = sub_orchestrators or {}
    entities = entities or {}
    now = start_time
    idle_events = [e if isinstance(e, ExternalEvent) else ExternalEvent(*e) for e in events]
    timed: list[tuple[datetime, int, HistoryEvent]] = []
    order = 0
    for event in list(idle_events):
        if event.after is not None:
            idle_events.remove(event)
            timed.append((start_time + event.after, order, _raised(event, start_time + event.after)))
            order += 1
    heapq.heapify(timed)

    history: list[HistoryEvent] = []
    inbox: list[HistoryEvent] = [
        ExecutionStarted(
            name=name or str(getattr(fn, "__name__", "orchestrator")),
            instance_id=instance_id,
            execution_id="test-execution",
            input=serialization.dumps(input, what="orchestration input"),
            version=version or "",
            timestamp=now,
        )
    ]
    result = OrchestrationTestResult("Running", None, None, history, current_time=now)
    for _ in range(max_episodes):
        if not inbox:
            if idle_events:
                inbox.append(_raised(idle_events.pop(0), now))
            elif timed:
                now, _, due = heapq.heappop(timed)
                inbox.append(due)
                while timed and timed[0][0] <= now:
                    inbox.append(heapq.heappop(timed)[2])
            else:
                break
        episode = execute(fn, history, [OrchestratorStarted(timestamp=now), *inbox])
        inbox = []
        result.episodes += 1
        history.extend(episode.new_events)
        result.custom_status = serialization.loads(episode.custom_status)
        for action in episode.actions:
            if isinstance(action, TaskScheduled):
                argument = serialization.loads(action.input)
                result.activity_calls.append((action.name, argument))
                inbox.append(_run_activity(action, activities, argument, now))
            elif isinstance(action, TimerCreated):
                heapq.heappush(
                    timed,
                    (
                        action.fire_at,
                        order,
                        TimerFired(
                            timer_id=action.event_id, fire_at=action.fire_at, timestamp=action.fire_at
                        ),
                    ),
                )
                order += 1
            elif isinstance(action, SubOrchestrationInstanceCreated):
                finished_at, outcome = _run_sub_orchestrator(action, sub_orchestrators, activities, now)
                if finished_at > now:  # the child's timers took virtual time
                    heapq.heappush(timed, (finished_at, order, outcome))
                    order += 1
                else:
                    inbox.append(outcome)
            elif isinstance(action, EventSent):
                result.sent_events.append(action)
                response = _entity_response(action, entities, now)
                if response is not None:
                    inbox.append(response)
        if episode.completion is not None:
            completion = episode.completion
            result.status = completion.status.name
            result.failure = completion.failure
            result.output = serialization.loads(completion.output)
            if completion.status is OrchestrationStatus.ContinuedAsNew:
                result.status = "ContinuedAsNew"
            break
    result.current_time = now
    return result


def _raised(event: ExternalEvent, at: datetime) -> EventRaised:
    return EventRaised(name=event.name, input=serialization.dumps(event.data), timestamp=at)


def _run_activity(
    action: TaskScheduled, scripts: Mapping[str, Any], argument: Any, now: datetime
) -> HistoryEvent:
    if action.name not in scripts:
        error: BaseException = LookupError(
            f"No scripted result for activity '{action.name}'; pass activities={{'{action.name}': ...}}."
        )
        return TaskFailed(
            task_scheduled_id=action.event_id,
            reason=str(error),
            failure_details=_failure(error),
            timestamp=now,
        )
    try:
        value = _script_result(scripts[action.name], argument)
        return TaskCompleted(
            task_scheduled_id=action.event_id, result=serialization.dumps(value), timestamp=now
        )
    except Exception as error:
        return TaskFailed(
            task_scheduled_id=action.event_id,
            reason=str(error),
            failure_details=_failure(error),
            timestamp=now,
        )


def _run_sub_orchestrator(
    action: SubOrchestrationInstanceCreated,
    scripts: Mapping[str, Any],
    activities: Mapping[str, Any],
    now: datetime,
) -> tuple[datetime, HistoryEvent]:
    """Run (or script) a sub-orchestration: when it finished on the virtual clock, and its outcome."""
    script = scripts.get(action.name)
    argument = serialization.loads(action.input)
    done = now
    try:
        if script is None:
            raise LookupError(
                f"No sub-orchestrator '{action.name}'; pass sub_orchestrators={{'{action.name}': fn_or_value}}."
            )
        if inspect.isgeneratorfunction(_orchestrator_function(script, strict=False)):
            child = run_orchestrator(
                script,
                argument,
                activities=activities,
                sub_orchestrators=scripts,
                start_time=now,
                instance_id=action.instance_id,
                name=action.name,
            )
            done = child.current_time
            if child.status != "Completed":
                failure = child.failure or FailureDetails(
                    "OrchestrationNotCompleted", f"status {child.status}"
                )
                return done, SubOrchestrationInstanceFailed(
                    task_scheduled_id=action.event_id,
                    reason=failure.error_message,
                    failure_details=failure,
                    timestamp=done,
                )
            value = child.output
        else:
            value = _script_result(script, argument)
        completed = SubOrchestrationInstanceCompleted(
            task_scheduled_id=action.event_id, result=serialization.dumps(value), timestamp=done
        )
        return done, completed
    except Exception as error:
        failed = SubOrchestrationInstanceFailed(
            task_scheduled_id=action.event_id,
            reason=str(error),
            failure_details=_failure(error),
            timestamp=done,
        )
        return done, failed


def _entity_response(action: EventSent, scripts: Mapping[str, Any], now: datetime) -> EventRaised | None:
    request = serialization.loads(action.input)
    if not isinstance(request, dict) or request.get("signal") or "id" not in request:
        return None
    entity_name = action.instance_id[1:].split("@", 1)[0]
    key = f"{entity_name}.{request.get('op')}"
    try:
        if key not in scripts:
            raise LookupError(f"No scripted result for entity call '{key}'; pass entities={{'{key}': ...}}.")
        value = _script_result(scripts[key], serialization.loads(request.get("input")))
        body = {"result": serialization.dumps(value)}
    except Exception as error:
        body = {"result": serialization.dumps(str(error)), "exceptionType": type(error).__name__}
    return EventRaised(name=request["id"], input=serialization.dumps(body), timestamp=now)


def _orchestrator_function(
    target: Any, *, strict: bool = True
) -> Callable[[DurableOrchestrationContext], Any]:
    """Accept a plain generator function or a DFApp-decorated orchestrator."""
    fn = getattr(target, "orchestrator_function", None)
    if fn is None:
        build = getattr(target, "build", None)
        if callable(build):
            fn = getattr(build().get_user_function(), "orchestrator_function", None)
    if fn is None:
        fn = target
    if strict and not callable(fn):
        raise TypeError(f"Expected an orchestrator function, got {target!r}.")
    orchestrator: Callable[[DurableOrchestrationContext], Any] = fn
    return orchestrator


def orchestrator_generator_wrapper(generator: Generator[Any, Any, Any]) -> Generator[Any, Any, None]:
    """azure-functions-durable's helper: drive a generator against mock tasks.

    Yields each task the orchestrator yields; sends back the task's ``result`` (or throws it if
    reading ``result`` raises, or if it is an exception); finally yields the return value.
    """
    try:
        previous = next(generator)
    except StopIteration as stop:
        yield stop.value
        return
    while True:
        yield previous
        try:
            try:
                value = previous.result
            except Exception as error:
                previous = generator.throw(error)
                continue
            if isinstance(value, BaseException):
                previous = generator.throw(value)
            else:
                previous = generator.send(value)
        except StopIteration as stop:
            yield stop.value
            return
