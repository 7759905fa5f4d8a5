"""Client starts made in the worker's own process: what the client knows, so the worker need not read it.

A client start sends the ``ExecutionStarted`` message, then writes the ``Pending`` Instances row. A
worker that takes the start in normally reads the instance's history (to judge the start) and the
row's ETag (to guard its first row write). When the client runs in the worker's process and shares its
:class:`~durable_azure.storage.taskhub.TaskHubStorage`, it leaves a :class:`LocalStart` here instead:

* ``row``: the row as the client's write left it (its ETag, ``Pending``, the execution id), or
  ``None`` if that write failed. Any ETag the row had before the worker's history append guards the
  worker's first row write as well as a fresh read would: if the row changed since, the guarded merge
  fails and :func:`~durable_azure.storage.status_rows.write_status_row` re-reads it.
* ``fresh``: the client found no row of the instance (or generated its id, a random UUID, so none
  can exist): the history need not be read either. A history without a row (a purge that died
  between its two deletes, a row deleted by hand) is still never overwritten: the first append of a
  fresh instance creates the sentinel row, which fails when one exists; the episode is then retried,
  and the retry, finding no entry (each is taken once), reads the history as always.

Each entry is taken once, by the first episode that takes in its start: a start delivered again (its
delete was lost, or the first episode failed) finds none and is judged against storage as always.
Entries nobody takes (another process owns the partition) are dropped after :data:`CAPACITY`.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from dataclasses import dataclass, field

from ..orchestration.history import OrchestrationStatus
from .instance_table import RowState

#: Entries kept at most (oldest dropped first).
CAPACITY = 10_000


@dataclass
class LocalStart:
    """One client start made in this process."""

    execution_id: str
    fresh: bool
    row: asyncio.Future[RowState | None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )

    def row_written(self, etag: str | None) -> None:
        """The client's row write ended: with the row's new ETag, or ``None`` (failed, or not made)."""
        if not self.row.done():
            state = None if etag is None else RowState(etag, OrchestrationStatus.Pending, self.execution_id)
            self.row.set_result(state)


class LocalStarts:
    """Starts made by clients of this process, by instance id, until a worker takes them."""

    def __init__(self, capacity: int = CAPACITY) -> None:
        self._capacity = capacity
        self._starts: OrderedDict[str, LocalStart] = OrderedDict()

    def begin(self, instance_id: str, execution_id: str, *, fresh: bool) -> LocalStart:
        """Record a start before its message is sent (the worker may receive it at once)."""
        start = LocalStart(execution_id, fresh)
        self._starts[instance_id] = start
        self._starts.move_to_end(instance_id)
        while len(self._starts) > self._capacity:
            _, dropped = self._starts.popitem(last=False)
            dropped.row_written(None)
        return start

    def take(self, instance_id: str, execution_id: str) -> LocalStart | None:
        """The start of ``execution_id`` recorded for ``instance_id``, removed; ``None`` if there is none."""
        start = self._starts.get(instance_id)
        if start is None or start.execution_id != execution_id:
            return None
        del self._starts[instance_id]
        return start

    def __len__(self) -> int:
        return len(self._starts)


__all__ = ["LocalStart", "LocalStarts"]
