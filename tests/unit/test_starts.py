"""Which start messages run: the rules of durable_azure.worker.starts, on plain events."""

from __future__ import annotations

from durable_azure.orchestration.history import ExecutionStarted, ParentInstance
from durable_azure.worker.starts import Verdict, child_execution_id, judge_start


def start(
    execution: str, *, generation: int | None = None, parent: ParentInstance | None = None
) -> ExecutionStarted:
    return ExecutionStarted(
        name="Flow", instance_id="i", execution_id=execution, generation=generation, parent=parent
    )


def parent(execution: str = "pe", task: int = 0) -> ParentInstance:
    return ParentInstance(name="P", instance_id="p", execution_id=execution, task_schedule_id=task)


def test_no_history_runs() -> None:
    assert judge_start(start("a"), None, running=False).verdict is Verdict.RUN


def test_the_same_execution_is_a_duplicate_running_or_finished() -> None:
    for running in (True, False):
        assert judge_start(start("a"), start("a"), running=running).verdict is Verdict.DUPLICATE


def test_a_newer_client_start_replaces_a_finished_execution() -> None:
    judged = judge_start(start("b", generation=1), start("a", generation=0), running=False)
    assert judged.verdict is Verdict.RUN


def test_an_older_client_start_is_stale() -> None:
    # the original start, delivered again after the instance continued as new (same generation)
    judged = judge_start(start("a", generation=2), start("b", generation=2), running=True)
    assert judged.verdict is Verdict.STALE and "generation 2" in judged.reason
    assert (
        judge_start(start("a", generation=1), start("b", generation=2), running=False).verdict
        is Verdict.STALE
    )


def test_a_child_start_for_the_request_the_child_already_serves_is_a_duplicate() -> None:
    judged = judge_start(start("x2", parent=parent()), start("x1", parent=parent()), running=False)
    assert judged.verdict is Verdict.DUPLICATE and "same request" in judged.reason


def test_a_child_start_for_another_request_waits_while_the_child_runs_and_then_runs() -> None:
    other = parent(execution="pe2")
    assert (
        judge_start(start("y", parent=other), start("x", parent=parent()), running=True).verdict
        is Verdict.WAIT
    )
    assert (
        judge_start(start("y", parent=other), start("x", parent=parent()), running=False).verdict
        is Verdict.RUN
    )


def test_child_execution_ids_are_stable_per_request_and_look_like_dtfx_ids() -> None:
    first = child_execution_id("p", "pe", 3)
    assert first == child_execution_id("p", "pe", 3)
    assert len(first) == 32 and int(first, 16) >= 0
    assert (
        len(
            {
                first,
                child_execution_id("p", "pe", 4),
                child_execution_id("p", "pe2", 3),
                child_execution_id("q", "pe", 3),
            }
        )
        == 4
    )
