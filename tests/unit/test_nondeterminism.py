"""Non-determinism detection: replayed code must ask for what history recorded, at the same sequence number."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)  # history_factory, importable under --import-mode=importlib

from history_factory import (  # noqa: E402
    at,
    event_sent,
    execution_started,
    orchestrator_completed,
    orchestrator_started,
    sub_orchestration_completed,
    sub_orchestration_created,
    task_completed,
    task_scheduled,
    timer_created,
    timer_fired,
)

import durable_azure as df  # noqa: E402
from durable_azure.orchestration.executor import OrchestrationResult, execute  # noqa: E402
from durable_azure.orchestration.history import (  # noqa: E402
    EventSent,
    ExecutionCompleted,
    HistoryEvent,
    OrchestrationStatus,
    SubOrchestrationInstanceCreated,
    TaskScheduled,
    TimerCreated,
)

_ACTIONS = (TaskScheduled, TimerCreated, SubOrchestrationInstanceCreated, EventSent)


def _first_episode(*scheduled: HistoryEvent) -> list[HistoryEvent]:
    return [orchestrator_started(at(0)), execution_started(), *scheduled, orchestrator_completed(at(0))]


def _assert_nondeterministic(result: OrchestrationResult, *fragments: str) -> str:
    assert result.completion is not None, "the orchestration should have failed"
    assert result.completion.status is OrchestrationStatus.Failed
    failure = result.completion.failure
    assert failure is not None
    assert failure.error_type == "NonDeterminismError"
    message = failure.error_message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    # the usual causes are spelled out
    assert "deterministic" in message
    assert "datetime.now()" in message and "context.current_utc_datetime" in message
    assert "changed while this instance was in flight" in message
    # and nothing new is dispatched
    assert result.actions == []
    assert not any(isinstance(e, _ACTIONS) for e in result.new_events)
    return message


def test_another_action_type_at_a_sequence_number() -> None:
    def orch(ctx: Any) -> Any:
        yield ctx.create_timer(at(60))  # used to be an activity call

    past = _first_episode(task_scheduled(0, "SendEmail"))
    result = execute(orch, past, [orchestrator_started(at(1)), task_completed(0)])
    _assert_nondeterministic(
        result,
        "sequence number 0",
        "history recorded a call to activity 'SendEmail'",
        "the code now asks for a timer firing at",
        "instance 'inst-1'",
        "'Orch'",
    )


def test_another_activity_name() -> None:
    def orch(ctx: Any) -> Any:
        yield ctx.call_activity("A")
        yield ctx.call_activity("RenamedB")

    past = [
        *_first_episode(task_scheduled(0, "A")),
        orchestrator_started(at(1)),
        task_completed(0),
        task_scheduled(1, "B"),
        orchestrator_completed(at(1)),
    ]
    result = execute(orch, past, [orchestrator_started(at(2)), task_completed(1)])
    _assert_nondeterministic(
        result,
        "sequence number 1",
        "history recorded a call to activity 'B'",
        "the code now asks for a call to activity 'RenamedB'",
    )


def test_another_sub_orchestration_name() -> None:
    def orch(ctx: Any) -> Any:
        yield ctx.call_sub_orchestrator("NewChild")

    past = _first_episode(sub_orchestration_created(0, "OldChild"))
    result = execute(orch, past, [orchestrator_started(at(1)), sub_orchestration_completed(0, 1)])
    _assert_nondeterministic(
        result,
        "sequence number 0",
        "history recorded a call to sub-orchestration 'OldChild'",
        "the code now asks for a call to sub-orchestration 'NewChild'",
    )


def test_another_sub_orchestration_instance_id() -> None:
    def orch(ctx: Any) -> Any:
        yield ctx.call_sub_orchestrator("Child", instance_id="child-new")

    past = _first_episode(sub_orchestration_created(0, "Child", instance_id="child-old"))
    result = execute(orch, past, [orchestrator_started(at(1))])
    _assert_nondeterministic(result, "sequence number 0", "instance 'child-old'", "instance 'child-new'")


def test_another_entity_target() -> None:
    def orch(ctx: Any) -> Any:
        ctx.signal_entity(df.EntityId("Counter", "b"), "add", 1)
        yield ctx.wait_for_external_event("x")

    past = _first_episode(event_sent(0, "@counter@a", raw='{"op":"add"}'))
    result = execute(orch, past, [orchestrator_started(at(1))])
    _assert_nondeterministic(result, "sequence number 0", "'@counter@a'", "'@counter@b'")


def test_recorded_action_the_code_no_longer_asks_for() -> None:
    def orch(ctx: Any) -> Any:
        yield ctx.call_activity("A")  # the second call, to 'B', was deleted from the code

    past = _first_episode(task_scheduled(0, "A"), task_scheduled(1, "B"))
    result = execute(orch, past, [orchestrator_started(at(1)), task_completed(0)])
    _assert_nondeterministic(
        result,
        "sequence number 1",
        "history recorded a call to activity 'B'",
        "the code did not ask for it",
    )


def test_recorded_action_missing_because_the_code_now_returns_early() -> None:
    def orch(ctx: Any) -> Any:
        return "nothing to do any more"  # used to call activity 'A' first

    past = _first_episode(task_scheduled(0, "A"))
    result = execute(orch, past, [orchestrator_started(at(1)), task_completed(0, "x")])
    _assert_nondeterministic(result, "sequence number 0", "history recorded a call to activity 'A'")


def test_nondeterminism_failure_is_recorded_in_history() -> None:
    def orch(ctx: Any) -> Any:
        yield ctx.call_activity("B")

    past = _first_episode(task_scheduled(0, "A"))
    new = [orchestrator_started(at(1)), task_completed(0)]
    result = execute(orch, past, new)
    _assert_nondeterministic(result, "sequence number 0")
    completed = [e for e in result.new_events if isinstance(e, ExecutionCompleted)]
    assert len(completed) == 1
    assert completed[0].orchestration_status is OrchestrationStatus.Failed
    assert completed[0].failure_details is not None
    assert completed[0].failure_details.error_type == "NonDeterminismError"


def test_changed_inputs_and_timer_times_are_not_nondeterminism() -> None:
    """Like DTFx, only the kind and name of an action are compared, not its payload or fire time."""

    def orch(ctx: Any) -> Any:
        a = yield ctx.call_activity("A", {"new": "input"})
        yield ctx.create_timer(ctx.current_utc_datetime)  # a different fire_at than recorded
        return a

    past = [
        *_first_episode(task_scheduled(0, "A", {"old": "input"})),
        orchestrator_started(at(1)),
        task_completed(0, "a"),
        timer_created(1, at(999)),
        orchestrator_completed(at(1)),
    ]
    result = execute(orch, past, [orchestrator_started(at(2)), timer_fired(1, at(999))])
    assert result.completion is not None and result.completion.status is OrchestrationStatus.Completed
    assert result.completion.output == '"a"'


def test_nondeterminism_error_is_a_durable_error() -> None:
    assert issubclass(df.NonDeterminismError, df.DurableError)
