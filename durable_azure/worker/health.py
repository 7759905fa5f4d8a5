"""Storage reachability: an outage is logged once, its end once, and the worker resumes at once.

The worker's loops report what their requests did: a failure that means storage cannot be reached
(connection refused or reset, DNS, a timeout) turns the state to *unreachable* and logs one warning;
the loops then wait quietly instead of logging every failed poll. While unreachable, a probe asks
each service once a second (no SDK retries, whose back-off is 15 s and more); the first success,
from the probe or any loop, logs the recovery and runs the listeners: the partition manager renews
and re-acquires its leases, and every poller polls, within about a second of storage coming back.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Callable

from azure.core.exceptions import ServiceRequestError, ServiceResponseError

log = logging.getLogger(__name__)

Listener = Callable[[], "Awaitable[None] | None"]


def is_unreachable(error: BaseException) -> bool:
    """True when ``error`` (or one it was raised from) says storage could not be reached at all."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(
            current,
            (ServiceRequestError, ServiceResponseError, ConnectionError, TimeoutError, asyncio.TimeoutError),
        ):
            return True
        current = current.__cause__ or current.__context__
    return False


class StorageHealth:
    """Tracks whether storage answers; one warning per outage, one info line when it is over."""

    def __init__(self, probe: Callable[[], Awaitable[None]], *, probe_interval: float = 1.0) -> None:
        self._probe = probe
        self._probe_interval = probe_interval
        self._listeners: list[Listener] = []
        self._up = asyncio.Event()
        self._up.set()
        self._down_since = 0.0
        self._prober: asyncio.Task[None] | None = None
        self._callbacks: set[asyncio.Task[None]] = set()
        self.outages = 0

    @property
    def reachable(self) -> bool:
        return self._up.is_set()

    def on_recovered(self, listener: Listener) -> None:
        """Call ``listener`` (a function or coroutine function) whenever storage is back."""
        self._listeners.append(listener)

    def failed(self, error: BaseException) -> bool:
        """Report a failed request; True when it means storage is unreachable (then already logged)."""
        if not is_unreachable(error):
            return False
        if self._up.is_set():
            self._up.clear()
            self.outages += 1
            self._down_since = time.monotonic()
            log.warning(
                "Azure Storage is unreachable (%s: %s); the worker keeps trying and resumes when it answers",
                type(error).__name__,
                str(error).splitlines()[0][:200] if str(error) else "",
                extra={"event": "StorageUnreachable"},
            )
            self._prober = asyncio.create_task(self._probe_until_up(), name="storage-probe")
        return True

    def succeeded(self) -> None:
        """Report a request that storage answered."""
        if not self._up.is_set():
            self._recover()

    async def wait_reachable(self, timeout: float) -> None:
        """Sleep until storage is reachable again or ``timeout`` seconds pass."""
        try:
            await asyncio.wait_for(self._up.wait(), timeout)
        except asyncio.TimeoutError:
            pass

    async def _probe_until_up(self) -> None:
        while not self._up.is_set():
            await asyncio.sleep(self._probe_interval)
            try:
                await self._probe()
            except Exception:
                continue
            if not self._up.is_set():
                self._recover()

    def _recover(self) -> None:
        self._up.set()
        log.info(
            "Azure Storage is reachable again after %.1f s; resuming",
            time.monotonic() - self._down_since,
            extra={"event": "StorageReachable"},
        )
        for listener in self._listeners:
            result = listener()
            if inspect.isawaitable(result):
                task = asyncio.ensure_future(result)
                self._callbacks.add(task)
                task.add_done_callback(self._callbacks.discard)

    async def stop(self) -> None:
        tasks = [t for t in (self._prober, *self._callbacks) if t is not None and not t.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class RepeatedFailure:
    """A request a loop makes again and again (a poll, a renewal) that keeps failing for a reason
    other than an outage (refused credentials, say): logged with its traceback the first time, then
    once a minute with a count, and once more when it works again."""

    def __init__(self, logger: logging.Logger, what: str, *, every: float = 60.0) -> None:
        self._log = logger
        self._what = what
        self._every = every
        self._count = 0
        self._last = 0.0

    def failed(self, error: BaseException) -> None:
        self._count += 1
        now = time.monotonic()
        if self._count == 1:
            self._last = now
            self._log.error("%s failed; retrying", self._what, exc_info=error)
        elif now - self._last >= self._every:
            self._last = now
            self._log.warning(
                "%s still failing (%d times in a row): %s: %s",
                self._what,
                self._count,
                type(error).__name__,
                str(error).splitlines()[0][:200] if str(error) else "",
            )

    def succeeded(self) -> None:
        if self._count > 1:
            self._log.info("%s works again after %d failures", self._what, self._count)
        self._count = 0


__all__ = ["RepeatedFailure", "StorageHealth", "is_unreachable"]
