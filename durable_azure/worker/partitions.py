"""Partition ownership: blob leases on ``{hub}-leases``, acquired, renewed, balanced and released.

Used when host.json ``useTablePartitionManagement`` is ``false``; the default is the
``{Hub}Partitions`` table (:mod:`.table_partitions`).

Balancing follows DurableTask.AzureStorage's lease balancer: each worker aims at
``ceil(partitions / workers)`` leases, takes expired ones first, and otherwise steals one
lease per pass from the busiest worker.

When storage cannot be reached, renewals fail (fast: lease requests make no SDK retries); a lease
not renewed for its whole duration may have been taken by another worker by the time storage is
back, so its partition is stopped then. When storage answers again (:class:`~.health.StorageHealth`
calls :meth:`PartitionManager.maintain_now`), leases are renewed and free ones taken at once,
instead of at the next balancing pass.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import Counter
from collections.abc import Awaitable, Callable

from ..storage.leases import LeaseStore, PartitionLease
from .health import RepeatedFailure, StorageHealth

log = logging.getLogger(__name__)

PartitionCallback = Callable[[int], Awaitable[None]]


def partition_index(partition_id: str) -> int:
    """``myhub-control-03`` → 3."""
    return int(partition_id.rsplit("-", 1)[1])


class PartitionManager:
    """Keeps this worker's fair share of partition leases and reports gains and losses."""

    def __init__(
        self,
        leases: LeaseStore,
        owner: str,
        *,
        on_acquired: PartitionCallback,
        on_lost: PartitionCallback,
        renew_interval: float = 10.0,
        acquire_interval: float = 10.0,
        health: StorageHealth | None = None,
    ) -> None:
        self._leases = leases
        self.owner = owner
        self._on_acquired = on_acquired
        self._on_lost = on_lost
        self._renew_interval = renew_interval
        self._acquire_interval = acquire_interval
        self._health = health
        self.owned: dict[str, PartitionLease] = {}
        self._renewed_at: dict[str, float] = {}  # loop time a lease was last acquired or renewed
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._nudge = asyncio.Event()

    def maintain_now(self) -> None:
        """Renew and balance now rather than at the next interval (storage is back)."""
        self._nudge.set()

    async def start(self) -> None:
        self._stopping.clear()  # started again after a stop (the app lease was lost and re-taken)
        try:
            await self.balance()
        except Exception as error:  # lease requests make no SDK retries: the loop tries again shortly
            if self._health is None or not self._health.failed(error):
                log.warning("could not take partition leases yet (%s); retrying", error)
            self._nudge.set()
        self._task = asyncio.create_task(self._run(), name=f"partition-manager-{self.owner}")

    async def halt(self) -> None:
        """Stop renewing and balancing (leases are kept until :meth:`stop`)."""
        self._stopping.set()
        if self._task is not None:
            await self._task
            self._task = None

    async def stop(self) -> None:
        """Stop balancing and release every lease (a clean hand-over to other workers)."""
        await self.halt()
        owned = list(self.owned.items())
        await asyncio.gather(*(self._drop(partition_id) for partition_id, _ in owned))
        results = await asyncio.gather(
            *(self._leases.release(lease) for _, lease in owned), return_exceptions=True
        )
        for (partition_id, _), result in zip(owned, results, strict=True):
            if isinstance(result, Exception):
                log.warning("could not release lease %s: %s", partition_id, result)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_balance = loop.time() + self._acquire_interval
        maintaining = RepeatedFailure(log, "partition lease maintenance")
        while not self._stopping.is_set():
            await self._sleep(self._renew_interval)
            if self._stopping.is_set():
                return
            urgent = self._nudge.is_set()
            self._nudge.clear()
            try:
                await self.renew()
                if urgent or loop.time() >= next_balance:
                    await self.balance()
                    next_balance = loop.time() + self._acquire_interval
                if self._health is not None:
                    self._health.succeeded()
                maintaining.succeeded()
            except Exception as error:
                if self._health is None or not self._health.failed(error):
                    maintaining.failed(error)

    async def _sleep(self, seconds: float) -> None:
        """Wait ``seconds``, or less when stopping or asked to maintain now."""
        stop = asyncio.ensure_future(self._stopping.wait())
        nudge = asyncio.ensure_future(self._nudge.wait())
        try:
            await asyncio.wait({stop, nudge}, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            nudge.cancel()

    async def renew(self) -> None:
        """Renew every lease held; drop those lost, and those not renewed for a whole lease duration
        (their partitions stop together). Raises the first renewal error, after trying every lease."""
        now = asyncio.get_running_loop().time()
        failure: Exception | None = None
        lost: list[str] = []
        for partition_id, lease in list(self.owned.items()):
            try:
                kept = await self._leases.renew(lease)
            except Exception as error:
                failure = failure or error
                since = now - self._renewed_at.get(partition_id, now)
                if since < self._leases.lease_duration:
                    continue
                log.warning(
                    "could not renew the lease on %s for %.0f s; it has expired, so the partition stops "
                    "until the lease is taken again",
                    partition_id,
                    since,
                    extra={"partition": partition_id},
                )
                lost.append(partition_id)
                continue
            if kept:
                self._renewed_at[partition_id] = now
            else:
                log.warning("lost lease on %s", partition_id, extra={"partition": partition_id})
                lost.append(partition_id)
        await asyncio.gather(*(self._drop(partition_id) for partition_id in lost))
        if failure is not None:
            raise failure

    async def balance(self) -> None:
        """One balancing pass: take free partitions up to the target, else steal one."""
        leases = await self._leases.list()
        if not leases:
            return
        live_owners = Counter(lease.owner for lease in leases if lease.leased and lease.owner)
        workers = len(set(live_owners) | {self.owner})
        target = max(1, math.ceil(len(leases) / workers))
        need = target - len(self.owned)
        if need <= 0:
            return
        free = [lease for lease in leases if not lease.leased and lease.partition_id not in self.owned]
        for lease in free[:need]:
            taken = await self._leases.acquire(lease.partition_id, self.owner)
            if taken is not None:
                await self._gain(taken)
        need = target - len(self.owned)
        if need <= 0 or free:
            return
        others = {owner: n for owner, n in live_owners.items() if owner != self.owner}
        if not others:
            return
        busiest, count = max(others.items(), key=lambda item: item[1])
        if count > target or (need > 1 and count > target - 1):
            victim = next(lease for lease in leases if lease.owner == busiest and lease.leased)
            taken = await self._leases.steal(victim.partition_id, self.owner, victim)
            if taken is not None:
                await self._gain(taken)

    async def _gain(self, lease: PartitionLease) -> None:
        self.owned[lease.partition_id] = lease
        self._renewed_at[lease.partition_id] = asyncio.get_running_loop().time()
        log.info("acquired partition %s", lease.partition_id, extra={"partition": lease.partition_id})
        await self._on_acquired(partition_index(lease.partition_id))

    async def _drop(self, partition_id: str) -> None:
        self._renewed_at.pop(partition_id, None)
        if self.owned.pop(partition_id, None) is not None:
            await self._on_lost(partition_index(partition_id))
