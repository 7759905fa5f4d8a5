"""Partition ownership: blob leases on ``{hub}-leases``, acquired, renewed, balanced and released.

Balancing follows DurableTask.AzureStorage's lease balancer: each worker aims at
``ceil(partitions / workers)`` leases, takes expired ones first, and otherwise steals one
lease per pass from the busiest worker.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import Counter
from collections.abc import Awaitable, Callable

from ..storage.leases import LeaseStore, PartitionLease

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
    ) -> None:
        self._leases = leases
        self.owner = owner
        self._on_acquired = on_acquired
        self._on_lost = on_lost
        self._renew_interval = renew_interval
        self._acquire_interval = acquire_interval
        self.owned: dict[str, PartitionLease] = {}
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    async def start(self) -> None:
        await self.balance()
        self._task = asyncio.create_task(self._run(), name=f"partition-manager-{self.owner}")

    async def stop(self) -> None:
        """Stop balancing and release every lease (a clean hand-over to other workers)."""
        self._stopping.set()
        if self._task is not None:
            await self._task
        for partition_id, lease in list(self.owned.items()):
            await self._drop(partition_id)
            try:
                await self._leases.release(lease)
            except Exception:
                log.warning("could not release lease %s", partition_id, exc_info=True)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_balance = loop.time() + self._acquire_interval
        while not self._stopping.is_set():
            try:
                await asyncio.wait_for(self._stopping.wait(), timeout=self._renew_interval)
                return
            except asyncio.TimeoutError:
                pass
            try:
                await self.renew()
                if loop.time() >= next_balance:
                    await self.balance()
                    next_balance = loop.time() + self._acquire_interval
            except Exception:
                log.exception("partition lease maintenance failed; retrying")

    async def renew(self) -> None:
        for partition_id, lease in list(self.owned.items()):
            if not await self._leases.renew(lease):
                log.warning("lost lease on %s", partition_id, extra={"partition": partition_id})
                await self._drop(partition_id)

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
        log.info("acquired partition %s", lease.partition_id, extra={"partition": lease.partition_id})
        await self._on_acquired(partition_index(lease.partition_id))

    async def _drop(self, partition_id: str) -> None:
        if self.owned.pop(partition_id, None) is not None:
            await self._on_lost(partition_index(partition_id))
