"""History events <-> DTFx History rows: every event type round-trips with DTFx column names and Edm types."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import pytest

from durable_azure.errors import StorageError
from durable_azure.orchestration.history import (
    EVENT_CLASSES,
    ContinueAsNew,
    EventRaised,
    EventSent,
    EventType,
    ExecutionCompleted,
    ExecutionResumed,
    ExecutionRewound,
    ExecutionStarted,
    ExecutionSuspended,
    ExecutionTerminated,
    FailureDetails,
    GenericEvent,
    HistoryEvent,
    HistoryState,
    OrchestrationStatus,
    OrchestratorCompleted,
    OrchestratorStarted,
    ParentInstance,
    SubOrchestrationInstanceCompleted,
    SubOrchestrationInstanceCreated,
    SubOrchestrationInstanceFailed,
    TaskCompleted,
    TaskFailed,
    TaskScheduled,
    TimerCreated,
    TimerFired,
)
from durable_azure.storage.history_rows import entity_to_event, event_to_entity

T0 = datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=timezone.utc)
T1 = datetime(2024, 1, 2, 4, 0, 0, tzinfo=timezone.utc)
FAILURE = FailureDetails(
    error_type="ValueError",
    error_message="bad 'value'",
    stack_trace="Traceback...",
    inner_failure=FailureDetails(error_type="KeyError", error_message="k"),
)
PARENT = ParentInstance(name="Parent", instance_id="p-1", execution_id="e" * 32, task_schedule_id=3)

EVENTS: list[HistoryEvent] = [
    ExecutionStarted(
        timestamp=T0,
        name="Hello",
        instance_id="order-42",
        execution_id="a" * 32,
        input='{"id": 42, "ü": "ß"}',
        parent=PARENT,
        tags={"k": "v"},
        generation=2,
        scheduled_start_time=T1,
    ),
    ExecutionStarted(timestamp=T0, name="Hello", instance_id="order-42", execution_id="a" * 32),
    ExecutionCompleted(timestamp=T0, orchestration_status=OrchestrationStatus.Completed, result='"done"'),
    ExecutionCompleted(
        timestamp=T0, orchestration_status=OrchestrationStatus.Failed, failure_details=FAILURE
    ),
    ExecutionTerminated(timestamp=T0, input='"stop"'),
    TaskScheduled(event_id=0, timestamp=T0, name="SayHello", input='"Tokyo"'),
    TaskCompleted(timestamp=T0, task_scheduled_id=0, result='"Hello Tokyo"'),
    TaskFailed(timestamp=T0, task_scheduled_id=0, reason="boom", details="d", failure_details=FAILURE),
    SubOrchestrationInstanceCreated(event_id=1, timestamp=T0, name="Child", instance_id="c-1", input="1"),
    SubOrchestrationInstanceCompleted(timestamp=T0, task_scheduled_id=1, result="2"),
    SubOrchestrationInstanceFailed(timestamp=T0, task_scheduled_id=1, reason="r", failure_details=FAILURE),
    TimerCreated(event_id=2, timestamp=T0, fire_at=T1),
    TimerFired(timestamp=T0, timer_id=2, fire_at=T1),
    OrchestratorStarted(timestamp=T0, is_played=True),
    OrchestratorCompleted(timestamp=T0),
    EventSent(event_id=3, timestamp=T0, instance_id="other", name="ping", input='{"a":1}'),
    EventRaised(timestamp=T0, name="approval", input="true"),
    ContinueAsNew(timestamp=T0, result='"next"'),
    GenericEvent(timestamp=T0, data="x"),
    HistoryState(timestamp=T0, state='{"s":1}'),
    ExecutionSuspended(timestamp=T0, reason="pause"),
    ExecutionResumed(timestamp=T0, reason="go"),
    ExecutionRewound(timestamp=T0, reason="again"),
]


def _row(event: HistoryEvent, index: int = 10) -> dict[str, Any]:
    return event_to_entity(event, partition_key="order-42", row_index=index, execution_id="a" * 32)


def test_every_event_type_is_covered() -> None:
    assert {type(e) for e in EVENTS} == set(EVENT_CLASSES.values())


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: type(e).__name__)
def test_round_trip(event: HistoryEvent) -> None:
    assert entity_to_event(_row(event)) == event


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: type(e).__name__)
def test_base_columns_have_dtfx_types(event: HistoryEvent) -> None:
    row = _row(event)
    assert row["PartitionKey"] == "order-42"
    assert row["RowKey"] == "000000000000000A"
    assert row["ExecutionId"] == "a" * 32
    assert row["EventType"] == event.EVENT_TYPE.name
    assert type(row["EventId"]) is int and -(2**31) <= row["EventId"] < 2**31
    assert type(row["IsPlayed"]) is bool
    assert isinstance(row["_Timestamp"], datetime) and row["_Timestamp"].tzinfo is not None
    # Table storage has no null: nothing is ever None.
    assert all(v is not None for v in row.values())
    # Every value is a type the SDK writes with the DTFx Edm type (str, Int32, Boolean, DateTime).
    assert all(type(v) in (str, int, bool) or isinstance(v, datetime) for v in row.values())


def test_row_key_is_16_upper_hex() -> None:
    assert _row(OrchestratorStarted(), 0)["RowKey"] == "0000000000000000"
    assert _row(OrchestratorStarted(), 255)["RowKey"] == "00000000000000FF"


def test_execution_started_columns() -> None:
    row = _row(EVENTS[0])
    assert json.loads(row["OrchestrationInstance"]) == {"InstanceId": "order-42", "ExecutionId": "a" * 32}
    assert row["OrchestrationInstance"] == '{"InstanceId":"order-42","ExecutionId":"' + "a" * 32 + '"}'
    assert json.loads(row["ParentInstance"]) == {
        "Name": "Parent",
        "OrchestrationInstance": {"InstanceId": "p-1", "ExecutionId": "e" * 32},
        "TaskScheduleId": 3,
        "Version": "",
    }
    assert row["Tags"] == '{"k":"v"}'
    assert row["Generation"] == 2 and type(row["Generation"]) is int
    assert isinstance(row["ScheduledStartTime"], datetime)
    assert row["Name"] == "Hello" and row["Version"] == ""

    bare = _row(EVENTS[1])
    assert bare["ParentInstance"] == "null" and bare["Tags"] == "null"
    assert "Input" not in bare and "Generation" not in bare and "ScheduledStartTime" not in bare


def test_completion_columns() -> None:
    row = _row(EVENTS[3])
    assert row["OrchestrationStatus"] == "Failed"
    assert json.loads(row["FailureDetails"])["ErrorType"] == "ValueError"
    assert json.loads(row["FailureDetails"])["InnerFailure"]["ErrorType"] == "KeyError"
    assert "Result" not in row
    assert _row(EVENTS[2])["FailureDetails"] == "null"
    assert _row(ContinueAsNew(result="1"))["OrchestrationStatus"] == "ContinuedAsNew"


def test_task_and_timer_columns() -> None:
    failed = _row(EVENTS[7])
    assert failed["TaskScheduledId"] == 0 and type(failed["TaskScheduledId"]) is int
    assert failed["Reason"] == "boom" and failed["Details"] == "d"
    fired = _row(EVENTS[12])
    assert fired["TimerId"] == 2 and fired["FireAt"] == T1
    assert _row(EVENTS[11])["FireAt"] == T1
    assert _row(EVENTS[8])["InstanceId"] == "c-1"
    assert _row(EVENTS[15])["InstanceId"] == "other"
    assert _row(EVENTS[18])["Data"] == "x"


def test_naive_datetimes_are_written_as_utc() -> None:
    row = _row(TimerCreated(timestamp=datetime(2024, 1, 1), fire_at=datetime(2024, 1, 2)))
    assert row["_Timestamp"] == datetime(2024, 1, 1, tzinfo=timezone.utc)
    assert row["FireAt"].tzinfo is not None


def test_reader_is_tolerant_of_v1_rows_and_strings() -> None:
    """v1 writers omitted null complex columns; some tools give datetimes as ISO strings."""
    row = {
        "PartitionKey": "x^2y",
        "RowKey": "0000000000000001",
        "ExecutionId": "e1",
        "EventType": "ExecutionStarted",
        "EventId": -1,
        "_Timestamp": "2024-01-02T03:04:05.123456Z",
        "Name": "N",
    }
    event = entity_to_event(row)
    assert isinstance(event, ExecutionStarted)
    assert event.instance_id == "x#y" and event.execution_id == "e1"
    assert event.parent is None and event.tags is None and event.input is None
    assert event.timestamp == T0

    failed = entity_to_event(
        {"EventType": "TaskFailed", "EventId": 5, "TaskScheduledId": 1, "FailureDetails": "null"}
    )
    assert isinstance(failed, TaskFailed) and failed.failure_details is None


def test_integer_event_type_is_accepted_and_unknown_rejected() -> None:
    assert isinstance(entity_to_event({"EventType": int(EventType.OrchestratorStarted)}), OrchestratorStarted)
    with pytest.raises(StorageError):
        entity_to_event({"EventType": "NoSuchEvent"})
    with pytest.raises(StorageError):
        entity_to_event({"EventType": "ExecutionFailed"})


def test_sdk_datetime_subclass_becomes_plain_datetime() -> None:
    from azure.data.tables._deserialize import TablesEntityDatetime

    value = TablesEntityDatetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=timezone.utc)
    event = entity_to_event({"EventType": "TimerCreated", "FireAt": value, "_Timestamp": value})
    assert isinstance(event, TimerCreated)
    assert type(event.fire_at) is datetime and event.fire_at == T0


def test_transactions_are_split_by_count_and_estimated_size() -> None:
    from durable_azure.storage.history_table import _chunk_rows

    small = [_row(EventRaised(name="e", input="1"), i) for i in range(250)]
    assert [len(c) for c in _chunk_rows(small)] == [99, 99, 52]
    # 60,000 UTF-16 bytes per row stays in the table, but 99 of them would pass the 4 MiB limit.
    large = [_row(EventRaised(name="e", input="x" * 30_000), i) for i in range(99)]
    chunks = _chunk_rows(large)
    assert len(chunks) == 2 and sum(len(c) for c in chunks) == 99
    assert all(sum(2 * len(r["Input"]) + 1024 for r in c) <= 3 * 1024 * 1024 for c in chunks)
    assert _chunk_rows([]) == [[]]
