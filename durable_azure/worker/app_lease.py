"""The app-lease gate: the partition manager runs only while this app holds the task hub's app lease.

DTFx ``AppLeaseManager`` (Azure/durabletask ``src/DurableTask.AzureStorage/Partitioning/AppLeaseManager.cs``,
commit ``5217032961abf45846f462732a5e2813316e3747``): try to acquire the ``{hub}-applease``
container lease (every ``AcquireInterval``, 5 min by default) and start the partition manager once
it is held; renew it every ``RenewInterval`` (25 s); when a renewal is refused (409/412: another
app changed the lease over) stop the partition manager (its partitions are drained and released)
and go back to acquiring. Other renewal errors (an outage) count as renewed, as in DTFx.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, Protocol

from ..storage.app_lease import AppLeaseStore

log = logging.getLogger(__name__)


class Manager(Protocol):
    owner: str
    owned: dict[str, Any]

    async def start(self) -> None: ...
    async def halt(self) -> None: ...
    async def stop(self) -> None: ...
    def maintain_now(self) -> None: ...


class AppLeaseGate:
    """Wraps a partition manager (blob or table) with DTFx's app lease."""

    def __init__(
        self,
        store: AppLeaseStore,
        manager: Manager,
        *,
        renew_interval: float = 25.0,
        acquire_interval: float = 300.0,
    ) -> None:
        self.store = store
        self.manager = manager
        self._renew_interval = renew_interval
        self._acquire_interval = acquire_interval
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self.holds_lease = False
        self._running = False
        self._retry_soon = False

    @property
    def owner(self) -> str:
        return self.manager.owner

    @property
    def owned(self) -> dict[str, Any]:
        return self.manager.owned

    def maintain_now(self) -> None:
        self.manager.maintain_now()

    async def start(self) -> None:
        """Acquire the app lease once now (starting the manager if held), then keep at it in the background."""
        self._stopping.clear()
        await self._try_start()
        self._task = asyncio.create_task(self._run(), name=f"app-lease-{self.owner}")

    async def _try_start(self) -> None:
        try:
            self.holds_lease = await self.store.try_acquire()
        except Exception as error:  # storage unreachable: not a refusal, so try again soon
            log.warning("could not acquire the app lease %s yet: %s", self.store.container_name, error)
            self.holds_lease = False
            self._retry_soon = True
            return
        self._retry_soon = False
        if not self.holds_lease:
            info = await self._holder_text()
            log.warning(
                "app lease %s is held by another app (%s); this worker (app %r, lease id %s) processes "
                "nothing on this hub until it is released; trying again every %.0f s",
                self.store.container_name,
                info,
                self.store.app_name,
                self.store.lease_id,
                self._acquire_interval,
            )
            return
        log.info("acquired app lease %s (lease id %s)", self.store.container_name, self.store.lease_id)
        await self.manager.start()
        self._running = True

    async def _holder_text(self) -> str:
        try:
            owner, leased = await self.store.holder()
        except Exception:
            return "unknown"
        return f"OwnerId {owner}, {'leased' if leased else 'not leased'}"

    async def _run(self) -> None:
        while not self._stopping.is_set():
            if self._running:
                wait = self._renew_interval
            elif self._retry_soon:
                wait = min(2.0, self._acquire_interval)
            else:
                wait = self._acquire_interval
            await self._wait(wait)
            if self._stopping.is_set():
                return
            if not self._running:
                await self._try_start()
                continue
            try:
                renewed = await self.store.renew()
            except Exception as error:  # an outage: DTFx counts it as renewed and keeps going
                log.debug("app lease renewal failed (%s); keeping on", error)
                continue
            if not renewed:
                log.warning(
                    "app lease %s was taken by another app; stopping this worker's partitions",
                    self.store.container_name,
                )
                self._running = False
                self.holds_lease = False
                await self.manager.stop()

    async def _wait(self, seconds: float) -> None:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)

    async def halt(self) -> None:
        self._stopping.set()
        if self._task is not None:
            await self._task
            self._task = None
        await self.manager.halt()

    async def stop(self) -> None:
        """Stop the gate and the manager (its partitions are released); the app lease is left to
        expire, as DTFx does, since the other workers of this app share it."""
        await self.halt()
        await self.manager.stop()
        self._running = False
