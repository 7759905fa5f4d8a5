"""Timer messages on queues capped at 7 days: never taken in before ``FireAt`` (held or re-armed)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from durable_azure.config import Settings
from durable_azure.orchestration.long_timers import TimerLimits
from durable_azure.worker.timers import (
    MAX_HOLD_SECONDS,
    MAX_TIMER_DELAY,
    early_timer,
    hold_limit,
    is_early,
    time_until,
    timer_limits_of,
    visibility_delay,
)

T0 = datetime(2026, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
AZURE_MAX_VISIBILITY = timedelta(days=7).total_seconds()


def test_delay_is_the_time_left_when_short() -> None:
    assert visibility_delay(T0 + timedelta(seconds=90), T0) == 90.0
    assert visibility_delay(T0 + timedelta(milliseconds=1500), T0) == 1.5


def test_delay_of_a_due_or_past_timer_is_zero() -> None:
    assert visibility_delay(T0, T0) == 0.0
    assert visibility_delay(T0 - timedelta(hours=1), T0) == 0.0
    assert time_until(T0 - timedelta(hours=1), T0) == 0.0


def test_delay_is_capped_at_six_days_or_the_given_limit() -> None:
    assert timedelta(days=6) == MAX_TIMER_DELAY
    assert visibility_delay(T0 + timedelta(days=30), T0) == timedelta(days=6).total_seconds()
    assert visibility_delay(T0 + timedelta(days=5), T0) == timedelta(days=5).total_seconds()
    assert visibility_delay(T0 + timedelta(seconds=7), T0, max_delay=2.0) == 2.0


def test_a_message_is_early_until_its_fire_time_with_no_tolerance() -> None:
    fire_at = T0 + timedelta(days=30)
    assert is_early(fire_at, T0)
    assert is_early(fire_at, fire_at - timedelta(milliseconds=1))
    assert not is_early(fire_at, fire_at)
    assert not is_early(fire_at, fire_at + timedelta(minutes=5))  # late (a busy worker): fire


def test_an_early_message_due_soon_is_held_and_one_due_later_is_rearmed() -> None:
    fire_at = T0 + timedelta(seconds=10)
    assert early_timer(fire_at, fire_at, hold_for_at_most=5) is None
    assert early_timer(fire_at, fire_at + timedelta(seconds=1), hold_for_at_most=5) is None
    held = early_timer(fire_at, fire_at - timedelta(seconds=0.4), hold_for_at_most=5)
    assert held is not None and held.hold and abs(held.seconds - 0.4) < 1e-9
    rearmed = early_timer(fire_at, T0, hold_for_at_most=5)
    assert rearmed is not None and not rearmed.hold and rearmed.seconds == 10.0


def test_held_messages_stay_well_inside_their_visibility_timeout() -> None:
    assert hold_limit(30) == 15
    assert hold_limit(10) == 5
    assert hold_limit(3600) == MAX_HOLD_SECONDS


def simulate(
    fire_at: datetime, now: datetime, *, lag: timedelta = timedelta(0), hold_for_at_most: float = 15.0
) -> tuple[datetime, list[float]]:
    """What the worker does with one timer message: send it hidden for the capped delay; while it
    shows up early, re-arm it for the time left or, when that is short, hold it until due. ``lag``
    is how late after its delay each delivery is noticed. Returns (time taken in, delays used)."""
    delays = [visibility_delay(fire_at, now)]
    now += timedelta(seconds=delays[-1]) + lag
    while (early := early_timer(fire_at, now, hold_for_at_most=hold_for_at_most)) is not None:
        if early.hold:
            now += timedelta(seconds=early.seconds)
            break
        delays.append(visibility_delay(fire_at, now))
        now += timedelta(seconds=delays[-1]) + lag
        assert len(delays) < 100, "re-arming does not converge"
    return now, delays


def test_a_30_day_message_is_rearmed_until_due_and_taken_in_on_time() -> None:
    fire_at = T0 + timedelta(days=30)
    taken, delays = simulate(fire_at, T0)
    assert taken == fire_at
    assert delays == [timedelta(days=6).total_seconds()] * 5
    assert all(0 < d < AZURE_MAX_VISIBILITY for d in delays)


def test_a_message_never_taken_in_early_whatever_the_lag() -> None:
    fire_at = T0 + timedelta(days=30, hours=7, seconds=13.25)
    for lag in (timedelta(milliseconds=300), timedelta(milliseconds=-700)):  # late, or a clock ahead
        taken, delays = simulate(fire_at, T0, lag=lag)
        assert taken >= fire_at
        assert all(0 < d <= timedelta(days=6).total_seconds() for d in delays)


def test_the_settings_give_the_long_timer_limits() -> None:
    assert timer_limits_of(Settings()) == TimerLimits()
    limits = timer_limits_of(Settings(maximum_short_timer_duration=4, long_running_timer_interval=2))
    assert limits == TimerLimits(maximum_short=timedelta(seconds=4), interval=timedelta(seconds=2))
