"""Queue polling: exponential back-off with a low cap, cut short by in-process wake-ups.

``wake()`` means "a message was just sent to the queue: poll it now"; ``nudge()`` means "work was
handed over in-process", which ends a sleep without costing a queue request. Polls are still
made at least every back-off interval, so messages from other processes are never starved.
"""

from __future__ import annotations

import asyncio


class Poller:
    """Decides when a loop polls its queue, and sleeps until it should or until work arrives."""

    def __init__(self, max_interval: float, min_interval: float = 0.05) -> None:
        self.max_interval = max(max_interval, min_interval)
        self.min_interval = min_interval
        self.interval = min_interval
        self._event = asyncio.Event()
        self._poll_requested = True
        self._last_poll = float("-inf")

    @staticmethod
    def _now() -> float:
        return asyncio.get_running_loop().time()

    def wake(self) -> None:
        """New work may be waiting in the queue: poll now."""
        self.interval = self.min_interval
        self._poll_requested = True
        self._event.set()

    def nudge(self) -> None:
        """Work was handed over in-process: end the sleep without asking for a poll."""
        self._event.set()

    def poll_due(self, have_local_work: bool) -> bool:
        """True if the queue should be polled now."""
        return self._poll_requested or not have_local_work or self._now() - self._last_poll >= self.interval

    def polled(self, found: int) -> None:
        """Record a poll; empty polls double the interval up to the cap."""
        self._poll_requested = False
        self._last_poll = self._now()
        self.interval = self.min_interval if found else min(self.interval * 2, self.max_interval)

    async def wait_for_nudge(self) -> None:
        """Sleep until :meth:`wake` or :meth:`nudge`, however long (e.g. until a busy slot frees)."""
        await self._event.wait()
        self._event.clear()

    async def wait(self, deadline: float | None = None) -> None:
        """Sleep until the next poll is due, work arrives, or the loop time ``deadline`` passes."""
        if not self._event.is_set():
            due = self._last_poll + self.interval
            timeout = max(0.0, (due if deadline is None else min(due, deadline)) - self._now())
            try:
                await asyncio.wait_for(self._event.wait(), timeout=timeout)
            except asyncio.TimeoutError:
                pass
        self._event.clear()
