"""durable_azure.testing: run_orchestrator (scripted activities/events, virtual clock) and the generator wrapper."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

import durable_azure as df
from durable_azure.orchestration.history import (
    EventSent,
    ExecutionCompleted,
    ExecutionStarted,
    OrchestrationStatus,
    TaskScheduled,
)
from durable_azure.testing import (
    DEFAULT_START,
    ExternalEvent,
    orchestrator_generator_wrapper,
    run_orchestrator,
)


def hello_chain(ctx: Any) -> Any:
    cities = ctx.get_input()
    results = []
    for city in cities:
        results.append((yield ctx.call_activity("SayHello", city)))
    return results


# ============================================================ activities
class TestScriptedActivities:
    def test_callable_script_receives_the_input(self) -> None:
        result = run_orchestrator(
            hello_chain, ["Tokyo", "Seattle"], activities={"SayHello": lambda city: f"Hello {city}!"}
        )
        assert result.status == "Completed"
        assert result.output == ["Hello Tokyo!", "Hello Seattle!"]
        assert result.activity_calls == [("SayHello", "Tokyo"), ("SayHello", "Seattle")]
        assert result.failure is None
        assert result.episodes == 3  # start + one per activity result

    def test_value_script(self) -> None:
        result = run_orchestrator(hello_chain, ["a", "b"], activities={"SayHello": {"fixed": True}})
        assert result.output == [{"fixed": True}, {"fixed": True}]

    @pytest.mark.parametrize("script", [ValueError("bad city"), ValueError])
    def test_exception_script_fails_the_activity(self, script: Any) -> None:
        def orch(ctx: Any) -> Any:
            try:
                yield ctx.call_activity("SayHello", "x")
            except df.ActivityFailedError as error:
                return {
                    "type": error.error_type,
                    "message": error.message,
                    "has_stack": bool(error.stack_trace),
                }

        result = run_orchestrator(orch, activities={"SayHello": script})
        assert result.status == "Completed"
        expected_message = "bad city" if isinstance(script, BaseException) else ""
        assert result.output == {"type": "ValueError", "message": expected_message, "has_stack": True}

    def test_callable_that_raises_fails_the_activity(self) -> None:
        def explode(value: Any) -> Any:
            raise KeyError(value)

        result = run_orchestrator(hello_chain, ["k"], activities={"SayHello": explode})
        assert result.status == "Failed"
        assert result.failure is not None
        assert result.failure.error_type == "ActivityFailedError"
        assert (
            result.failure.inner_failure is not None and result.failure.inner_failure.error_type == "KeyError"
        )

    def test_unknown_activity_gives_a_clear_failure(self) -> None:
        result = run_orchestrator(hello_chain, ["x"], activities={})
        assert result.status == "Failed"
        assert result.failure is not None
        assert "No scripted result for activity 'SayHello'" in result.failure.error_message
        assert "activities={'SayHello': ...}" in result.failure.error_message

    def test_retry_with_scripted_failures_then_success(self) -> None:
        attempts: list[int] = []

        def flaky(value: Any) -> Any:
            attempts.append(value)
            if len(attempts) < 3:
                raise ConnectionError("try again")
            return "ok"

        def orch(ctx: Any) -> Any:
            return (yield ctx.call_activity_with_retry("Flaky", df.RetryOptions(60_000, 5), 1))

        result = run_orchestrator(orch, activities={"Flaky": flaky})
        assert result.status == "Completed" and result.output == "ok"
        assert attempts == [1, 1, 1]
        # two one-minute retry delays, on the virtual clock
        assert result.current_time == DEFAULT_START + timedelta(minutes=2)

    def test_history_is_returned_and_starts_with_execution_started(self) -> None:
        result = run_orchestrator(hello_chain, ["x"], activities={"SayHello": 1}, instance_id="my-id")
        started = [e for e in result.history if isinstance(e, ExecutionStarted)]
        assert len(started) == 1 and started[0].instance_id == "my-id" and started[0].input == '["x"]'
        assert started[0].name == "hello_chain"
        completed = [e for e in result.history if isinstance(e, ExecutionCompleted)]
        assert [c.orchestration_status for c in completed] == [OrchestrationStatus.Completed]
        assert [e.name for e in result.history if isinstance(e, TaskScheduled)] == ["SayHello"]


# ============================================================ events & virtual clock
class TestEventsAndClock:
    def test_72_hour_timer_completes_on_the_virtual_clock(self) -> None:
        def orch(ctx: Any) -> Any:
            yield ctx.create_timer(ctx.current_utc_datetime + timedelta(hours=72))
            return ctx.current_utc_datetime.isoformat()

        result = run_orchestrator(orch)
        assert result.status == "Completed"
        assert result.current_time == DEFAULT_START + timedelta(hours=72)
        assert result.output == (DEFAULT_START + timedelta(hours=72)).isoformat()

    def test_custom_start_time(self) -> None:
        start = datetime(2030, 5, 6, 7, 8, tzinfo=timezone.utc)

        def orch(ctx: Any) -> Any:
            return ctx.current_utc_datetime.isoformat()

        assert run_orchestrator(orch, start_time=start).output == start.isoformat()

    def test_timed_event_beats_a_long_timer(self) -> None:
        def orch(ctx: Any) -> Any:
            timeout = ctx.create_timer(ctx.current_utc_datetime + timedelta(hours=72))
            approval = ctx.wait_for_external_event("Approval")
            winner = yield ctx.task_any([approval, timeout])
            if winner is approval:
                timeout.cancel()
                return {"approved": approval.result, "at": ctx.current_utc_datetime.isoformat()}
            return "timed out"

        result = run_orchestrator(
            orch, events=[ExternalEvent("Approval", {"by": "ann"}, after=timedelta(hours=1))]
        )
        assert result.status == "Completed"
        assert result.output == {
            "approved": {"by": "ann"},
            "at": (DEFAULT_START + timedelta(hours=1)).isoformat(),
        }
        assert result.current_time == DEFAULT_START + timedelta(hours=1)

    def test_timer_wins_when_the_event_comes_too_late(self) -> None:
        def orch(ctx: Any) -> Any:
            timeout = ctx.create_timer(ctx.current_utc_datetime + timedelta(hours=2))
            winner = yield ctx.task_any([ctx.wait_for_external_event("Approval"), timeout])
            return "timed out" if winner is timeout else "approved"

        result = run_orchestrator(orch, events=[ExternalEvent("Approval", True, after=timedelta(hours=3))])
        assert result.output == "timed out"
        assert result.current_time == DEFAULT_START + timedelta(hours=2)

    def test_idle_events_are_raised_in_order_when_the_instance_waits(self) -> None:
        def orch(ctx: Any) -> Any:
            first = yield ctx.wait_for_external_event("a")
            second = yield ctx.wait_for_external_event("b")
            return [first, second]

        result = run_orchestrator(orch, events=[("a", 1), ExternalEvent("b", "two")])
        assert result.status == "Completed" and result.output == [1, "two"]
        assert result.current_time == DEFAULT_START

    def test_waiting_for_an_event_nobody_sends_stays_running(self) -> None:
        def orch(ctx: Any) -> Any:
            yield ctx.wait_for_external_event("never")

        result = run_orchestrator(orch)
        assert result.status == "Running"
        assert result.output is None

    def test_custom_status_and_continue_as_new_are_reported(self) -> None:
        def orch(ctx: Any) -> Any:
            ctx.set_custom_status({"phase": 2})
            yield ctx.call_activity("A")
            ctx.continue_as_new({"next": True})

        result = run_orchestrator(orch, activities={"A": None})
        assert result.status == "ContinuedAsNew"
        assert result.output == {"next": True}
        assert result.custom_status == {"phase": 2}


# ============================================================ sub-orchestrators
class TestSubOrchestrators:
    def test_sub_orchestrator_as_a_function_runs_with_the_same_activities(self) -> None:
        def child(ctx: Any) -> Any:
            greeting = yield ctx.call_activity("SayHello", ctx.get_input())
            return {"child": ctx.instance_id, "greeting": greeting}

        def parent(ctx: Any) -> Any:
            return (yield ctx.call_sub_orchestrator("Child", "Oslo", instance_id="kid-1"))

        result = run_orchestrator(
            parent, sub_orchestrators={"Child": child}, activities={"SayHello": lambda c: f"hi {c}"}
        )
        assert result.status == "Completed"
        assert result.output == {"child": "kid-1", "greeting": "hi Oslo"}

    def test_sub_orchestrator_as_a_value_or_callable(self) -> None:
        def parent(ctx: Any) -> Any:
            a = yield ctx.call_sub_orchestrator("Fixed")
            b = yield ctx.call_sub_orchestrator("Computed", 20)
            return [a, b]

        result = run_orchestrator(parent, sub_orchestrators={"Fixed": [1, 2], "Computed": lambda n: n + 1})
        assert result.output == [[1, 2], 21]

    def test_failing_sub_orchestrator_function_raises_sub_orchestration_failed_error(self) -> None:
        def child(ctx: Any) -> Any:
            yield ctx.call_activity("Boom")

        def parent(ctx: Any) -> Any:
            try:
                yield ctx.call_sub_orchestrator("Child")
            except df.SubOrchestrationFailedError as error:
                return [error.error_type, error.message]

        result = run_orchestrator(
            parent, sub_orchestrators={"Child": child}, activities={"Boom": RuntimeError("kaput")}
        )
        assert result.status == "Completed"
        error_type, message = result.output
        assert error_type == "ActivityFailedError"
        assert "RuntimeError: kaput" in message

    def test_unknown_sub_orchestrator_gives_a_clear_failure(self) -> None:
        def parent(ctx: Any) -> Any:
            yield ctx.call_sub_orchestrator("Missing")

        result = run_orchestrator(parent)
        assert result.status == "Failed" and result.failure is not None
        assert "No sub-orchestrator 'Missing'" in result.failure.error_message

    def test_sub_orchestrator_timers_advance_the_parent_clock(self) -> None:
        def child(ctx: Any) -> Any:
            yield ctx.create_timer(ctx.current_utc_datetime + timedelta(hours=5))
            return "slept"

        def parent(ctx: Any) -> Any:
            result = yield ctx.call_sub_orchestrator("Child")
            return [result, ctx.current_utc_datetime.isoformat()]

        result = run_orchestrator(parent, sub_orchestrators={"Child": child})
        assert result.output == ["slept", (DEFAULT_START + timedelta(hours=5)).isoformat()]


# ============================================================ entities
class TestEntities:
    def test_entity_call_scripts(self) -> None:
        def orch(ctx: Any) -> Any:
            counter = df.EntityId("counter", "c1")
            ctx.signal_entity(counter, "add", 5)
            value = yield ctx.call_entity(counter, "get")
            doubled = yield ctx.call_entity(counter, "double", value)
            return [value, doubled]

        result = run_orchestrator(orch, entities={"counter.get": 5, "counter.double": lambda n: n * 2})
        assert result.status == "Completed"
        assert result.output == [5, 10]
        assert [e.instance_id for e in result.sent_events] == ["@counter@c1"] * 3
        assert all(isinstance(e, EventSent) for e in result.sent_events)

    def test_failing_entity_script_raises_entity_operation_failed_error(self) -> None:
        def orch(ctx: Any) -> Any:
            try:
                yield ctx.call_entity(df.EntityId("counter", "c1"), "get")
            except df.EntityOperationFailedError as error:
                return [error.error_type, error.message]

        result = run_orchestrator(orch, entities={"counter.get": PermissionError("locked")})
        assert result.output == ["PermissionError", "locked"]

    def test_unscripted_entity_call_fails_clearly(self) -> None:
        def orch(ctx: Any) -> Any:
            yield ctx.call_entity(df.EntityId("counter", "c1"), "reset")

        result = run_orchestrator(orch)
        assert result.status == "Failed" and result.failure is not None
        assert "No scripted result for entity call 'counter.reset'" in result.failure.error_message


# ============================================================ DFApp orchestrators
def test_accepts_a_dfapp_decorated_orchestrator() -> None:
    app = df.DFApp()

    @app.orchestration_trigger(context_name="context")
    def decorated(context: Any) -> Any:
        return (yield context.call_activity("SayHello", "app"))

    result = run_orchestrator(decorated, activities={"SayHello": lambda x: f"hi {x}"})
    assert result.status == "Completed" and result.output == "hi app"


# ============================================================ orchestrator_generator_wrapper
@dataclass
class StandIn:
    """A stand-in task: only what the wrapper reads."""

    result: Any


class RaisingStandIn:
    @property
    def result(self) -> Any:
        raise TimeoutError("never finished")


class TestGeneratorWrapper:
    def test_drives_the_generator_with_each_task_result(self) -> None:
        def orch(ctx: Any) -> Any:
            a = yield StandIn(1)
            b = yield StandIn(a + 1)
            return a + b

        steps = list(orchestrator_generator_wrapper(orch(None)))
        assert [s.result for s in steps[:-1]] == [1, 2]
        assert steps[-1] == 3

    def test_exception_results_are_thrown_into_the_generator(self) -> None:
        def orch(ctx: Any) -> Any:
            try:
                yield StandIn(ValueError("activity failed"))
            except ValueError as error:
                return f"caught {error}"
            return "not caught"

        steps = list(orchestrator_generator_wrapper(orch(None)))
        assert steps[-1] == "caught activity failed"

    def test_result_property_that_raises_is_thrown_into_the_generator(self) -> None:
        def orch(ctx: Any) -> Any:
            try:
                yield RaisingStandIn()
            except TimeoutError as error:
                yield StandIn("recovered")
                return str(error)

        steps = list(orchestrator_generator_wrapper(orch(None)))
        assert steps[-1] == "never finished"
        assert isinstance(steps[0], RaisingStandIn) and steps[1].result == "recovered"

    def test_generator_that_returns_immediately(self) -> None:
        def orch(ctx: Any) -> Any:
            return "done"
            yield  # pragma: no cover - makes this a generator

        assert list(orchestrator_generator_wrapper(orch(None))) == ["done"]

    def test_uncaught_exception_propagates(self) -> None:
        def orch(ctx: Any) -> Any:
            yield StandIn(KeyError("k"))

        with pytest.raises(KeyError):
            list(orchestrator_generator_wrapper(orch(None)))
