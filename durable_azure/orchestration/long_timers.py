"""Long durable timers, split in history as Durable Functions splits them.

Azure queues hide a message for at most 7 days, so Durable Functions records a timer further out
than its *maximum short-timer duration* (6 days on Azure Storage) as a chain of shorter timers:
each a ``TimerCreated``/``TimerFired`` pair in history, created when the previous one fired, and
firing ``longRunningTimerIntervalDuration`` (3 days) after it, or at the final ``FireAt`` once that
is no more than the maximum away. The orchestrator's task completes only at the final ``FireAt``.

The rule is azure-functions-durable 1.7's ``LongTimerTask`` (``models/Task.py``: a sub-timer fires,
and while ``current_utc_datetime`` is before the final time the next one is created), so histories
Durable Functions for Python wrote replay here unchanged. Histories durable-azure wrote before it
split timers hold one pair per long timer (its queue message was re-armed every 6 days); a chain
whose first recorded timer already fires at the final time is that one pair, and completes when it
fires, as it did then.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from .tasks import CompoundTask, TaskBase, TimerSource, TimerTask

#: Durable Functions' defaults on Azure Storage (``AzureStorageDurabilityProvider``).
DEFAULT_MAXIMUM_SHORT_TIMER = timedelta(days=6)
DEFAULT_LONG_TIMER_INTERVAL = timedelta(days=3)


@dataclass(frozen=True, slots=True)
class TimerLimits:
    """When a timer is long, and how far apart the timers of a long one are.

    ``maximum_short`` is DF's ``maximumShortTimerDuration``, ``interval`` its
    ``longRunningTimerIntervalDuration``; ``interval`` may not exceed ``maximum_short``.
    """

    maximum_short: timedelta = DEFAULT_MAXIMUM_SHORT_TIMER
    interval: timedelta = DEFAULT_LONG_TIMER_INTERVAL

    def __post_init__(self) -> None:
        if self.interval <= timedelta(0) or self.maximum_short <= timedelta(0):
            raise ValueError("Long-timer durations must be positive.")
        if self.interval > self.maximum_short:
            raise ValueError(
                f"The long-timer interval ({self.interval}) may not exceed the maximum short-timer "
                f"duration ({self.maximum_short})."
            )

    def is_long(self, fire_at: datetime, now: datetime) -> bool:
        """True when a timer created at ``now`` for ``fire_at`` must be split."""
        return fire_at - now > self.maximum_short

    def next_fire_at(self, fire_at: datetime, now: datetime) -> datetime:
        """When the next timer of a long timer ending at ``fire_at`` fires, created at ``now``."""
        return now + self.interval if self.is_long(fire_at, now) else fire_at


class LongTimerTask(CompoundTask):
    """A durable timer longer than the maximum short-timer duration: a chain of shorter timers.

    Behaves like :class:`TimerTask` for the orchestrator: it completes (with ``None``) at
    ``fire_at``, can be raced in ``task_any`` and ``cancel()``-ed, and never keeps an orchestration
    alive.
    """

    __slots__ = ("_cancelled", "_limits", "_timers", "fire_at")

    def __init__(self, timers: TimerSource, fire_at: datetime, limits: TimerLimits) -> None:
        super().__init__([])
        self.fire_at = fire_at
        self._timers = timers
        self._limits = limits
        self._cancelled = False
        self._start_next(timers.now)

    @property
    def is_cancelled(self) -> bool:
        return self._cancelled

    @property
    def current(self) -> TimerTask:
        """The timer of the chain that is waiting now (or fired last)."""
        timer = self.children[-1]
        assert isinstance(timer, TimerTask)
        return timer

    def cancel(self) -> None:
        """Cancel the timer; the firing of its current part is then ignored and no further part starts."""
        if self.is_completed:
            raise ValueError("Cannot cancel a timer that has already fired.")
        self._cancelled = True
        self.current.cancel()

    def _start_next(self, now: datetime) -> None:
        timer = self._timers.create_timer(self._limits.next_fire_at(self.fire_at, now))
        self.children.append(timer)
        timer._add_parent(self)

    def _child_done(self, child: TaskBase) -> None:
        if self.is_completed or self._cancelled:
            return
        now = self._timers.now
        one_recorded_pair = len(self.children) == 1 and self.current.fire_at >= self.fire_at
        if now >= self.fire_at or one_recorded_pair:
            self._succeed(None)
        else:
            self._start_next(now)


__all__ = ["DEFAULT_LONG_TIMER_INTERVAL", "DEFAULT_MAXIMUM_SHORT_TIMER", "LongTimerTask", "TimerLimits"]
