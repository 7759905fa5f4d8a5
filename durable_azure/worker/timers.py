"""Durable timers on Azure queues, whose visibility delay is capped at 7 days.

A timer further out than :data:`MAX_TIMER_DELAY` is sent with that delay; when the message
shows up early, the worker sends it again with the remaining delay ("re-arming"), so any timer,
30 days included, fires on time while history keeps a single TimerCreated/TimerFired pair.
"""

from __future__ import annotations

from datetime import datetime, timedelta

MAX_TIMER_DELAY = timedelta(days=6)  # below Azure's 7-day visibility cap, as Durable Functions uses
EARLY_TOLERANCE = timedelta(seconds=1)


def visibility_delay(fire_at: datetime, now: datetime) -> float:
    """Seconds to hide a timer message: time until ``fire_at``, at most :data:`MAX_TIMER_DELAY`."""
    remaining = fire_at - now
    if remaining <= timedelta(0):
        return 0.0
    return min(remaining, MAX_TIMER_DELAY).total_seconds()


def is_early(fire_at: datetime, now: datetime) -> bool:
    """True when a timer message arrived before its time and must be re-armed."""
    return fire_at - now > EARLY_TOLERANCE
