"""Readable history rows and timeline spans (durable_azure.views.rows): pure, no storage."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from durable_azure.orchestration.history import (
    EventRaised,
    ExecutionCompleted,
    ExecutionResumed,
    ExecutionStarted,
    ExecutionSuspended,
    ExecutionTerminated,
    FailureDetails,
    HistoryEvent,
    OrchestrationStatus,
    OrchestratorCompleted,
    OrchestratorStarted,
    SubOrchestrationInstanceCompleted,
    SubOrchestrationInstanceCreated,
    TaskCompleted,
    TaskFailed,
    TaskScheduled,
    TimerCreated,
    TimerFired,
)
from durable_azure.views.rows import (
    episode_spans,
    format_duration,
    format_offset,
    history_rows,
    orchestration_span,
    origin_of,
    preview,
    task_spans,
)

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=timezone.utc)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def started(seconds: float = 0.0) -> ExecutionStarted:
    return ExecutionStarted(
        name="Orch", instance_id="inst-1", execution_id="exec-1", input='{"n": 2}', timestamp=at(seconds)
    )


def episode(start: float, *events: HistoryEvent, end: float | None = None) -> list[HistoryEvent]:
    return [
        OrchestratorStarted(timestamp=at(start)),
        *events,
        OrchestratorCompleted(timestamp=at(end or start)),
    ]


def full_history() -> list[HistoryEvent]:
    """Two activities (one fails), a 2 s timer, a sub-orchestration, an external event, completion."""
    boom = FailureDetails("ValueError", "boom", "Traceback ...")
    return [
        *episode(
            0.1,
            started(0.0),
            TaskScheduled(event_id=0, name="A", input='"x"', timestamp=at(0.1)),
            TaskScheduled(event_id=1, name="B", input=None, timestamp=at(0.1)),
        ),
        *episode(
            1.5,
            TaskCompleted(task_scheduled_id=0, result='"ax"', timestamp=at(1.0)),
            TaskFailed(
                task_scheduled_id=1, reason="ValueError: boom", failure_details=boom, timestamp=at(1.2)
            ),
            TimerCreated(event_id=2, fire_at=at(3.5), timestamp=at(1.5)),
        ),
        *episode(
            3.6,
            TimerFired(timer_id=2, fire_at=at(3.5), timestamp=at(1.5)),
            SubOrchestrationInstanceCreated(
                event_id=3, name="Child", instance_id="child-1", input="3", timestamp=at(3.6)
            ),
        ),
        *episode(5.0, SubOrchestrationInstanceCompleted(task_scheduled_id=3, result="7", timestamp=at(4.9))),
        *episode(
            8.0,
            EventRaised(name="Approval", input="true", timestamp=at(7.5)),
            ExecutionCompleted(
                event_id=4,
                orchestration_status=OrchestrationStatus.Completed,
                result='"done"',
                timestamp=at(8.0),
            ),
        ),
    ]


# ----------------------------------------------------------------------------- rows


def test_rows_follow_history_order_with_offsets_and_episodes() -> None:
    events = full_history()
    rows = history_rows(events)
    assert [r.sequence for r in rows] == list(range(len(events)))
    assert [r.event_type for r in rows] == [type(e).__name__ for e in events]
    assert rows[0].event_type == "OrchestratorStarted" and rows[0].offset == pytest.approx(0.1)
    assert rows[1].event_type == "ExecutionStarted" and rows[1].offset == 0.0 and rows[1].name == "Orch"
    assert [r.episode for r in rows if r.event_type == "OrchestratorStarted"] == [1, 2, 3, 4, 5]
    assert all(r.timestamp.tzinfo is not None for r in rows)


def test_completions_are_paired_with_their_scheduling_event() -> None:
    rows = {(r.event_type, r.scheduled_id): r for r in history_rows(full_history())}
    done = rows[("TaskCompleted", 0)]
    assert (done.name, done.result, done.error) == ("A", '"ax"', None)
    assert done.duration == pytest.approx(0.9)
    failed = rows[("TaskFailed", 1)]
    assert (failed.name, failed.error) == ("B", "ValueError: boom")
    assert failed.duration == pytest.approx(1.1)
    timer = rows[("TimerFired", 2)]
    assert timer.name == "timer" and timer.duration == pytest.approx(2.0) and timer.fire_at == at(3.5)
    child = rows[("SubOrchestrationInstanceCompleted", 3)]
    assert (child.name, child.instance_id, child.result) == ("Child", "child-1", "7")
    assert child.duration == pytest.approx(1.3)
    # scheduling rows carry no duration; they show their input
    scheduled = rows[("TaskScheduled", None)]
    assert scheduled.duration is None


def test_a_timer_firing_on_another_day_shows_its_date() -> None:
    """A long timer's parts fire days after they are created (3 days each): the time of day alone
    read as if the timer fired the moment it was created."""
    history = [
        OrchestratorStarted(timestamp=at(0)),
        ExecutionStarted(name="Wait", instance_id="i", execution_id="e", timestamp=at(0)),
        TimerCreated(event_id=0, fire_at=at(3 * 86400), timestamp=at(0)),
    ]
    (row,) = [r for r in history_rows(history) if r.event_type == "TimerCreated"]
    assert row.detail == "fires at 2026-03-04 12:00:00.000"


def test_row_details_and_json() -> None:
    rows = history_rows(full_history())
    by_type = {r.event_type: r for r in rows}
    assert by_type["TaskFailed"].detail == "ValueError: boom"
    assert by_type["TimerCreated"].detail == "fires at 12:00:03.500"
    assert by_type["SubOrchestrationInstanceCreated"].detail == "→ child-1 3"
    assert by_type["EventRaised"].detail == "true"
    assert (
        by_type["ExecutionCompleted"].detail == '"done"'
        and by_type["ExecutionCompleted"].status == "Completed"
    )

    data = by_type["TaskCompleted"].to_json()
    assert data == {
        "sequence": 6,
        "timestamp": "2026-03-01T12:00:01+00:00",
        "offsetMs": 1000.0,
        "eventType": "TaskCompleted",
        "eventId": -1,
        "episode": 2,
        "name": "A",
        "input": None,
        "result": "ax",
        "error": None,
        "durationMs": 900.0,
        "scheduledId": 0,
        "instanceId": None,
        "fireAt": None,
        "status": None,
    }
    assert by_type["ExecutionStarted"].to_json()["input"] == {"n": 2}


def test_failed_execution_row_shows_the_failure() -> None:
    failure = FailureDetails("KeyError", "'x'")
    events = [
        *episode(
            0.0,
            started(),
            ExecutionCompleted(
                orchestration_status=OrchestrationStatus.Failed, failure_details=failure, timestamp=at(0)
            ),
        )
    ]
    row = next(r for r in history_rows(events) if r.event_type == "ExecutionCompleted")
    assert row.error == "KeyError: 'x'" and row.result is None and row.name == "Failed"


def test_answer_without_its_scheduling_event_has_no_name_or_duration() -> None:
    events = [*episode(0.0, started(), TaskCompleted(task_scheduled_id=9, result="1", timestamp=at(1)))]
    row = next(r for r in history_rows(events) if r.event_type == "TaskCompleted")
    assert row.name == "" and row.duration is None and row.scheduled_id == 9


def test_empty_history() -> None:
    assert history_rows([]) == []
    assert task_spans([]) == []
    assert episode_spans([]) == []
    assert orchestration_span([]) is None
    assert origin_of([]) is None


# ----------------------------------------------------------------------------- spans


def test_task_spans_of_a_finished_instance() -> None:
    spans = task_spans(full_history())
    summary = [(s.kind, s.name, s.start, s.end, s.outcome, s.task_id) for s in spans]
    assert summary == [
        ("activity", "A", at(0.1), at(1.0), "completed", 0),
        ("activity", "B", at(0.1), at(1.2), "failed", 1),
        ("timer", "timer", at(1.5), at(3.5), "completed", 2),
        ("suborchestration", "Child", at(3.6), at(4.9), "completed", 3),
        # the wait runs from the end of the previous episode (5.0) to the event's arrival
        ("wait", "Approval", at(5.0), at(7.5), "completed", None),
    ]
    assert spans[1].detail == "ValueError: boom"
    assert spans[0].detail == '"ax"'


def test_episode_and_orchestration_spans() -> None:
    events = full_history()
    episodes = episode_spans(events)
    assert [(s.start, s.end, s.outcome) for s in episodes] == [
        (at(t), at(t), "completed") for t in (0.1, 1.5, 3.6, 5.0, 8.0)
    ]
    whole = orchestration_span(events)
    assert whole is not None
    assert (whole.name, whole.start, whole.end, whole.outcome) == ("Orch", at(0), at(8.0), "completed")
    assert whole.detail == 'Completed: "done"'


def test_open_work_is_pending_while_running() -> None:
    events = [
        *episode(
            0.0,
            started(),
            TaskScheduled(event_id=0, name="Slow", timestamp=at(0)),
            TimerCreated(event_id=1, fire_at=at(60), timestamp=at(0)),
        )
    ]
    spans = task_spans(events)
    assert [(s.kind, s.end, s.outcome) for s in spans] == [
        ("activity", None, "pending"),
        ("timer", None, "pending"),
    ]
    assert spans[0].duration(now=at(2)) == pytest.approx(2.0)
    whole = orchestration_span(events)
    assert whole is not None and whole.end is None and whole.outcome == "pending"


def test_open_work_is_cancelled_when_the_instance_was_terminated() -> None:
    events = [
        *episode(0.0, started(), TaskScheduled(event_id=0, name="Slow", timestamp=at(0))),
        *episode(
            4.0,
            ExecutionTerminated(input='"stop"', timestamp=at(3.9)),
            ExecutionCompleted(
                orchestration_status=OrchestrationStatus.Terminated, result='"stop"', timestamp=at(4)
            ),
        ),
    ]
    (slow,) = task_spans(events)
    assert (slow.outcome, slow.start, slow.end) == ("cancelled", at(0), at(4))
    whole = orchestration_span(events)
    assert whole is not None and whole.outcome == "cancelled" and whole.detail.startswith("Terminated")


def test_suspension_span() -> None:
    events = [
        *episode(0.0, started()),
        *episode(1.0, ExecutionSuspended(reason="maintenance", timestamp=at(1))),
        *episode(4.0, ExecutionResumed(reason="done", timestamp=at(4))),
    ]
    (span,) = task_spans(events)
    assert (span.kind, span.start, span.end, span.detail) == ("suspended", at(1), at(4), "maintenance")


def test_spans_of_a_history_from_the_real_replay_core() -> None:
    """Fan-out, a timer and a failing activity, driven by durable_azure.testing's episode loop."""
    from durable_azure.testing import run_orchestrator

    def orchestrator(context):  # type: ignore[no-untyped-def]
        results = yield context.task_all([context.call_activity("Work", i) for i in range(3)])
        yield context.create_timer(context.current_utc_datetime + timedelta(seconds=30))
        try:
            yield context.call_activity("Boom")
        except Exception:
            results.append("failed")
        return results

    result = run_orchestrator(
        orchestrator, activities={"Work": lambda n: n * 10, "Boom": ValueError("kaboom")}
    )
    assert result.status == "Completed", result.failure
    spans = task_spans(result.history)
    assert [(s.kind, s.name, s.outcome) for s in spans] == [
        ("activity", "Work", "completed"),
        ("activity", "Work", "completed"),
        ("activity", "Work", "completed"),
        ("timer", "timer", "completed"),
        ("activity", "Boom", "failed"),
    ]
    timer = spans[3]
    assert timer.end is not None and (timer.end - timer.start) == timedelta(seconds=30)
    rows = history_rows(result.history)
    assert all(r.name for r in rows if r.event_type in ("TaskCompleted", "TaskFailed"))
    assert "kaboom" in next(r.error for r in rows if r.event_type == "TaskFailed")  # type: ignore[operator]


# ----------------------------------------------------------------------------- formatting


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, ""),
        (0, "0 ms"),
        (0.0456, "46 ms"),
        (1.5, "1.50 s"),
        (59.994, "59.99 s"),
        (185, "3m 05s"),
        (7380, "2h 03m"),
        (3 * 86400 + 4 * 3600, "3d 04h"),
        (-2, "-2.00 s"),
    ],
)
def test_format_duration(seconds: float | None, text: str) -> None:
    assert format_duration(seconds) == text


def test_format_offset_and_preview() -> None:
    assert format_offset(0) == "+0.000 s"
    assert format_offset(12.3456) == "+12.346 s"
    assert format_offset(185) == "+3m 05s"
    assert preview(None) == ""
    assert preview('{"a":\n 1}') == '{"a": 1}'
    assert preview("x" * 100, 10) == "x" * 9 + "…"
