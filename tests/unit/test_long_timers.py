"""Long timers split in history as Durable Functions splits them, and replay of the histories it wrote.

The rule (azure-functions-durable 1.7.0, ``azure/durable_functions/models/Task.py``, ``LongTimerTask``
and ``DurableOrchestrationContext.create_timer``): a timer further out than
``maximumShortTimerDuration`` (6 days on Azure Storage, ``AzureStorageDurabilityProvider.MaximumDelayTime``
in Azure/azure-functions-durable-extension @ a7c6d694) is a chain of timers; each is created when
the previous one fired, firing ``longRunningTimerIntervalDuration`` (3 days) after
``current_utc_datetime``, or at the final time once that is at most 6 days away; the task completes
when a part fires and ``current_utc_datetime`` has reached the final time.
"""

from __future__ import annotations

import json
from collections.abc import Generator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from durable_azure.config import Settings
from durable_azure.orchestration.context import DurableOrchestrationContext
from durable_azure.orchestration.executor import execute
from durable_azure.orchestration.history import (
    ExecutionStarted,
    HistoryEvent,
    OrchestrationStatus,
    OrchestratorStarted,
    TaskCompleted,
    TaskScheduled,
    TimerCreated,
    TimerFired,
)
from durable_azure.orchestration.long_timers import LongTimerTask, TimerLimits
from durable_azure.storage.history_rows import entity_to_event
from durable_azure.testing import ExternalEvent, run_orchestrator

T = datetime(2026, 1, 1, tzinfo=timezone.utc)
DAY = timedelta(days=1)


def wait_ten_days(context: DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    deadline = context.current_utc_datetime + timedelta(days=10)
    yield context.create_timer(deadline)
    greeting = yield context.call_activity("Hello", "world")
    return {"greeting": greeting, "late_enough": context.current_utc_datetime >= deadline}


def wait_thirty_days(context: DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    deadline = context.current_utc_datetime + timedelta(days=30)
    yield context.create_timer(deadline)
    greeting = yield context.call_activity("Hello", "world")
    return {"greeting": greeting, "late_enough": context.current_utc_datetime >= deadline}


# ------------------------------------------------------------------ histories as DTFx writes them


def iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def row(event_type: str, at: datetime, event_id: int = -1, **columns: Any) -> dict[str, Any]:
    """A History-table row as DurableTask.AzureStorage writes it (AzureTableTrackingStore: the
    event's properties as columns, EventType by name, the event time in ``_Timestamp``)."""
    return {
        "PartitionKey": "df-instance",
        "ExecutionId": "8b5a6c0f5b0c4c43a1d5e3f1d2c3b4a5",
        "EventType": event_type,
        "EventId": event_id,
        "IsPlayed": False,
        "_Timestamp": at,
        **columns,
    }


def events(rows: list[dict[str, Any]]) -> list[HistoryEvent]:
    return [entity_to_event(r) for r in rows]


# Times of the episodes: each timer message is taken in a little after its FireAt, as DTFx does.
E2 = T + 3 * DAY + timedelta(seconds=1.5)
E3 = E2 + 3 * DAY + timedelta(seconds=1.2)
E4 = T + 10 * DAY + timedelta(seconds=0.9)
E5 = E4 + timedelta(seconds=2)

# A 10-day timer of a Durable Functions for Python 1.7 app on the Azure Storage provider. The
# TimerCreated/TimerFired pairs follow DurableTask.Core's TaskOrchestrationDispatcher
# .ProcessCreateTimerDecision (Azure/durabletask @ 52170329): TimerCreated has the action's id as
# EventId; TimerFired has EventId -1, TimerId = that id and the same FireAt. The FireAt values follow
# LongTimerTask: T + 3 days, then (episode time) + 3 days, then the final time.
DF_TEN_DAY_TIMER = [
    # episode 1: the orchestrator starts and creates the long timer; its first part fires in 3 days
    row("OrchestratorStarted", T),
    row("ExecutionStarted", T, Name="wait_ten_days", Input="null", Version=""),
    row("TimerCreated", T, 0, FireAt=T + 3 * DAY),
    row("OrchestratorCompleted", T),
    # episode 2: 7 days minus a bit left (> 6): the next part fires 3 days after the episode's time
    row("OrchestratorStarted", E2),
    row("TimerFired", E2, TimerId=0, FireAt=T + 3 * DAY),
    row("TimerCreated", E2, 1, FireAt=E2 + 3 * DAY),
    row("OrchestratorCompleted", E2),
    # episode 3: under 4 days left (<= 6): the last part fires at the final time
    row("OrchestratorStarted", E3),
    row("TimerFired", E3, TimerId=1, FireAt=E2 + 3 * DAY),
    row("TimerCreated", E3, 2, FireAt=T + 10 * DAY),
    row("OrchestratorCompleted", E3),
    # episode 4: the final time is reached: the task completes and the code goes on
    row("OrchestratorStarted", E4),
    row("TimerFired", E4, TimerId=2, FireAt=T + 10 * DAY),
    row("TaskScheduled", E4, 3, Name="Hello", Input=json.dumps("world")),
    row("OrchestratorCompleted", E4),
]


def test_a_history_durable_functions_wrote_with_a_split_timer_replays_to_completion() -> None:
    past = events(DF_TEN_DAY_TIMER)
    result = execute(
        wait_ten_days,
        past,
        [OrchestratorStarted(timestamp=E5), TaskCompleted(task_scheduled_id=3, result='"hi"', timestamp=E5)],
    )
    assert result.actions == []
    assert result.completion is not None
    assert result.completion.status is OrchestrationStatus.Completed, result.completion
    assert json.loads(result.completion.output or "null") == {"greeting": "hi", "late_enough": True}


@pytest.mark.parametrize(
    ("episodes", "expected"),
    [
        (4, TimerCreated(event_id=1, fire_at=E2 + 3 * DAY)),  # after the first part fired
        (8, TimerCreated(event_id=2, fire_at=T + 10 * DAY)),  # after the second part fired
        (12, TaskScheduled(event_id=3, name="Hello", input=json.dumps("world"))),  # after the last
    ],
)
def test_each_episode_asks_for_exactly_what_durable_functions_recorded(
    episodes: int, expected: HistoryEvent
) -> None:
    """Run live from each point of the DF history: the new action is the one DF wrote next."""
    rows = DF_TEN_DAY_TIMER
    past = events(rows[:episodes])
    incoming = events(rows[episodes : episodes + 2])  # OrchestratorStarted + TimerFired
    result = execute(wait_ten_days, past, incoming)
    assert result.completion is None
    assert len(result.actions) == 1
    action = result.actions[0]
    assert type(action) is type(expected)
    assert action.event_id == expected.event_id
    if isinstance(expected, TimerCreated):
        assert isinstance(action, TimerCreated)
        assert action.fire_at == expected.fire_at
    else:
        assert isinstance(action, TaskScheduled) and isinstance(expected, TaskScheduled)
        assert action.name == expected.name


def test_a_last_part_taken_in_before_the_final_time_adds_a_part_as_durable_functions_does() -> None:
    """DTFx takes a timer message in whenever the queue shows it (TaskHubQueue.GetVisibilityDelay
    hides it for FireAt - now; nothing compares with FireAt on receipt), so the last part can be
    taken in a moment early; LongTimerTask then creates one more part at the final time."""
    past = events(DF_TEN_DAY_TIMER[:12])
    early = T + 10 * DAY - timedelta(seconds=0.4)
    result = execute(
        wait_ten_days,
        past,
        [
            OrchestratorStarted(timestamp=early),
            TimerFired(timer_id=2, fire_at=T + 10 * DAY, timestamp=early),
        ],
    )
    assert [(type(a), a.event_id) for a in result.actions] == [(TimerCreated, 3)]
    assert isinstance(result.actions[0], TimerCreated) and result.actions[0].fire_at == T + 10 * DAY


# ------------------------------------------------------ histories durable-azure wrote before splitting

FIRE = T + 30 * DAY

# One pair for a 30-day timer, its queue message re-armed every 6 days (durable-azure before split
# timers). The old worker also took a message up to 1 s early as fired.
OURS_THIRTY_DAY_TIMER = [
    row("OrchestratorStarted", T),
    row("ExecutionStarted", T, Name="wait_thirty_days", Input="null", Version=""),
    row("TimerCreated", T, 0, FireAt=FIRE),
    row("OrchestratorCompleted", T),
]


@pytest.mark.parametrize("late", [timedelta(seconds=0.3), timedelta(seconds=-0.6)])
def test_a_long_timer_recorded_as_one_pair_still_completes_when_it_fires(late: timedelta) -> None:
    past = events(OURS_THIRTY_DAY_TIMER)
    at = FIRE + late
    result = execute(
        wait_thirty_days,
        past,
        [OrchestratorStarted(timestamp=at), TimerFired(timer_id=0, fire_at=FIRE, timestamp=at)],
    )
    assert [(type(a), a.event_id) for a in result.actions] == [(TaskScheduled, 1)]


def test_a_history_with_one_pair_per_long_timer_replays_to_completion() -> None:
    at = FIRE - timedelta(seconds=0.6)  # fired early by the old tolerance: history says so
    past = events(
        [
            *OURS_THIRTY_DAY_TIMER,
            row("OrchestratorStarted", at),
            row("TimerFired", at, TimerId=0, FireAt=FIRE),
            row("TaskScheduled", at, 1, Name="Hello", Input=json.dumps("world")),
            row("OrchestratorCompleted", at),
        ]
    )
    done = FIRE + timedelta(seconds=5)
    result = execute(
        wait_thirty_days,
        past,
        [
            OrchestratorStarted(timestamp=done),
            TaskCompleted(task_scheduled_id=1, result='"hi"', timestamp=done),
        ],
    )
    assert result.actions == []
    assert result.completion is not None and result.completion.status is OrchestrationStatus.Completed
    assert json.loads(result.completion.output or "null")["greeting"] == "hi"


# --------------------------------------------------------------------------- new histories


def test_a_thirty_day_timer_is_recorded_as_pairs_of_at_most_six_days() -> None:
    result = run_orchestrator(wait_thirty_days, activities={"Hello": "hi"}, start_time=T)
    assert result.status == "Completed", result.failure
    assert result.output == {"greeting": "hi", "late_enough": True}
    created = [e for e in result.history if isinstance(e, TimerCreated)]
    fired = [e for e in result.history if isinstance(e, TimerFired)]
    assert [e.fire_at - T for e in created] == [DAY * d for d in (3, 6, 9, 12, 15, 18, 21, 24, 30)]
    assert [e.timer_id for e in fired] == [e.event_id for e in created]
    starts = [T] + [e.fire_at for e in created[:-1]]
    assert all(
        timedelta(0) < c.fire_at - s <= timedelta(days=6) for s, c in zip(starts, created, strict=True)
    )


def test_a_timer_of_exactly_six_days_is_one_pair() -> None:
    def six_days(context: DurableOrchestrationContext) -> Generator[Any, Any, Any]:
        task = context.create_timer(context.current_utc_datetime + timedelta(days=6))
        assert not isinstance(task, LongTimerTask)
        yield task
        return "ok"

    result = run_orchestrator(six_days, start_time=T)
    assert result.status == "Completed"
    assert sum(isinstance(e, TimerCreated) for e in result.history) == 1


def race(context: DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    timer = context.create_timer(context.current_utc_datetime + timedelta(days=10))
    approval = context.wait_for_external_event("Approval")
    winner = yield context.task_any([approval, timer])
    if winner is approval:
        timer.cancel()
        return {"approved": True, "at": context.current_utc_datetime.isoformat()}
    return {"approved": False, "at": context.current_utc_datetime.isoformat()}


def test_a_long_timer_that_loses_a_race_is_cancelled_and_creates_no_more_parts() -> None:
    result = run_orchestrator(
        race, events=[ExternalEvent("Approval", True, after=timedelta(days=4))], start_time=T
    )
    assert result.status == "Completed"
    assert result.output == {"approved": True, "at": (T + 4 * DAY).isoformat()}
    assert [e.fire_at - T for e in result.history if isinstance(e, TimerCreated)] == [3 * DAY, 6 * DAY]


def test_a_long_timer_that_wins_a_race_completes_at_its_final_time() -> None:
    result = run_orchestrator(race, start_time=T)
    assert result.status == "Completed"
    assert result.output == {"approved": False, "at": (T + 10 * DAY).isoformat()}


def test_shortened_limits_split_short_timers_the_same_way() -> None:
    limits = TimerLimits(maximum_short=timedelta(seconds=4), interval=timedelta(seconds=2))

    def ten_seconds(context: DurableOrchestrationContext) -> Generator[Any, Any, Any]:
        yield context.create_timer(context.current_utc_datetime + timedelta(seconds=10))
        return "done"

    history: list[HistoryEvent] = []
    new: list[HistoryEvent] = [
        OrchestratorStarted(timestamp=T),
        ExecutionStarted(name="ten_seconds", instance_id="i", execution_id="e", input="null", timestamp=T),
    ]
    fire_ats = []
    for _ in range(10):
        result = execute(ten_seconds, history, new, timer_limits=limits)
        history += result.new_events
        if result.completion is not None:
            break
        (timer,) = result.actions
        assert isinstance(timer, TimerCreated)
        fire_ats.append(timer.fire_at - T)
        new = [
            OrchestratorStarted(timestamp=timer.fire_at),
            TimerFired(timer_id=timer.event_id, fire_at=timer.fire_at, timestamp=timer.fire_at),
        ]
    assert result.completion is not None and result.completion.status is OrchestrationStatus.Completed
    assert fire_ats == [timedelta(seconds=s) for s in (2, 4, 6, 10)]


def test_the_interval_may_not_exceed_the_maximum() -> None:
    with pytest.raises(ValueError, match="may not exceed"):
        TimerLimits(maximum_short=timedelta(days=1), interval=timedelta(days=2))
    with pytest.raises(ValueError, match="long_running_timer_interval"):
        Settings(maximum_short_timer_duration=10, long_running_timer_interval=20)
    with pytest.raises(ValueError, match="7-day"):
        Settings(max_timer_delay=8 * 86400)
