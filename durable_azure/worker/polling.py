"""Queue polling: exponential back-off with a low cap, cut short by in-process wake-ups."""

from __future__ import annotations

import asyncio
import random


class Poller:
    """Sleeps between empty polls (50 ms doubling up to ``max_interval``); ``wake()`` ends a sleep at once."""

    def __init__(self, max_interval: float, min_interval: float = 0.05) -> None:
        self.max_interval = max(max_interval, min_interval)
        self.min_interval = min_interval
        self._interval = min_interval
        self._event = asyncio.Event()

    def wake(self) -> None:
        """New work may be waiting: poll now."""
        self._interval = self.min_interval
        self._event.set()

    def reset(self) -> None:
        self._interval = self.min_interval

    async def wait(self) -> None:
        """Wait for the current interval or a wake-up, then grow the interval."""
        if not self._event.is_set():
            delay = self._interval * random.uniform(0.8, 1.0)
            try:
                await asyncio.wait_for(self._event.wait(), timeout=delay)
            except asyncio.TimeoutError:
                self._interval = min(self._interval * 2, self.max_interval)
        self._event.clear()
