"""Which Instances columns a worker restores from history when a row write was lost."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from durable_azure.errors import FailureDetails
from durable_azure.orchestration.history import (
    ExecutionCompleted,
    ExecutionStarted,
    ExecutionSuspended,
    HistoryEvent,
    OrchestrationStatus,
    OrchestratorStarted,
    TaskScheduled,
)
from durable_azure.storage.instance_table import InstanceUpdate, RowState
from durable_azure.worker.instance_state import InstanceState, row_repair

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc)
EXEC = "e" * 32


def running_history() -> list[HistoryEvent]:
    return [
        OrchestratorStarted(timestamp=T0),
        ExecutionStarted(name="Chain", instance_id="i", execution_id=EXEC, input="3", timestamp=T0),
        TaskScheduled(event_id=0, name="Step", input="3", timestamp=T0 + timedelta(seconds=1)),
    ]


def finished_history() -> list[HistoryEvent]:
    done = ExecutionCompleted(
        orchestration_status=OrchestrationStatus.Failed, result='"boom"', timestamp=T0 + timedelta(seconds=5)
    )
    return [*running_history(), done]


def state(events: list[HistoryEvent]) -> InstanceState:
    return InstanceState.from_history(events, "etag", EXEC)


def row(status: OrchestrationStatus, execution_id: str = EXEC) -> RowState:
    return RowState(etag="row", status=status, execution_id=execution_id)


def test_a_row_that_agrees_with_history_needs_nothing() -> None:
    assert row_repair(state(running_history()), row(OrchestrationStatus.Running)) == InstanceUpdate()
    assert row_repair(state(finished_history()), row(OrchestrationStatus.Failed)) == InstanceUpdate()
    assert row_repair(InstanceState(), None) == InstanceUpdate()  # no history yet


def test_a_pending_row_of_a_started_execution_becomes_running_with_its_columns() -> None:
    update = row_repair(state(running_history()), row(OrchestrationStatus.Pending))
    assert update == InstanceUpdate(
        name="Chain",
        version="",
        created_time=T0,
        input="3",
        status=OrchestrationStatus.Running,
        execution_id=EXEC,
        generation=0,
        tags="null",  # DTFx writes Tags at every ExecutionStarted checkpoint ("null" when none)
        last_updated_time=T0 + timedelta(seconds=1),
    )


def test_a_suspended_instance_is_restored_as_suspended() -> None:
    events = [*running_history(), ExecutionSuspended(timestamp=T0 + timedelta(seconds=2))]
    update = row_repair(state(events), row(OrchestrationStatus.Pending))
    assert update.status is OrchestrationStatus.Suspended


def test_a_finished_history_behind_a_running_row_gets_its_outcome() -> None:
    update = row_repair(state(finished_history()), row(OrchestrationStatus.Running))
    assert update == InstanceUpdate(
        status=OrchestrationStatus.Failed,
        output='"boom"',
        completed_time=T0 + timedelta(seconds=5),
        last_updated_time=T0 + timedelta(seconds=5),
    )


def test_a_tagged_execution_gets_its_tags_back() -> None:
    events = running_history()
    events[1] = ExecutionStarted(
        name="Chain", instance_id="i", execution_id=EXEC, input="3", tags={"team": "ops"}, timestamp=T0
    )
    assert row_repair(state(events), row(OrchestrationStatus.Pending)).tags == '{"team":"ops"}'


def test_a_failure_with_details_is_repaired_as_dtfx_output_text() -> None:
    # DTFx OrchestrationRuntimeState.Output: FailureDetails.ToString() wins over the result
    done = ExecutionCompleted(
        orchestration_status=OrchestrationStatus.Failed,
        result="boom",
        failure_details=FailureDetails("System.InvalidOperationException", "boom"),
        timestamp=T0 + timedelta(seconds=5),
    )
    update = row_repair(state([*running_history(), done]), row(OrchestrationStatus.Running))
    assert update.output == "System.InvalidOperationException: boom"


def test_a_missing_row_is_rebuilt_whole() -> None:
    update = row_repair(state(finished_history()), None)
    assert update.name == "Chain" and update.execution_id == EXEC
    assert update.status is OrchestrationStatus.Failed and update.output == '"boom"'


def test_a_row_for_another_execution_is_a_newer_start_and_is_left_alone() -> None:
    assert (
        row_repair(state(finished_history()), row(OrchestrationStatus.Pending, "f" * 32)) == InstanceUpdate()
    )
