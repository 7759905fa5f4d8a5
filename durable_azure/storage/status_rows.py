"""Writing an instance's ``{Hub}Instances`` row after its history checkpoint, without ever regressing it.

The history append is guarded by the sentinel ETag, but the status row is a second write. A worker
that stalls between the two (a long GC pause, a suspended VM, ``SIGSTOP``) can lose its partition,
and the next owner can finish the instance before the stalled write lands; an unconditional merge
would then put ``Running`` back over ``Completed`` for good.

So every row write is guarded by the row's ETag, read *before* this worker's history append (when
the history was loaded, or from its own previous row write). Any later owner writes the row only
after its own append, which follows ours, so its row write changes that ETag. On a conflict the
worker re-reads the row ETag and then the sentinel: if the sentinel is still the one our append
produced, nobody has written history since (the conflicting write came from a client start, say)
and the merge is retried; otherwise our columns are stale and are skipped.
"""

from __future__ import annotations

import asyncio
import logging

from ..errors import SplitBrainError
from .history_table import LoadedHistory
from .instance_table import InstanceUpdate, RowState
from .taskhub import TaskHubStorage

log = logging.getLogger(__name__)

#: Conflicts tolerated from writers that are not workers (client starts, restarts) before giving up.
MAX_ATTEMPTS = 4


async def load_for_checkpoint(
    storage: TaskHubStorage, instance_id: str
) -> tuple[LoadedHistory, RowState | None]:
    """An instance's history and its status row's state, read together (in parallel) so that the
    row ETag :func:`write_status_row` is later guarded by predates this worker's next append."""
    history, row = await asyncio.gather(
        storage.history.load(instance_id), storage.instances.row_state(instance_id)
    )
    return history, row


async def write_status_row(
    storage: TaskHubStorage,
    instance_id: str,
    update: InstanceUpdate,
    *,
    row_etag: str | None,
    history_etag: str,
) -> str | None:
    """Merge ``update`` into the row if this worker's history append is still the latest.

    ``row_etag`` is the row's ETag as read before that append (``None``: there was no row);
    ``history_etag`` is the sentinel ETag the append returned. Returns the row's new ETag, or
    ``None`` when another worker has written the instance's history since (the update is stale
    and was not written). Raises :class:`SplitBrainError` if conflicts persist.
    """
    etag = row_etag
    for _ in range(MAX_ATTEMPTS):
        try:
            return await storage.instances.merge_guarded(instance_id, update, etag)
        except SplitBrainError:
            pass
        # Row first, then sentinel: a newer owner that appends after this check writes the row
        # after this read, so the retried merge fails on the ETag and comes back here.
        row = await storage.instances.row_state(instance_id)
        etag = row.etag if row is not None else None
        if await storage.history.sentinel_etag(instance_id) != history_etag:
            log.warning(
                "another worker has advanced this instance; skipping a stale status row update",
                extra={"instance_id": instance_id, "event": "StaleStatusRow"},
            )
            return None
    raise SplitBrainError(
        f"Instances row of {instance_id!r} kept changing under {MAX_ATTEMPTS} guarded writes"
    )
