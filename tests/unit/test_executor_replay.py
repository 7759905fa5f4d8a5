"""The replay executor: episodes, faithful replay, completion events and failure modes."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)  # history_factory, importable under --import-mode=importlib

from history_factory import (  # noqa: E402
    T0,
    Episodes,
    at,
    event_raised,
    execution_completed,
    execution_resumed,
    execution_started,
    execution_suspended,
    execution_terminated,
    generic_event,
    orchestrator_completed,
    orchestrator_started,
    task_completed,
    task_scheduled,
    timer_fired,
)

from durable_azure.orchestration.executor import execute  # noqa: E402
from durable_azure.orchestration.history import (  # noqa: E402
    ExecutionCompleted,
    HistoryEvent,
    OrchestrationStatus,
    OrchestratorCompleted,
    OrchestratorStarted,
    TaskScheduled,
    TimerCreated,
)


def chain(ctx: Any) -> Any:
    """Three activities in sequence, then a timer, then an event: one step per episode."""
    name = ctx.get_input()
    a = yield ctx.call_activity("Hello", name)
    b = yield ctx.call_activity("Hello", a)
    fan = yield ctx.task_all([ctx.call_activity("Upper", b), ctx.call_activity("Lower", b)])
    yield ctx.create_timer(at(3600))
    approved = yield ctx.wait_for_external_event("Approve")
    return {"fan": fan, "approved": approved, "id": ctx.new_uuid()}


def _drive_chain() -> tuple[Episodes, list[list[HistoryEvent]]]:
    eps = Episodes(chain)
    incoming: list[list[HistoryEvent]] = []

    def run(*events: HistoryEvent) -> None:
        incoming.append(list(events))
        eps.run(*events)

    run(orchestrator_started(at(0)), execution_started("Tokyo"))
    run(orchestrator_started(at(1)), task_completed(0, "Hello Tokyo"))
    run(orchestrator_started(at(2)), task_completed(1, "Hello Hello Tokyo"))
    run(orchestrator_started(at(3)), task_completed(3, "lower"), task_completed(2, "UPPER"))
    run(orchestrator_started(at(3600)), timer_fired(4, at(3600)))
    run(orchestrator_started(at(4000)), event_raised("Approve", True))
    return eps, incoming


class TestEpisodes:
    def test_each_episode_appends_its_events_then_actions_then_orchestrator_completed(self) -> None:
        eps, _ = _drive_chain()
        first, second, third, fourth, fifth, last = eps.results

        assert [type(e).__name__ for e in first.new_events] == [
            "OrchestratorStarted",
            "ExecutionStarted",
            "TaskScheduled",
            "OrchestratorCompleted",
        ]
        assert first.actions == [TaskScheduled(event_id=0, timestamp=at(0), name="Hello", input='"Tokyo"')]
        assert first.completion is None and not first.is_complete

        assert second.actions == [
            TaskScheduled(event_id=1, timestamp=at(1), name="Hello", input='"Hello Tokyo"')
        ]
        assert [(a.event_id, a.name) for a in third.actions] == [(2, "Upper"), (3, "Lower")]  # type: ignore[attr-defined]
        assert fourth.actions == [TimerCreated(event_id=4, timestamp=at(3), fire_at=at(3600))]
        assert fifth.actions == [] and fifth.completion is None  # now waiting for the event
        assert [type(e).__name__ for e in fifth.new_events] == [
            "OrchestratorStarted",
            "TimerFired",
            "OrchestratorCompleted",
        ]

        assert last.completion is not None and last.completion.status is OrchestrationStatus.Completed
        output = json.loads(last.completion.output or "")
        assert output["fan"] == ["UPPER", "lower"] and output["approved"] is True
        assert [type(e).__name__ for e in last.new_events] == [
            "OrchestratorStarted",
            "EventRaised",
            "ExecutionCompleted",
            "OrchestratorCompleted",
        ]
        completed = last.new_events[-2]
        assert isinstance(completed, ExecutionCompleted)
        assert completed.orchestration_status is OrchestrationStatus.Completed
        assert completed.result == last.completion.output
        assert completed.failure_details is None
        assert completed.timestamp == at(4000)
        assert isinstance(last.new_events[-1], OrchestratorCompleted)

    def test_every_episode_replays_to_exactly_the_same_result(self) -> None:
        eps, incoming = _drive_chain()
        boundary = 0
        for recorded, events in zip(eps.results, incoming, strict=False):
            past = eps.history[:boundary]
            again = execute(chain, past, events)
            assert again.new_events == recorded.new_events
            assert again.actions == recorded.actions
            assert again.completion == recorded.completion
            assert again.custom_status == recorded.custom_status
            boundary += len(recorded.new_events)
        assert boundary == len(eps.history)

    def test_replaying_the_full_history_at_once_adds_nothing_and_gives_the_same_output(self) -> None:
        eps, _ = _drive_chain()
        final = eps.results[-1]
        replay = execute(chain, eps.history, [])
        assert replay.new_events == []
        assert replay.actions == []
        assert replay.completion == final.completion

    def test_already_completed_history_ignores_new_events(self) -> None:
        eps, _ = _drive_chain()
        late = execute(chain, eps.history, [orchestrator_started(at(9999)), event_raised("Approve", False)])
        assert late.new_events == []
        assert late.completion == eps.results[-1].completion

    def test_new_events_that_do_not_resume_the_orchestrator_add_no_actions(self) -> None:
        eps = Episodes(chain)
        eps.start("x")
        idle = eps.step(event_raised("Unrelated", 1), timestamp=at(1))
        assert idle.actions == [] and idle.completion is None
        assert [type(e).__name__ for e in idle.new_events] == [
            "OrchestratorStarted",
            "EventRaised",
            "OrchestratorCompleted",
        ]


class TestOrchestratorShapes:
    def test_plain_function_completes_in_the_first_episode(self) -> None:
        def orch(ctx: Any) -> Any:
            return {"doubled": ctx.get_input() * 2}

        result = Episodes(orch).start(21)
        assert result.completion is not None and result.completion.status is OrchestrationStatus.Completed
        assert json.loads(result.completion.output or "") == {"doubled": 42}
        assert result.actions == []
        assert [type(e).__name__ for e in result.new_events] == [
            "OrchestratorStarted",
            "ExecutionStarted",
            "ExecutionCompleted",
            "OrchestratorCompleted",
        ]

    def test_plain_function_returning_none_has_no_output(self) -> None:
        result = Episodes(lambda ctx: None).start()
        assert result.completion is not None and result.completion.status is OrchestrationStatus.Completed
        assert result.completion.output is None

    def test_plain_function_that_raises_fails(self) -> None:
        def orch(ctx: Any) -> Any:
            raise KeyError("nope")

        result = Episodes(orch).start()
        assert result.completion is not None and result.completion.status is OrchestrationStatus.Failed
        assert result.completion.failure is not None and result.completion.failure.error_type == "KeyError"

    def test_async_def_orchestrator_fails_with_a_clear_message(self) -> None:
        async def orch(ctx: Any) -> Any:
            return 1

        result = Episodes(orch).start()
        assert result.completion is not None and result.completion.status is OrchestrationStatus.Failed
        failure = result.completion.failure
        assert failure is not None
        assert failure.error_type == "OrchestratorError"
        assert "async def" in failure.error_message
        assert "generator" in failure.error_message and "yield" in failure.error_message
        assert "'Orch'" in failure.error_message
        assert result.actions == []

    def test_yielding_a_non_task_fails_clearly(self) -> None:
        def orch(ctx: Any) -> Any:
            yield ctx.call_activity("A")
            yield 42

        eps = Episodes(orch)
        eps.start()
        result = eps.step(task_completed(0), timestamp=at(1))
        assert result.completion is not None and result.completion.status is OrchestrationStatus.Failed
        failure = result.completion.failure
        assert failure is not None and failure.error_type == "OrchestratorError"
        assert "yielded 42" in failure.error_message
        assert "yield only tasks" in failure.error_message

    def test_yielding_a_completed_task_again_resumes_immediately(self) -> None:
        def orch(ctx: Any) -> Any:
            task = ctx.call_activity("A")
            first = yield task
            second = yield task
            return [first, second]

        eps = Episodes(orch)
        eps.start()
        result = eps.step(task_completed(0, 7), timestamp=at(1))
        assert result.completion is not None and json.loads(result.completion.output or "") == [7, 7]

    def test_exception_fails_with_type_message_and_stack(self) -> None:
        def failing_orchestrator(ctx: Any) -> Any:
            value = yield ctx.call_activity("A")
            raise ValueError(f"bad value {value}")

        eps = Episodes(failing_orchestrator)
        eps.start()
        result = eps.step(task_completed(0, 3), timestamp=at(1))
        assert result.completion is not None and result.completion.status is OrchestrationStatus.Failed
        failure = result.completion.failure
        assert failure is not None
        assert failure.error_type == "ValueError"
        assert failure.error_message == "bad value 3"
        assert failure.stack_trace is not None
        assert "Traceback" in failure.stack_trace
        assert "failing_orchestrator" in failure.stack_trace
        assert "ValueError: bad value 3" in failure.stack_trace
        assert json.loads(result.completion.output or "") == "ValueError: bad value 3"
        completed = [e for e in result.new_events if isinstance(e, ExecutionCompleted)]
        assert len(completed) == 1
        assert completed[0].orchestration_status is OrchestrationStatus.Failed
        assert completed[0].failure_details == failure

    def test_caught_exception_does_not_fail(self) -> None:
        def orch(ctx: Any) -> Any:
            try:
                raise RuntimeError("handled")
            except RuntimeError:
                pass
            return (yield ctx.call_activity("A"))

        assert Episodes(orch).start().completion is None

    def test_non_serializable_return_value_fails_clearly(self) -> None:
        class Opaque:
            pass

        def orch(ctx: Any) -> Any:
            yield ctx.call_activity("A")
            return Opaque()

        eps = Episodes(orch)
        eps.start()
        result = eps.step(task_completed(0), timestamp=at(1))
        assert result.completion is not None and result.completion.status is OrchestrationStatus.Failed
        failure = result.completion.failure
        assert failure is not None and failure.error_type == "SerializationError"
        assert "return value of orchestrator 'Orch'" in failure.error_message
        assert "Opaque" in failure.error_message
        assert "to_json" in failure.error_message  # tells how to fix it


class TestSuspendTerminate:
    def test_suspend_holds_events_until_resumed(self) -> None:
        def orch(ctx: Any) -> Any:
            first = yield ctx.call_activity("A")
            second = yield ctx.wait_for_external_event("go")
            return [first, second]

        eps = Episodes(orch)
        eps.start()
        suspended = eps.step(execution_suspended("maintenance"), task_completed(0, 1), timestamp=at(1))
        assert suspended.completion is None and suspended.actions == []
        still = eps.step(event_raised("go", 2), timestamp=at(2))
        assert still.completion is None and still.actions == []
        resumed = eps.step(execution_resumed("done"), timestamp=at(3))
        assert resumed.completion is not None and resumed.completion.status is OrchestrationStatus.Completed
        assert json.loads(resumed.completion.output or "") == [1, 2]
        # the full history replays to the same outcome
        assert execute(orch, eps.history, []).completion == resumed.completion

    def test_actions_recorded_during_suspension_still_replay(self) -> None:
        def orch(ctx: Any) -> Any:
            a = yield ctx.call_activity("A")
            b = yield ctx.call_activity("B", a)
            return b

        eps = Episodes(orch)
        eps.start()
        eps.step(task_completed(0, "a"), timestamp=at(1))  # schedules B (id 1)
        eps.step(execution_suspended(), task_completed(1, "b"), timestamp=at(2))
        done = eps.step(execution_resumed(), timestamp=at(3))
        assert done.completion is not None and json.loads(done.completion.output or "") == "b"

    def test_terminated_completes_as_terminated(self) -> None:
        def orch(ctx: Any) -> Any:
            yield ctx.wait_for_external_event("never")

        eps = Episodes(orch)
        eps.start()
        result = eps.step(execution_terminated("operator said stop"), timestamp=at(5))
        assert result.completion is not None
        assert result.completion.status is OrchestrationStatus.Terminated
        assert result.completion.output == '"operator said stop"'
        completed = [e for e in result.new_events if isinstance(e, ExecutionCompleted)]
        assert [c.orchestration_status for c in completed] == [OrchestrationStatus.Terminated]
        assert (
            execute(orch, eps.history, [orchestrator_started(at(6)), event_raised("never")]).new_events == []
        )

    def test_terminate_while_suspended(self) -> None:
        def orch(ctx: Any) -> Any:
            yield ctx.wait_for_external_event("never")

        eps = Episodes(orch)
        eps.start()
        eps.step(execution_suspended(), timestamp=at(1))
        result = eps.step(execution_terminated(), timestamp=at(2))
        assert result.completion is not None and result.completion.status is OrchestrationStatus.Terminated


class TestLegacyRewind:
    def test_generic_events_in_place_of_failed_rows_reschedule_the_activity_with_the_same_id(self) -> None:
        def orch(ctx: Any) -> Any:
            first = yield ctx.call_activity("First")
            second = yield ctx.call_activity("Flaky", first)
            return second

        # history of a failed run, after DTFx's legacy rewind rewrote TaskScheduled(1)/TaskFailed(1)
        # and the failed ExecutionCompleted into GenericEvent rows
        past = [
            orchestrator_started(at(0)),
            execution_started(),
            task_scheduled(0, "First"),
            orchestrator_completed(at(0)),
            orchestrator_started(at(1)),
            task_completed(0, "one"),
            generic_event("Rewound: TaskScheduled", event_id=1),
            orchestrator_completed(at(1)),
            orchestrator_started(at(2)),
            generic_event("Rewound: TaskFailed"),
            generic_event("Rewound: ExecutionCompleted", event_id=2),
            orchestrator_completed(at(2)),
        ]
        result = execute(orch, past, [orchestrator_started(at(10)), generic_event("rewind")])
        assert result.completion is None
        assert [(type(a), a.event_id, a.name, a.input) for a in result.actions] == [  # type: ignore[attr-defined]
            (TaskScheduled, 1, "Flaky", '"one"')
        ]

        # and the rewound instance then completes normally
        history = past + result.new_events
        done = execute(orch, history, [orchestrator_started(at(11)), task_completed(1, "two")])
        assert done.completion is not None and done.completion.status is OrchestrationStatus.Completed
        assert done.completion.output == '"two"'


def test_completed_marker_in_history_is_respected() -> None:
    """A history closed by ExecutionCompleted returns that outcome and adds nothing."""

    def orch(ctx: Any) -> Any:
        return "result"

    history = [
        orchestrator_started(T0),
        execution_started(),
        execution_completed(OrchestrationStatus.Completed, "result", event_id=0),
        orchestrator_completed(T0),
    ]
    result = execute(orch, history, [orchestrator_started(at(1))])
    assert result.new_events == [] and result.actions == []
    assert result.completion is not None and result.completion.output == '"result"'
    assert all(isinstance(e, OrchestratorStarted) is False for e in result.new_events)
