"""DurableOrchestrationContext: every method, driven through the real executor episode by episode."""

from __future__ import annotations

import json
import logging
import sys
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)  # history_factory, importable under --import-mode=importlib

from history_factory import (  # noqa: E402
    INSTANCE_ID,
    T0,
    Episodes,
    Point,
    at,
    entity_failure_response,
    entity_response,
    event_raised,
    execution_started,
    failure_details,
    orchestrator_started,
    sub_orchestration_completed,
    sub_orchestration_failed,
    task_completed,
    task_failed,
    timer_fired,
)

import durable_azure as df  # noqa: E402
from durable_azure.orchestration import serialization  # noqa: E402
from durable_azure.orchestration.executor import execute  # noqa: E402
from durable_azure.orchestration.history import (  # noqa: E402
    EventSent,
    ExecutionCompleted,
    OrchestrationStatus,
    SubOrchestrationInstanceCreated,
    TaskScheduled,
    TimerCreated,
)
from durable_azure.orchestration.tasks import TaskState  # noqa: E402


def _output(result: Any) -> Any:
    assert result.completion is not None, "orchestration did not complete"
    assert result.completion.status is OrchestrationStatus.Completed, result.completion
    return json.loads(result.completion.output) if result.completion.output is not None else None


def _failure(result: Any) -> Any:
    assert result.completion is not None, "orchestration did not complete"
    assert result.completion.status is OrchestrationStatus.Failed, result.completion
    assert result.completion.failure is not None
    return result.completion.failure


# ============================================================================ get_input & identity
class TestInput:
    def test_get_input_is_decoded_once_and_returns_the_same_object(self) -> None:
        seen: list[Any] = []

        def orch(ctx: Any) -> Any:
            first = ctx.get_input()
            first["added"] = True  # visible through the second call only if the same object comes back
            second = ctx.get_input()
            seen.append((first, second))
            return second

        result = Episodes(orch).start({"city": "Tokyo", "n": [1, 2]})
        first, second = seen[0]
        assert first is second
        assert _output(result) == {"city": "Tokyo", "n": [1, 2], "added": True}

    def test_get_input_expected_type_uses_from_json(self) -> None:
        def orch(ctx: Any) -> Any:
            point = ctx.get_input(expected_type=Point)
            assert isinstance(point, Point)
            return [point.x, point.y]

        assert _output(Episodes(orch).start({"x": 3, "y": 4})) == [3, 4]

    def test_get_input_decodes_custom_object_convention(self) -> None:
        raw = serialization.dumps(Point(5, 6))
        assert raw is not None and "__class__" in raw

        def orch(ctx: Any) -> Any:
            point = ctx.get_input()
            return type(point).__name__, point.x, point.y

        assert _output(Episodes(orch).start(raw=raw)) == ["Point", 5, 6]

    def test_get_input_without_input_is_none(self) -> None:
        def orch(ctx: Any) -> Any:
            return {"input": ctx.get_input(), "typed": ctx.get_input(expected_type=Point)}

        assert _output(Episodes(orch).start()) == {"input": None, "typed": None}

    def test_get_input_string_payload_is_not_double_decoded(self) -> None:
        def orch(ctx: Any) -> Any:
            return ctx.get_input()

        assert _output(Episodes(orch).start("42")) == "42"  # the JSON string "42", not the number

    def test_instance_id_name_and_parent_from_execution_started(self) -> None:
        def orch(ctx: Any) -> Any:
            return {
                "instance_id": ctx.instance_id,
                "parent": ctx.parent_instance_id,
                "name": ctx.name,
                "version": ctx.version,
            }

        child = Episodes(orch).start(instance_id="child-7", parent_instance_id="parent-3", version="2.1")
        assert _output(child) == {
            "instance_id": "child-7",
            "parent": "parent-3",
            "name": "Orch",
            "version": "2.1",
        }
        top = Episodes(orch).start()
        assert _output(top) == {"instance_id": INSTANCE_ID, "parent": None, "name": "Orch", "version": None}


# ============================================================================ time and ids
class TestClockAndIds:
    def test_current_utc_datetime_is_the_orchestrator_started_time_of_each_episode(self) -> None:
        seen: list[datetime] = []

        def orch(ctx: Any) -> Any:
            seen.append(ctx.current_utc_datetime)
            yield ctx.call_activity("A")
            seen.append(ctx.current_utc_datetime)
            yield ctx.call_activity("B")
            seen.append(ctx.current_utc_datetime)
            return ctx.current_utc_datetime.isoformat()

        eps = Episodes(orch)
        eps.start(timestamp=at(0))
        eps.step(task_completed(0, 1), timestamp=at(10))
        seen.clear()  # keep only the last (full) run
        result = eps.step(task_completed(1, 2), timestamp=at(25))
        assert seen == [at(0), at(10), at(25)]
        assert all(t.tzinfo is not None and t.utcoffset() == timedelta(0) for t in seen)
        assert _output(result) == at(25).isoformat()

    def test_current_utc_datetime_never_goes_backwards(self) -> None:
        seen: list[datetime] = []

        def orch(ctx: Any) -> Any:
            yield ctx.call_activity("A")
            seen.append(ctx.current_utc_datetime)
            yield ctx.call_activity("B")
            seen.append(ctx.current_utc_datetime)
            return None

        eps = Episodes(orch)
        eps.start(timestamp=at(100))
        eps.step(task_completed(0), timestamp=at(50))  # a skewed clock on another worker
        seen.clear()
        eps.step(task_completed(1), timestamp=at(200))
        assert seen == [at(100), at(200)]

    def test_current_utc_datetime_setter(self) -> None:
        ctx = df.DurableOrchestrationContext()
        ctx.current_utc_datetime = at(5)
        assert ctx.current_utc_datetime == at(5)

    def test_new_uuid_is_a_deterministic_distinct_string(self) -> None:
        runs: list[list[str]] = []

        def orch(ctx: Any) -> Any:
            ids = [ctx.new_uuid(), ctx.new_uuid()]
            yield ctx.call_activity("A")
            ids.append(ctx.new_uuid())
            runs.append(ids)
            return ids

        eps = Episodes(orch)
        eps.start()
        result = eps.step(task_completed(0), timestamp=at(60))
        ids = runs[-1]
        assert all(isinstance(i, str) for i in ids)
        assert len(set(ids)) == 3
        assert all(uuid.UUID(i).version == 5 for i in ids)
        assert _output(result) == ids
        # replaying the whole history again yields the very same ids
        runs.clear()
        assert execute(orch, eps.history, []).new_events == []
        assert runs == [ids]

    def test_new_uuid_matches_the_azure_functions_durable_algorithm(self) -> None:
        def orch(ctx: Any) -> Any:
            return [ctx.new_uuid(), str(ctx.new_guid())]

        result = Episodes(orch).start(timestamp=datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=timezone.utc))
        namespace = uuid.uuid5(uuid.NAMESPACE_OID, "9e952958-5e33-4daf-827f-2fa12937b875")
        expected_uuid = uuid.uuid5(namespace, f"{INSTANCE_ID}_2026-03-01T12:00:00.123456Z_0")
        expected_guid = uuid.uuid5(uuid.NAMESPACE_URL, f"{INSTANCE_ID}_2026-03-01 12:00:00.123456+00:00_1")
        assert _output(result) == [str(expected_uuid), str(expected_guid)]

    def test_new_guid_is_a_uuid_object_and_deterministic(self) -> None:
        seen: list[list[uuid.UUID]] = []

        def orch(ctx: Any) -> Any:
            ids = [ctx.new_guid(), ctx.new_guid()]
            seen.append(ids)
            yield ctx.call_activity("A")
            return [str(i) for i in ids]

        eps = Episodes(orch)
        eps.start()
        eps.step(task_completed(0), timestamp=at(1))
        assert all(isinstance(i, uuid.UUID) for i in seen[0])
        assert seen[0][0] != seen[0][1]
        assert seen[0] == seen[1]  # the replay in episode 2 reproduced them


# ============================================================================ activities
class TestCallActivity:
    def test_call_activity_by_name_schedules_and_returns_the_result(self) -> None:
        def orch(ctx: Any) -> Any:
            result = yield ctx.call_activity("SayHello", {"city": "Tokyo"})
            return result

        eps = Episodes(orch)
        first = eps.start()
        assert first.completion is None
        assert first.actions == [
            TaskScheduled(event_id=0, timestamp=T0, name="SayHello", input='{"city":"Tokyo"}')
        ]
        second = eps.step(task_completed(0, "Hello Tokyo!"), timestamp=at(1))
        assert _output(second) == "Hello Tokyo!"
        assert second.actions == []

    def test_call_activity_expected_type_decodes_with_from_json(self) -> None:
        def orch(ctx: Any) -> Any:
            point = yield ctx.call_activity("GetPoint", expected_type=Point)
            assert isinstance(point, Point)
            return point.x + point.y

        eps = Episodes(orch)
        eps.start()
        assert _output(eps.step(task_completed(0, {"x": 2, "y": 40}), timestamp=at(1))) == 42

    def test_call_activity_custom_object_input_uses_to_json(self) -> None:
        def orch(ctx: Any) -> Any:
            yield ctx.call_activity("Move", Point(1, 2))

        action = Episodes(orch).start().actions[0]
        assert isinstance(action, TaskScheduled)
        assert json.loads(action.input or "")["__data__"] == {"x": 1, "y": 2}

    def test_call_activity_with_dfapp_decorated_function(self) -> None:
        app = df.DFApp()

        @app.activity_trigger(input_name="name")
        def say_hello(name: str) -> str:
            return f"Hello {name}"

        @app.function_name("Greeter")
        @app.activity_trigger(input_name="name")
        def greet_impl(name: str) -> str:
            return name

        def orch(ctx: Any) -> Any:
            yield ctx.task_all([ctx.call_activity(say_hello, "a"), ctx.call_activity(greet_impl, "b")])

        actions = Episodes(orch).start().actions
        assert [a.name for a in actions] == ["say_hello", "Greeter"]  # type: ignore[attr-defined]
        assert set(app.durable_registry().activities) == {"say_hello", "Greeter"}

    def test_call_by_decorated_function_uses_the_trigger_name_override(self) -> None:
        app = df.DFApp()

        @app.activity_trigger(input_name="x", activity="RenamedActivity")
        def act(x: Any) -> Any:
            return x

        @app.orchestration_trigger(context_name="context", orchestration="RenamedOrch")
        def child(context: Any) -> Any:
            yield context.call_activity(act)

        def orch(ctx: Any) -> Any:
            yield ctx.task_all([ctx.call_activity(act), ctx.call_sub_orchestrator(child)])

        registry = app.durable_registry()
        actions = Episodes(orch).start().actions
        assert actions[0].name in registry.activities  # type: ignore[attr-defined]
        assert actions[1].name in registry.orchestrators  # type: ignore[attr-defined]

    def test_call_activity_rejects_undecorated_callables_and_empty_names(self) -> None:
        errors: list[BaseException] = []

        def plain(x: Any) -> Any:
            return x

        def orch(ctx: Any) -> Any:
            for bad in (plain, ""):
                try:
                    ctx.call_activity(bad)
                except ValueError as error:
                    errors.append(error)
            return len(errors)

        assert _output(Episodes(orch).start()) == 2
        assert "activity" in str(errors[0]) and "plain" in str(errors[0])
        assert "activity name" in str(errors[1]) and "it is empty" in str(errors[1])

    def test_non_serializable_activity_input_raises_in_the_orchestrator(self) -> None:
        def orch(ctx: Any) -> Any:
            yield ctx.call_activity("A", object())

        failure = _failure(Episodes(orch).start())
        assert failure.error_type == "SerializationError"
        assert "input of activity 'A'" in failure.error_message


# ============================================================================ retries
def _drive_with_failures(orch: Any, outcomes: list[Any], *, step: float = 0.5) -> tuple[Episodes, list[Any]]:
    """Answer scheduled activities/sub-orchestrations from ``outcomes`` (a FailureDetails fails the
    attempt) and fire timers at their due time. Returns the driver and the scheduling actions seen."""
    eps = Episodes(orch)
    result = eps.start()
    seen: list[Any] = []
    now = T0
    outcomes = list(outcomes)
    for _ in range(50):
        if result.completion is not None:
            break
        assert len(result.actions) == 1, result.actions
        action = result.actions[0]
        seen.append(action)
        if isinstance(action, TimerCreated):
            now = action.fire_at
            result = eps.step(timer_fired(action.event_id, action.fire_at), timestamp=now)
            continue
        outcome = outcomes.pop(0)
        now = now + timedelta(seconds=step)
        sub = isinstance(action, SubOrchestrationInstanceCreated)
        if isinstance(outcome, df.FailureDetails):
            event = (
                sub_orchestration_failed(action.event_id, outcome)
                if sub
                else task_failed(action.event_id, outcome)
            )
        else:
            event = (
                sub_orchestration_completed(action.event_id, outcome)
                if sub
                else task_completed(action.event_id, outcome)
            )
        result = eps.step(event, timestamp=now)
    return eps, seen


class TestRetries:
    def test_retry_succeeds_after_a_timer_between_attempts(self) -> None:
        def orch(ctx: Any) -> Any:
            return (yield ctx.call_activity_with_retry("Flaky", df.RetryOptions(5000, 3), "in"))

        eps, seen = _drive_with_failures(orch, [failure_details(), "ok"])
        assert [type(a).__name__ for a in seen] == ["TaskScheduled", "TimerCreated", "TaskScheduled"]
        assert [a.event_id for a in seen] == [0, 1, 2]
        assert seen[0].name == seen[2].name == "Flaky" and seen[0].input == seen[2].input == '"in"'
        # the timer fires first_retry_interval after the failure was seen (episode time T0+0.5s)
        assert seen[1].fire_at == at(0.5) + timedelta(seconds=5)
        assert _output(eps.results[-1]) == "ok"

    def test_retry_gives_up_after_max_attempts_with_activity_failed_error(self) -> None:
        def orch(ctx: Any) -> Any:
            try:
                yield ctx.call_activity_with_retry("Flaky", df.RetryOptions(1000, 3))
            except df.ActivityFailedError as error:
                return {"type": error.error_type, "message": error.message, "name": error.name}
            return "unexpected success"

        boom = failure_details("KeyError", "missing")
        eps, seen = _drive_with_failures(orch, [boom, boom, boom, "never used"])
        kinds = [type(a).__name__ for a in seen]
        assert kinds == ["TaskScheduled", "TimerCreated", "TaskScheduled", "TimerCreated", "TaskScheduled"]
        assert _output(eps.results[-1]) == {"type": "KeyError", "message": "missing", "name": "Flaky"}

    def test_uncaught_retry_failure_fails_the_orchestration(self) -> None:
        def orch(ctx: Any) -> Any:
            yield ctx.call_activity_with_retry("Flaky", df.RetryOptions(1000, 2))

        boom = failure_details("RuntimeError", "down")
        eps, _ = _drive_with_failures(orch, [boom, boom])
        failure = _failure(eps.results[-1])
        assert failure.error_type == "ActivityFailedError"
        assert "RuntimeError: down" in failure.error_message
        assert failure.inner_failure is not None and failure.inner_failure.error_type == "RuntimeError"

    def test_backoff_coefficient_and_max_retry_interval(self) -> None:
        options = df.RetryOptions(1000, 5, backoff_coefficient=2.0, max_retry_interval_in_milliseconds=3000)

        def orch(ctx: Any) -> Any:
            try:
                yield ctx.call_activity_with_retry("Flaky", options)
            except df.ActivityFailedError:
                return "gave up"

        boom = failure_details()
        _, seen = _drive_with_failures(orch, [boom] * 5, step=0.25)
        # a retry timer is created in the episode that saw the failure, and stamped with its time
        delays = [a.fire_at - a.timestamp for a in seen if isinstance(a, TimerCreated)]
        assert delays == [timedelta(seconds=s) for s in (1, 2, 3, 3)]
        assert options.delay_after(1) == timedelta(seconds=1)
        assert options.delay_after(3) == timedelta(seconds=3)  # 4 s capped at 3 s

    def test_retry_timeout_stops_retrying(self) -> None:
        options = df.RetryOptions(1000, 10, retry_timeout_in_milliseconds=2500)

        def orch(ctx: Any) -> Any:
            try:
                yield ctx.call_activity_with_retry("Flaky", options)
            except df.ActivityFailedError:
                return "timed out"

        boom = failure_details()
        eps, seen = _drive_with_failures(orch, [boom] * 10, step=0.5)
        # attempt 1 fails at 0.5 s (next try at 1.5 s, within 2.5 s); attempt 2 fails at 2.0 s (3.0 s > 2.5 s)
        assert [type(a).__name__ for a in seen] == ["TaskScheduled", "TimerCreated", "TaskScheduled"]
        assert _output(eps.results[-1]) == "timed out"

    def test_non_retriable_failure_is_not_retried(self) -> None:
        def orch(ctx: Any) -> Any:
            try:
                yield ctx.call_activity_with_retry("Flaky", df.RetryOptions(1000, 5))
            except df.ActivityFailedError as error:
                return error.error_type

        eps, seen = _drive_with_failures(orch, [failure_details("FatalError", "no", non_retriable=True)])
        assert len(seen) == 1
        assert _output(eps.results[-1]) == "FatalError"

    def test_retry_options_validation_and_json(self) -> None:
        with pytest.raises(ValueError):
            df.RetryOptions(0, 3)
        with pytest.raises(ValueError):
            df.RetryOptions(100, 0)
        with pytest.raises(ValueError):
            df.RetryOptions(100, 3, backoff_coefficient=0.5)
        assert df.RetryOptions(100, 3).to_json() == {
            "firstRetryIntervalInMilliseconds": 100,
            "maxNumberOfAttempts": 3,
        }
        options = df.RetryOptions(100, 3)
        assert (options.first_retry_interval_in_milliseconds, options.max_number_of_attempts) == (100, 3)


# ============================================================================ sub-orchestrations
class TestSubOrchestrations:
    def test_call_sub_orchestrator_schedules_and_returns_output(self) -> None:
        def orch(ctx: Any) -> Any:
            a = yield ctx.call_sub_orchestrator("Child", {"n": 1})
            b = yield ctx.call_sub_orchestrator("Child", 2, instance_id="fixed-id", version="v2")
            return [a, b]

        eps = Episodes(orch)
        first = eps.start()
        assert first.actions == [
            SubOrchestrationInstanceCreated(
                event_id=0, timestamp=T0, name="Child", instance_id=f"{INSTANCE_ID}:0", input='{"n":1}'
            )
        ]
        second = eps.step(sub_orchestration_completed(0, "one"), timestamp=at(1))
        (created,) = second.actions
        assert isinstance(created, SubOrchestrationInstanceCreated)
        assert (created.event_id, created.instance_id, created.version, created.input) == (
            1,
            "fixed-id",
            "v2",
            "2",
        )
        assert _output(eps.step(sub_orchestration_completed(1, {"two": 2}), timestamp=at(2))) == [
            "one",
            {"two": 2},
        ]

    def test_call_sub_orchestrator_by_decorated_function(self) -> None:
        app = df.DFApp()

        @app.orchestration_trigger(context_name="context")
        def child_orch(context: Any) -> Any:
            return (yield context.call_activity("X"))

        def orch(ctx: Any) -> Any:
            yield ctx.call_sub_orchestrator(child_orch)

        assert Episodes(orch).start().actions[0].name == "child_orch"  # type: ignore[attr-defined]

    def test_call_sub_orchestrator_with_retry_reuses_the_explicit_instance_id(self) -> None:
        def orch(ctx: Any) -> Any:
            return (
                yield ctx.call_sub_orchestrator_with_retry(
                    "Child", df.RetryOptions(2000, 3), {"k": 1}, instance_id="child-1"
                )
            )

        eps, seen = _drive_with_failures(orch, [failure_details(), "done"])
        assert [type(a).__name__ for a in seen] == [
            "SubOrchestrationInstanceCreated",
            "TimerCreated",
            "SubOrchestrationInstanceCreated",
        ]
        assert seen[0].instance_id == seen[2].instance_id == "child-1"
        assert seen[1].fire_at == at(0.5) + timedelta(seconds=2)
        assert _output(eps.results[-1]) == "done"

    def test_sub_orchestrator_retry_gives_up_with_sub_orchestration_failed_error(self) -> None:
        def orch(ctx: Any) -> Any:
            try:
                yield ctx.call_sub_orchestrator_with_retry("Child", df.RetryOptions(1000, 2))
            except df.SubOrchestrationFailedError as error:
                return [error.error_type, error.message]

        boom = failure_details("ZeroDivisionError", "division by zero")
        eps, seen = _drive_with_failures(orch, [boom, boom])
        assert len([a for a in seen if isinstance(a, SubOrchestrationInstanceCreated)]) == 2
        assert _output(eps.results[-1]) == ["ZeroDivisionError", "division by zero"]


# ============================================================================ timers & events
class TestTimersAndEvents:
    def test_create_timer_schedules_and_resumes_when_fired(self) -> None:
        fire_at = at(3600)

        def orch(ctx: Any) -> Any:
            yield ctx.create_timer(fire_at)
            return ctx.current_utc_datetime.isoformat()

        eps = Episodes(orch)
        first = eps.start()
        assert first.actions == [TimerCreated(event_id=0, timestamp=T0, fire_at=fire_at)]
        assert eps.step(timestamp=at(10)).completion is None  # nothing fired yet
        assert _output(eps.step(timer_fired(0, fire_at), timestamp=fire_at)) == fire_at.isoformat()

    def test_naive_datetime_is_taken_as_utc(self) -> None:
        def orch(ctx: Any) -> Any:
            yield ctx.create_timer(datetime(2026, 3, 2, 8, 30))

        (action,) = Episodes(orch).start().actions
        assert isinstance(action, TimerCreated)
        assert action.fire_at == datetime(2026, 3, 2, 8, 30, tzinfo=timezone.utc)

    def test_timer_cancel(self) -> None:
        states: list[Any] = []

        def orch(ctx: Any) -> Any:
            timer = ctx.create_timer(at(100))
            states.append(timer.is_cancelled)
            timer.cancel()
            states.append(timer.is_cancelled)
            fired = ctx.create_timer(at(5))
            yield fired
            try:
                fired.cancel()
            except ValueError as error:
                states.append(str(error))
            return "done"

        eps = Episodes(orch)
        eps.start()
        assert _output(eps.step(timer_fired(1, at(5)), timestamp=at(5))) == "done"
        assert states[-3:] == [False, True, "Cannot cancel a timer that has already fired."]

    def test_wait_for_external_event_returns_the_decoded_payload(self) -> None:
        def orch(ctx: Any) -> Any:
            approval = yield ctx.wait_for_external_event("Approval")
            point = yield ctx.wait_for_external_event("Where", expected_type=Point)
            return [approval, type(point).__name__, point.x]

        eps = Episodes(orch)
        first = eps.start()
        assert first.actions == [] and first.completion is None  # waiting is not an action
        assert eps.step(event_raised("Approval", {"ok": True}), timestamp=at(1)).completion is None
        assert _output(eps.step(event_raised("Where", {"x": 7, "y": 8}), timestamp=at(2))) == [
            {"ok": True},
            "Point",
            7,
        ]

    def test_wait_for_external_event_rejects_empty_name(self) -> None:
        def orch(ctx: Any) -> Any:
            ctx.wait_for_external_event("")
            yield ctx.create_timer(at(1))

        failure = _failure(Episodes(orch).start())
        assert failure.error_type == "InvalidInputError"  # a ValueError, from the DurableError tree
        assert "event name" in failure.error_message


# ============================================================================ task_all / task_any
class TestCompoundTasks:
    def test_task_all_returns_results_in_input_order(self) -> None:
        def orch(ctx: Any) -> Any:
            return (yield ctx.task_all([ctx.call_activity("A", i) for i in range(3)]))

        eps = Episodes(orch)
        assert [a.event_id for a in eps.start().actions] == [0, 1, 2]
        assert eps.step(task_completed(2, "c"), task_completed(0, "a"), timestamp=at(1)).completion is None
        assert _output(eps.step(task_completed(1, "b"), timestamp=at(2))) == ["a", "b", "c"]

    def test_task_all_fails_on_the_first_failure(self) -> None:
        def orch(ctx: Any) -> Any:
            try:
                yield ctx.task_all([ctx.call_activity("A"), ctx.call_activity("B")])
            except df.ActivityFailedError as error:
                return error.name

        eps = Episodes(orch)
        eps.start()
        assert _output(eps.step(task_failed(1), timestamp=at(1))) == "B"  # A still running

    def test_task_any_returns_the_winning_task_object(self) -> None:
        seen: list[Any] = []

        def orch(ctx: Any) -> Any:
            slow = ctx.call_activity("Slow")
            fast = ctx.call_activity("Fast")
            winner = yield ctx.task_any([slow, fast])
            seen.append((winner, slow, fast))
            return winner.result

        eps = Episodes(orch)
        eps.start()
        result = eps.step(task_completed(1, "fast!"), timestamp=at(1))
        winner, slow, fast = seen[-1]
        assert winner is fast and winner is not slow
        assert winner.state is TaskState.SUCCEEDED and not slow.is_completed
        assert _output(result) == "fast!"

    def test_task_any_with_an_already_completed_task_returns_it_at_once(self) -> None:
        seen: list[Any] = []

        def orch(ctx: Any) -> Any:
            done = ctx.call_activity("A")
            yield done
            timer = ctx.create_timer(at(3600))
            winner = yield ctx.task_any([timer, done])
            seen.append(winner is done)
            timer.cancel()
            return winner.result

        eps = Episodes(orch)
        eps.start()
        assert _output(eps.step(task_completed(0, "early"), timestamp=at(1))) == "early"
        assert seen == [True]

    def test_task_any_returns_a_failed_winner_without_raising(self) -> None:
        def orch(ctx: Any) -> Any:
            winner = yield ctx.task_any([ctx.call_activity("A"), ctx.create_timer(at(60))])
            return [winner.is_faulted, type(winner.result).__name__]

        eps = Episodes(orch)
        eps.start()
        assert _output(eps.step(task_failed(0), timestamp=at(1))) == [True, "ActivityFailedError"]

    def test_task_any_rejects_empty_and_non_tasks(self) -> None:
        def orch(ctx: Any) -> Any:
            errors = []
            for bad in ([], ["not a task"]):
                try:
                    ctx.task_any(bad)
                except (ValueError, TypeError) as error:
                    errors.append(type(error).__name__)
            return errors
            yield  # pragma: no cover - makes this a generator

        assert _output(Episodes(orch).start()) == ["ValueError", "TypeError"]


# ============================================================================ continue_as_new
class TestContinueAsNew:
    def test_continue_as_new_completes_with_the_new_input(self) -> None:
        def orch(ctx: Any) -> Any:
            n = ctx.get_input()
            yield ctx.call_activity("Work", n)
            ctx.continue_as_new(n + 1)

        eps = Episodes(orch)
        eps.start(1)
        result = eps.step(task_completed(0), timestamp=at(1))
        assert result.completion is not None
        assert result.completion.status is OrchestrationStatus.ContinuedAsNew
        assert result.completion.output == "2"
        completed = [e for e in result.new_events if isinstance(e, ExecutionCompleted)]
        assert len(completed) == 1
        assert completed[0].orchestration_status is OrchestrationStatus.ContinuedAsNew
        assert completed[0].result == "2"

    def test_unconsumed_buffered_events_are_carried_over(self) -> None:
        def orch(ctx: Any) -> Any:
            first = yield ctx.wait_for_external_event("item")
            yield ctx.call_activity("Process", first)
            ctx.continue_as_new(first)

        eps = Episodes(orch)
        eps.start()
        eps.step(event_raised("item", "a"), timestamp=at(1))
        eps.step(
            event_raised("item", "b"),
            event_raised("item", {"c": 3}),
            event_raised("other", 1),
            timestamp=at(2),
        )
        result = eps.step(task_completed(0), timestamp=at(3))
        assert (
            result.completion is not None and result.completion.status is OrchestrationStatus.ContinuedAsNew
        )
        carried = [(e.name, e.input) for e in result.completion.carryover_events]
        assert sorted(carried) == sorted([("item", '"b"'), ("item", '{"c": 3}'), ("other", "1")])

    def test_unprocessed_events_can_be_dropped(self) -> None:
        def orch(ctx: Any) -> Any:
            yield ctx.call_activity("Work")
            ctx.continue_as_new(None, preserve_unprocessed_events=False)

        eps = Episodes(orch)
        eps.start()
        eps.step(event_raised("x", 1), timestamp=at(1))
        result = eps.step(task_completed(0), timestamp=at(2))
        assert result.completion is not None and result.completion.carryover_events == ()

    def test_continue_as_new_from_a_plain_function(self) -> None:
        def orch(ctx: Any) -> Any:
            ctx.continue_as_new({"round": 2})
            return "ignored"

        result = Episodes(orch).start()
        assert result.completion is not None
        assert result.completion.status is OrchestrationStatus.ContinuedAsNew
        assert json.loads(result.completion.output or "") == {"round": 2}

    def test_continue_as_new_rejects_non_serializable_input(self) -> None:
        def orch(ctx: Any) -> Any:
            ctx.continue_as_new({1, 2})
            yield ctx.call_activity("A")

        failure = _failure(Episodes(orch).start())
        assert failure.error_type == "SerializationError" and "continue_as_new input" in failure.error_message

    def test_actions_after_continue_as_new_are_not_emitted(self) -> None:
        def orch(ctx: Any) -> Any:
            ctx.signal_entity(df.EntityId("Counter", "k"), "add", 1)  # before: still sent
            ctx.continue_as_new(5)
            yield ctx.call_activity("TooLate")

        result = Episodes(orch).start()
        assert (
            result.completion is not None and result.completion.status is OrchestrationStatus.ContinuedAsNew
        )
        assert [type(a).__name__ for a in result.actions] == ["EventSent"]


# ============================================================================ custom status
class TestCustomStatus:
    def test_custom_status_is_reported_as_json_per_episode(self) -> None:
        def orch(ctx: Any) -> Any:
            ctx.set_custom_status({"stage": "waiting", "pct": 10})
            yield ctx.call_activity("A")
            ctx.set_custom_status("done")
            return 1

        eps = Episodes(orch)
        first = eps.start()
        assert first.custom_status is not None and json.loads(first.custom_status) == {
            "stage": "waiting",
            "pct": 10,
        }
        assert eps.step(task_completed(0), timestamp=at(1)).custom_status == '"done"'

    def test_no_custom_status_is_none(self) -> None:
        def orch(ctx: Any) -> Any:
            yield ctx.call_activity("A")

        assert Episodes(orch).start().custom_status is None

    def test_non_serializable_custom_status_fails_clearly(self) -> None:
        def orch(ctx: Any) -> Any:
            ctx.set_custom_status(object())
            yield ctx.call_activity("A")

        failure = _failure(Episodes(orch).start())
        assert failure.error_type == "SerializationError"
        assert "custom status" in failure.error_message
        assert "not JSON-serializable" in failure.error_message


# ============================================================================ entities
class TestEntities:
    def test_call_entity_sends_a_request_and_returns_the_response(self) -> None:
        counter = df.EntityId("Counter", "k1")

        def orch(ctx: Any) -> Any:
            value = yield ctx.call_entity(counter, "get", {"x": 1})
            return value

        eps = Episodes(orch)
        first = eps.start()
        (sent,) = first.actions
        assert isinstance(sent, EventSent)
        assert (sent.event_id, sent.instance_id, sent.name) == (0, "@counter@k1", "op")
        request = json.loads(sent.input or "")
        assert request["op"] == "get" and "signal" not in request  # DF writes "signal" only when true
        assert json.loads(request["input"]) == {"x": 1}
        assert request["parent"] == INSTANCE_ID
        uuid.UUID(request["id"])
        # stamped by the orchestration's message sorter at its deterministic time, as DTFx does
        assert request["Predecessor"] == "0001-01-01T00:00:00" and request["Timestamp"].endswith("Z")
        # an unrelated event with another name does not complete the call
        assert eps.step(event_raised("get", 0), timestamp=at(1)).completion is None
        assert _output(eps.step(entity_response(request["id"], 41), timestamp=at(2))) == 41

    def test_entity_request_ids_are_deterministic_and_distinct(self) -> None:
        def orch(ctx: Any) -> Any:
            yield ctx.task_all(
                [ctx.call_entity(df.EntityId("c", "1"), "get"), ctx.call_entity(df.EntityId("c", "1"), "get")]
            )

        ids_1 = [json.loads(a.input)["id"] for a in Episodes(orch).start().actions]  # type: ignore[attr-defined]
        ids_2 = [json.loads(a.input)["id"] for a in Episodes(orch).start().actions]  # type: ignore[attr-defined]
        assert ids_1 == ids_2 and ids_1[0] != ids_1[1]

    def test_call_entity_failure_raises_entity_operation_failed_error(self) -> None:
        def orch(ctx: Any) -> Any:
            try:
                yield ctx.call_entity(df.EntityId("Counter", "k1"), "divide", 0)
            except df.EntityOperationFailedError as error:
                return [error.error_type, error.message, str(error)]

        eps = Episodes(orch)
        request_id = json.loads(eps.start().actions[0].input)["id"]  # type: ignore[attr-defined]
        result = eps.step(
            entity_failure_response(request_id, "ZeroDivisionError", "division by zero"), timestamp=at(1)
        )
        error_type, message, text = _output(result)
        assert (error_type, message) == ("ZeroDivisionError", "division by zero")
        assert "divide on @counter@k1" in text and "ZeroDivisionError: division by zero" in text

    def test_signal_entity_is_fire_and_forget(self) -> None:
        def orch(ctx: Any) -> Any:
            task = ctx.signal_entity(df.EntityId("Counter", "k1"), "add", 5)
            assert task.is_completed
            yield task  # yielding it resumes immediately
            return (yield ctx.call_activity("After"))

        eps = Episodes(orch)
        first = eps.start()
        assert [type(a).__name__ for a in first.actions] == ["EventSent", "TaskScheduled"]
        sent = first.actions[0]
        request = json.loads(sent.input)  # type: ignore[attr-defined]
        assert sent.instance_id == "@counter@k1"  # type: ignore[attr-defined]
        assert request["signal"] is True and request["op"] == "add" and request["input"] == "5"
        assert first.actions[1].event_id == 1
        assert _output(eps.step(task_completed(1, "x"), timestamp=at(1))) == "x"

    def test_call_entity_requires_an_entity_id(self) -> None:
        def orch(ctx: Any) -> Any:
            yield ctx.call_entity("@counter@k1", "get")

        failure = _failure(Episodes(orch).start())
        assert failure.error_type == "TypeError" and "EntityId" in failure.error_message

    def test_entity_id_helpers(self) -> None:
        entity = df.EntityId("MyCounter", "Key@1")
        assert str(entity) == "@mycounter@Key@1"
        assert df.EntityId.get_entity_id("@mycounter@Key@1") == df.EntityId("mycounter", "Key@1")
        assert df.EntityId.get_entity_id_url_path(entity) == "entities/MyCounter/Key@1"
        with pytest.raises(ValueError):
            df.EntityId("", "k")
        with pytest.raises(ValueError):
            df.EntityId.get_entity_id("counter")


# ============================================================================ replay-safe logger
class TestReplaySafeLogger:
    def test_logs_each_line_once_across_replays(self, caplog: pytest.LogCaptureFixture) -> None:
        def orch(ctx: Any) -> Any:
            log = ctx.create_replay_safe_logger(logging.getLogger("orch.test"))
            log.info("step 1")
            yield ctx.call_activity("A")
            log.info("step 2")
            yield ctx.call_activity("B")
            log.warning("step 3")
            yield ctx.call_activity("C")
            log.info("done")
            return "ok"

        caplog.set_level(logging.INFO, logger="orch.test")
        eps = Episodes(orch)
        eps.start()
        eps.step(task_completed(0), timestamp=at(1))
        eps.step(task_completed(1), timestamp=at(2))
        assert _output(eps.step(task_completed(2), timestamp=at(3))) == "ok"
        messages = [r.getMessage() for r in caplog.records if r.name == "orch.test"]
        assert messages == ["step 1", "step 2", "step 3", "done"]
        assert all(
            getattr(r, "instance_id", None) == INSTANCE_ID for r in caplog.records if r.name == "orch.test"
        )

        caplog.clear()
        replay = execute(orch, eps.history, [orchestrator_started(at(9))])
        assert replay.new_events == []
        assert [r for r in caplog.records if r.name == "orch.test"] == []

    def test_accepts_a_logger_name(self, caplog: pytest.LogCaptureFixture) -> None:
        def orch(ctx: Any) -> Any:
            ctx.create_replay_safe_logger("orch.byname").info("hello %s", "world")
            return None

        caplog.set_level(logging.INFO, logger="orch.byname")
        Episodes(orch).start()
        assert [r.getMessage() for r in caplog.records if r.name == "orch.byname"] == ["hello world"]


def test_sub_orchestration_failure_is_typed() -> None:
    def orch(ctx: Any) -> Any:
        try:
            yield ctx.call_sub_orchestrator("Child")
        except df.SubOrchestrationFailedError as error:
            return error.error_type

    eps = Episodes(orch)
    eps.start()
    assert (
        _output(eps.step(sub_orchestration_failed(0, failure_details("OSError", "disk")), timestamp=at(1)))
        == "OSError"
    )


def test_execution_started_factory_defaults() -> None:
    # guards the factory itself: input None means no input text at all
    assert execution_started().input is None
    assert execution_started({"a": 1}).input == '{"a": 1}'
