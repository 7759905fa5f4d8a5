"""Bounded waits for an orchestration to finish, that stop when the HTTP client has gone.

Used by the management API's ``timeout``/``pollingInterval`` parameters (start, restart) and by
``FunctionsDurableClient.wait_for_completion_or_create_check_status_response``. A wait polls the
instance's status; it ends when the instance finishes, when the timeout passes, or as soon as the
caller disconnects (nobody would read the answer, so storage is not polled for it).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from starlette.types import Message, Receive

#: Longest wait the HTTP API accepts (seconds): Azure's front end closes idle HTTP requests at 230 s.
MAX_WAIT_SECONDS = 230.0
#: Shortest pause between two status polls (seconds); smaller polling intervals are raised to it.
MIN_POLL_SECONDS = 0.1

T = TypeVar("T")

#: Returns once the client has disconnected (and never otherwise).
DisconnectWaiter = Callable[[], Awaitable[None]]

_WAITER_ATTRIBUTE = "_durable_azure_disconnected"


@dataclass(frozen=True)
class WaitOptions:
    """How long to wait for completion and how often to look (seconds)."""

    timeout: float
    interval: float

    @property
    def poll_every(self) -> float:
        return max(MIN_POLL_SECONDS, self.interval)


def check_wait(timeout: float, interval: float, *, limit: float | None = MAX_WAIT_SECONDS) -> WaitOptions:
    """Validate a wait: finite, non-negative, ``interval <= timeout`` (as DF), ``timeout <= limit``.

    Raises ``ValueError`` with a message fit for the caller.
    """
    for name, value in (("timeout", timeout), ("pollingInterval", interval)):
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
            raise ValueError(f"{name} must be a finite number of seconds, got {value!r}.")
        if value < 0:
            raise ValueError(f"{name} must not be negative, got {value!r}.")
    if limit is not None and timeout > limit:
        raise ValueError(f"timeout must be at most {limit:g} seconds, got {timeout:g}.")
    if interval > timeout:
        raise ValueError(f"Total timeout {timeout:g} should be bigger than retry timeout {interval:g}.")
    return WaitOptions(float(timeout), float(interval))


def disconnect_waiter(receive: Receive) -> DisconnectWaiter:
    """A waiter on an ASGI ``receive`` whose request body has been read: returns on ``http.disconnect``."""

    async def wait() -> None:
        while True:
            message: Message = await receive()
            if message.get("type") == "http.disconnect":
                return

    return wait


def attach_disconnect_waiter(request: Any, waiter: DisconnectWaiter) -> None:
    """Let code holding ``request`` (an ``azure.functions.HttpRequest``) notice the client leaving."""
    setattr(request, _WAITER_ATTRIBUTE, waiter)


def disconnect_waiter_of(request: Any) -> DisconnectWaiter | None:
    found = getattr(request, _WAITER_ATTRIBUTE, None)
    return found if callable(found) else None


class ClientDisconnected(Exception):
    """The HTTP client went away while the server waited for it."""


@contextlib.asynccontextmanager
async def _watching(waiter: DisconnectWaiter | None) -> AsyncIterator[asyncio.Future[None] | None]:
    if waiter is None:
        yield None
        return
    watch = asyncio.ensure_future(waiter())
    try:
        yield watch
    finally:
        watch.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await watch


async def poll_until(
    probe: Callable[[], Awaitable[T | None]],
    options: WaitOptions,
    waiter: DisconnectWaiter | None = None,
) -> T | None:
    """Call ``probe`` until it returns something (returned), the timeout passes (``None``) or the
    client disconnects (:class:`ClientDisconnected`). Always probes at least once."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + options.timeout
    async with _watching(waiter) as watch:
        while True:
            if watch is not None and watch.done():
                raise ClientDisconnected()
            found = await probe()
            if found is not None:
                return found
            remaining = deadline - loop.time()
            if remaining <= 0:
                return None
            pause = min(options.poll_every, remaining)
            if watch is None:
                await asyncio.sleep(pause)
            else:
                await asyncio.wait({watch}, timeout=pause)
