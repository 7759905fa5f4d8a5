"""Long timers on queues capped at 7 days: the visibility delay is capped, early arrivals are re-armed."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from durable_azure.worker.timers import MAX_TIMER_DELAY, is_early, visibility_delay

T0 = datetime(2026, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
AZURE_MAX_VISIBILITY = timedelta(days=7).total_seconds()


def test_delay_is_the_time_left_when_short() -> None:
    assert visibility_delay(T0 + timedelta(seconds=90), T0) == 90.0
    assert visibility_delay(T0 + timedelta(milliseconds=1500), T0) == 1.5


def test_delay_of_a_due_or_past_timer_is_zero() -> None:
    assert visibility_delay(T0, T0) == 0.0
    assert visibility_delay(T0 - timedelta(hours=1), T0) == 0.0


def test_delay_is_capped_at_six_days() -> None:
    assert timedelta(days=6) == MAX_TIMER_DELAY
    assert visibility_delay(T0 + timedelta(days=30), T0) == timedelta(days=6).total_seconds()
    assert visibility_delay(T0 + timedelta(days=6, seconds=1), T0) == timedelta(days=6).total_seconds()
    assert visibility_delay(T0 + timedelta(days=5), T0) == timedelta(days=5).total_seconds()


def test_is_early_with_one_second_tolerance() -> None:
    fire_at = T0 + timedelta(days=30)
    assert is_early(fire_at, T0)
    assert is_early(fire_at, fire_at - timedelta(seconds=2))
    assert not is_early(fire_at, fire_at - timedelta(milliseconds=500))  # within tolerance: fire
    assert not is_early(fire_at, fire_at)
    assert not is_early(fire_at, fire_at + timedelta(minutes=5))  # late (a busy worker): fire


def simulate(
    fire_at: datetime, now: datetime, *, lag: timedelta = timedelta(0)
) -> tuple[datetime, list[float]]:
    """What the worker does with one timer message: send with the capped delay, and while the
    message shows up early, send it again with the remaining delay. ``lag`` is how late after its
    visibility delay each delivery is noticed. Returns (time it fired, delays used)."""
    delays = [visibility_delay(fire_at, now)]
    now += timedelta(seconds=delays[-1]) + lag
    while is_early(fire_at, now):
        delays.append(visibility_delay(fire_at, now))
        now += timedelta(seconds=delays[-1]) + lag
        assert len(delays) < 100, "re-arming does not converge"
    return now, delays


def test_a_30_day_timer_is_rearmed_until_due_and_fires_on_time() -> None:
    fire_at = T0 + timedelta(days=30)
    fired, delays = simulate(fire_at, T0)
    assert fired == fire_at
    assert delays == [timedelta(days=6).total_seconds()] * 5
    assert all(0 < d < AZURE_MAX_VISIBILITY for d in delays)


def test_a_30_day_timer_with_uneven_remainder_and_delivery_lag() -> None:
    fire_at = T0 + timedelta(days=30, hours=7, seconds=13.25)
    fired, delays = simulate(fire_at, T0, lag=timedelta(milliseconds=300))
    assert fire_at <= fired <= fire_at + timedelta(seconds=1)
    assert len(delays) == 6  # five full 6-day hops and the remainder
    assert all(0 < d <= timedelta(days=6).total_seconds() for d in delays)
    assert delays[-1] < timedelta(days=1).total_seconds()


def test_a_message_that_arrives_early_by_a_clock_skew_is_rearmed_for_the_rest() -> None:
    fire_at = T0 + timedelta(seconds=10)
    arrived = T0 + timedelta(seconds=7)  # e.g. the queue released it 3 s early
    assert is_early(fire_at, arrived)
    assert visibility_delay(fire_at, arrived) == 3.0
