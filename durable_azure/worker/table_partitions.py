"""Partition ownership through the ``{Hub}Partitions`` table: DTFx's table partition manager.

The pass is DurableTask.AzureStorage's ``TableLeaseManager.ReadAndWriteTableAsync``
(``src/DurableTask.AzureStorage/Partitioning/TablePartitionManager.cs``, commit
``5217032961abf45846f462732a5e2813316e3747``), so a .NET worker and ours on one hub see and respect
each other's ownership. For every row, in order:

1. a partition we run whose ``CurrentOwner`` is someone else now is stopped at once
   (``DropLostControlQueue``);
2. claim it if free (no owner, no next owner), expired (``now >= ExpiresAt``), or released to us
   (``CurrentOwner`` null, ``NextOwner`` = us): ``CurrentOwner`` = us, ``NextOwner`` null,
   ``OwnedSince`` = ``LastRenewal`` = now, ``ExpiresAt`` = now + 1 min, ``IsDraining`` false;
3. another worker's row is counted for balancing (under ``NextOwner`` while a steal is under way);
   if its owner is draining for shutdown and nobody steals it, steal it (``NextOwner`` = us);
4. our row: renew (``LastRenewal`` = now, ``ExpiresAt`` = now + ``LeaseInterval``), or, if someone
   set ``NextOwner``, drain (stop the partition, finish in-flight episodes, ``IsDraining`` = true,
   still renewing) and, once drained, release (``CurrentOwner`` null, ``IsDraining`` false);
5. each changed row is written with Replace + ``If-Match`` its ETag; a 412 ends the pass and the
   table is read again at once.

Then ``BalanceLeasesAsync``: ``average = rows // (other owners + 1)``; unless we own more, steal
(``NextOwner`` = us) from owners above the average. The new owner starts a partition only after the
old one released it (or its lease expired), and a partition is stopped the moment its row shows
another owner, or our lease may have expired because it could not be renewed (its ``ExpiresAt``
minus a margin, on our clock): a stale owner never runs a partition it lost.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from ..storage.partition_table import PartitionRowConflict, PartitionTable, TablePartitionLease, utc_now
from .health import RepeatedFailure, StorageHealth

log = logging.getLogger(__name__)

PartitionCallback = Callable[[int], Awaitable[None]]
#: ``ClaimLease`` sets ``ExpiresAt`` one minute out (the same pass then renews it).
CLAIM_LEASE = timedelta(minutes=1)
#: A partition is stopped this long before its lease expires if it could not be renewed.
EXPIRY_MARGIN = 2.0
#: Passes re-run at once after a failure, up to this many in a row (``MaxFailureCount``).
MAX_FAILURE_COUNT = 10


def partition_index(partition_id: str) -> int:
    """``myhub-control-03`` → 3."""
    return int(partition_id.rsplit("-", 1)[1])


@dataclass
class _Pass:
    """``ReadTableReponse``: what a pass found, which sets how soon the next one runs."""

    draining: bool = False
    waiting_for_release: bool = False


class TablePartitionManager:
    """Keeps this worker's share of ``{Hub}Partitions`` rows and starts/stops their partitions."""

    def __init__(
        self,
        table: PartitionTable,
        owner: str,
        *,
        on_acquired: PartitionCallback,
        on_lost: PartitionCallback,
        lease_interval: float = 30.0,
        acquire_interval: float = 10.0,
        health: StorageHealth | None = None,
    ) -> None:
        self._table = table
        self.owner = owner
        self._on_acquired = on_acquired
        self._on_lost = on_lost
        self._lease_interval = timedelta(seconds=lease_interval)
        self._interval = acquire_interval
        self._health = health
        self._ids = set(table.partition_ids)
        self.owned: dict[str, TablePartitionLease] = {}  # partitions whose control queue runs here
        self._deadline: dict[str, float] = {}  # loop time after which our lease may have expired
        self._drains: dict[str, asyncio.Task[None]] = {}
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._nudge = asyncio.Event()

    # ------------------------------------------------------------------ lifecycle

    def maintain_now(self) -> None:
        """Run a pass now rather than at the next interval (storage is back)."""
        self._nudge.set()

    async def start(self) -> None:
        self._stopping.clear()
        try:
            await self.run_pass()
        except Exception as error:  # table requests make no SDK retries: the loop tries again shortly
            if self._health is None or not self._health.failed(error):
                log.warning("could not read the partition table yet (%s); retrying", error)
            self._nudge.set()
        self._task = asyncio.create_task(self._run(), name=f"table-partition-manager-{self.owner}")

    async def halt(self) -> None:
        """Stop the passes (rows are kept until :meth:`stop`)."""
        self._stopping.set()
        if self._task is not None:
            await self._task
            self._task = None

    async def stop(self) -> None:
        """Stop every partition, wait for drains, then release our rows (``CurrentOwner`` = null)."""
        await self.halt()
        await asyncio.gather(*(self._drop(pid) for pid in list(self.owned)))
        await asyncio.gather(*self._drains.values(), return_exceptions=True)
        self._drains.clear()
        for attempt in range(5):
            try:
                rows = await self._table.list()
                for row in rows:
                    if row.current_owner == self.owner:
                        await self._table.replace(
                            row.changed(current_owner=None, is_draining=False), row.etag
                        )
                        log.info("released partition %s", row.row_key, extra={"partition": row.row_key})
                return
            except PartitionRowConflict:
                continue  # someone wrote a row meanwhile: read again
            except Exception as error:
                log.warning("could not release partition rows (attempt %d): %s", attempt + 1, error)
                await asyncio.sleep(0.5)

    async def _run(self) -> None:
        failures = 0
        pending = _Pass()
        maintaining = RepeatedFailure(log, "partition table maintenance")
        while not self._stopping.is_set():
            if failures and failures < MAX_FAILURE_COUNT:
                wait = 0.0
            elif pending.draining or pending.waiting_for_release:
                wait = min(1.0, self._interval)
            else:
                wait = self._interval
            await self._sleep(wait)
            if self._stopping.is_set():
                return
            self._nudge.clear()
            try:
                pending = await self.run_pass()
                failures = 0
                if self._health is not None:
                    self._health.succeeded()
                maintaining.succeeded()
            except PartitionRowConflict:
                failures += 1  # another worker wrote first: read the table again at once
            except Exception as error:
                failures += 1
                if failures >= MAX_FAILURE_COUNT:
                    failures = MAX_FAILURE_COUNT  # from here on, wait a whole interval between tries
                if self._health is None or not self._health.failed(error):
                    maintaining.failed(error)
                await asyncio.sleep(0.2)
            await self._drop_overdue()

    async def _sleep(self, seconds: float) -> None:
        """Wait ``seconds`` (or until our earliest lease may expire), less when stopping or nudged."""
        loop = asyncio.get_running_loop()
        if self._deadline:
            seconds = max(0.0, min(seconds, min(self._deadline.values()) - loop.time()))
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        stop = asyncio.ensure_future(self._stopping.wait())
        nudge = asyncio.ensure_future(self._nudge.wait())
        try:
            await asyncio.wait({stop, nudge}, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            nudge.cancel()

    async def _drop_overdue(self) -> None:
        """Stop partitions whose lease may have expired because it could not be renewed in time."""
        now = asyncio.get_running_loop().time()
        for pid in [p for p, deadline in self._deadline.items() if deadline <= now]:
            self._deadline.pop(pid, None)
            if pid in self.owned:
                log.warning(  # same words as the blob manager's: operators and tests look for them
                    "could not renew the lease on %s before its ExpiresAt (less %.0f s); it has expired, "
                    "so the partition stops until it is claimed again",
                    pid,
                    EXPIRY_MARGIN,
                    extra={"partition": pid},
                )
                await self._drop(pid)

    # ------------------------------------------------------------------ one pass

    async def run_pass(self) -> _Pass:
        """One ``ReadAndWriteTableAsync`` + ``BalanceLeasesAsync``; raises :class:`PartitionRowConflict` on a 412."""
        result = _Pass()
        rows = [row for row in await self._table.list() if row.row_key in self._ids]
        distribution: dict[str, list[TablePartitionLease]] = {}
        mine = 0
        me = self.owner
        for row in rows:
            pid = row.row_key
            if pid in self.owned and row.current_owner != me:  # DropLostControlQueue
                log.warning(
                    "partition %s is owned by %s now", pid, row.current_owner, extra={"partition": pid}
                )
                await self._drop(pid)
            now = utc_now()
            new, claimed, stole, renewed, released = row, False, False, False, False
            empty = row.current_owner is None and row.next_owner is None
            stolen_by_me = row.current_owner is None and row.next_owner == me
            if empty or row.expired(now) or stolen_by_me:  # TryClaimLease
                new = new.changed(
                    current_owner=me,
                    next_owner=None,
                    owned_since=now,
                    last_renewal=now,
                    expires_at=now + CLAIM_LEASE,
                    is_draining=False,
                )
                claimed = True
            if new.current_owner != me:  # CheckOtherWorkersLeases
                if new.next_owner is None and not new.is_draining and new.current_owner is not None:
                    distribution.setdefault(new.current_owner, []).append(new)
                if new.next_owner is not None:
                    if new.next_owner == me:
                        mine += 1
                        result.waiting_for_release = True
                    else:
                        distribution.setdefault(new.next_owner, []).append(new)
                if new.next_owner is None and new.is_draining:  # its owner is shutting down
                    new = new.changed(next_owner=me)
                    stole = True
                    result.waiting_for_release = True
            else:  # RenewOrReleaseMyLease
                if new.next_owner is None:
                    mine += 1
                    new = self._renewed(new)
                    renewed = True
                else:
                    result.draining = True
                    new, released = self._drain_step(new)
                    renewed = not released
            if not (claimed or stole or renewed or released):
                continue
            written = await self._table.replace(new, row.etag)
            if written.current_owner == me and written.expires_at is not None:
                left = (written.expires_at - utc_now()).total_seconds() - EXPIRY_MARGIN
                self._deadline[pid] = asyncio.get_running_loop().time() + left
            else:
                self._deadline.pop(pid, None)
            if stole:
                log.info("stealing partition %s from %s (draining)", pid, row.current_owner)
            if released:
                log.info("released partition %s to %s", pid, written.next_owner, extra={"partition": pid})
            listening = written.current_owner == me and written.next_owner is None and not written.is_draining
            if listening and pid not in self.owned and pid not in self._drains:
                await self._gain(written)
            elif pid in self.owned:
                self.owned[pid] = written
        await self._balance(distribution, len(rows), mine, result)
        return result

    def _renewed(self, row: TablePartitionLease) -> TablePartitionLease:
        moment = utc_now()
        return row.changed(last_renewal=moment, expires_at=moment + self._lease_interval)

    def _drain_step(self, row: TablePartitionLease) -> tuple[TablePartitionLease, bool]:
        """``CheckDrainTask``: start draining, keep renewing while it runs, release when done."""
        pid = row.row_key
        task = self._drains.get(pid)
        if task is None:
            log.info("draining partition %s for %s", pid, row.next_owner, extra={"partition": pid})
            self._drains[pid] = asyncio.create_task(self._drop(pid), name=f"drain-{pid}")
            return self._renewed(row).changed(is_draining=True), False
        if task.done():
            self._drains.pop(pid, None)
            if not task.cancelled() and task.exception() is not None:
                log.warning("draining %s failed: %s", pid, task.exception())
            return row.changed(current_owner=None, is_draining=False), True
        return self._renewed(row), False

    async def _balance(
        self,
        distribution: dict[str, list[TablePartitionLease]],
        partitions: int,
        mine: int,
        result: _Pass,
    ) -> None:
        """``BalanceLeasesAsync``: steal from workers above ``partitions // (workers)``."""
        if not distribution:
            return
        average = partitions // (len(distribution) + 1)
        if average < mine:
            return
        for rows in distribution.values():
            to_steal = average - mine
            if to_steal < 0:
                break
            excess = len(rows) - average
            if excess <= 0:
                continue
            if to_steal == 0 and excess > 1:
                to_steal = 1
            for row in rows[: min(to_steal, excess)]:
                mine += 1
                await self._table.replace(row.changed(next_owner=self.owner), row.etag)
                log.info("stealing partition %s from %s", row.row_key, row.current_owner)
                result.waiting_for_release = True

    # ------------------------------------------------------------------ partitions

    async def _gain(self, row: TablePartitionLease) -> None:
        self.owned[row.row_key] = row
        log.info("acquired partition %s", row.row_key, extra={"partition": row.row_key})
        await self._on_acquired(partition_index(row.row_key))

    async def _drop(self, partition_id: str) -> None:
        self._deadline.pop(partition_id, None)
        if self.owned.pop(partition_id, None) is not None:
            await self._on_lost(partition_index(partition_id))
