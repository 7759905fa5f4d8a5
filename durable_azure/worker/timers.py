"""Durable timers on Azure queues: a ``TimerFired`` message is never taken in before its ``FireAt``.

A timer's message is hidden until its ``FireAt``, for at most ``max_timer_delay`` seconds (6 days;
Azure's cap is 7). Timers longer than 6 days are split in history as Durable Functions splits them
(:mod:`durable_azure.orchestration.long_timers`), so their messages fit the cap and a DTFx worker
that receives one fires it on time. A message can still show up before its time: one of a long
timer recorded as a single pair before timers were split, a queue whose clock runs ahead of ours,
an in-process delivery whose timer woke a little early. Such a message is never delivered early:

* due within :func:`hold_limit` seconds → **held** in this process and handed to the partition's
  loop at ``FireAt`` (kept hidden in the queue meanwhile: if the worker dies, it comes back after
  its visibility timeout, which is past ``FireAt``);
* further out → **re-armed**: sent again, hidden for the time left (at most ``max_timer_delay``),
  and the early copy deleted. A crash between the two leaves two copies; the second ``TimerFired``
  is a duplicate completion and dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from ..config import Settings
from ..orchestration.long_timers import TimerLimits

#: Azure's cap on a message's visibility delay is 7 days; Durable Functions stays below it.
MAX_TIMER_DELAY = timedelta(days=6)
#: Longest an early message is held in-process (beyond it, or beyond half the control queue's
#: visibility timeout, it is re-armed instead).
MAX_HOLD_SECONDS = 300.0


def timer_limits_of(settings: Settings) -> TimerLimits:
    """When the orchestrations this worker runs split a timer (``maximum_short_timer_duration``,
    ``long_running_timer_interval``)."""
    return TimerLimits(
        maximum_short=timedelta(seconds=settings.maximum_short_timer_duration),
        interval=timedelta(seconds=settings.long_running_timer_interval),
    )


def time_until(fire_at: datetime, now: datetime) -> float:
    """Seconds from ``now`` to ``fire_at`` (0 when due or past)."""
    return max(0.0, (fire_at - now).total_seconds())


def visibility_delay(fire_at: datetime, now: datetime, max_delay: float | None = None) -> float:
    """Seconds to hide a timer message: the time until ``fire_at``, at most ``max_delay``
    (default :data:`MAX_TIMER_DELAY`)."""
    cap = MAX_TIMER_DELAY.total_seconds() if max_delay is None else max_delay
    return min(time_until(fire_at, now), cap)


def is_early(fire_at: datetime, now: datetime) -> bool:
    """True when a timer message arrived before its time: it must not fire (no tolerance)."""
    return now < fire_at


def hold_limit(control_queue_visibility_timeout: float) -> float:
    """Longest an early message may be held in-process: well inside the hidden time its receive
    gave it, so it never shows up in the queue again while held."""
    return min(MAX_HOLD_SECONDS, control_queue_visibility_timeout / 2)


@dataclass(frozen=True, slots=True)
class EarlyTimer:
    """What to do with a ``TimerFired`` message that arrived before its ``FireAt``."""

    hold: bool  #: True: deliver it in-process after ``seconds``; False: re-arm it
    seconds: float  #: time left until ``FireAt``


def early_timer(fire_at: datetime, now: datetime, *, hold_for_at_most: float) -> EarlyTimer | None:
    """``None`` when the timer is due at ``now``, else whether to hold or re-arm its message."""
    if not is_early(fire_at, now):
        return None
    left = (fire_at - now).total_seconds()
    return EarlyTimer(hold=left <= hold_for_at_most, seconds=left)
