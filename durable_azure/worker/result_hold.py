"""Holding back activity results an orchestrator cannot use yet, so a fan-in takes few episodes.

An orchestrator awaiting ``task_all`` of N open tasks cannot run on fewer than N results; an
episode per arriving result would only write history. So a partition loop holds such results in
its inbox — at most ``max_hold`` seconds and at most a batch — and records them together. Only
successful activity results are held (a failure, timer, event or anything else may wake the
orchestrator), and only for instances whose live orchestrator is cached. Each held result's work
item stays hidden until the history holding the result is durable, so a crash meanwhile re-runs
the activity; it never loses the result.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..orchestration.history import TaskCompleted
from ..storage.queues import ReceivedMessage
from .instance_state import InstanceCache

__all__ = ["ResultHold"]


class ResultHold:
    """Which inbox messages of one partition wait for their ``task_all`` siblings, and until when."""

    def __init__(self, cache: InstanceCache, batch_size: int, max_hold: float) -> None:
        self._cache = cache
        self._batch_size = batch_size
        self._max_hold = max_hold
        self._since: dict[str, float] = {}  # instance id -> when its oldest held result arrived

    def __contains__(self, instance_id: object) -> bool:
        return instance_id in self._since

    def __bool__(self) -> bool:
        return bool(self._since)

    @property
    def deadline(self) -> float | None:
        """When the oldest hold expires (loop time), or ``None`` when nothing is held."""
        return min(self._since.values()) + self._max_hold if self._since else None

    def take_ready(
        self, inbox: Iterable[ReceivedMessage], now: float
    ) -> tuple[list[ReceivedMessage], list[ReceivedMessage]]:
        """Split ``inbox`` into messages to process now and messages to keep holding."""
        groups: dict[str, list[ReceivedMessage]] = {}
        for received in inbox:
            groups.setdefault(received.message.instance_id, []).append(received)
        ready: list[ReceivedMessage] = []
        kept: list[ReceivedMessage] = []
        since = self._since
        for instance_id, messages in groups.items():
            first = since.get(instance_id, now)
            if now - first < self._max_hold and self._worth_holding(instance_id, messages):
                since[instance_id] = first
                kept += messages
            else:
                since.pop(instance_id, None)
                ready += messages
        for instance_id in [i for i in since if i not in groups]:
            del since[instance_id]
        return ready, kept

    def release(self, instance_ids: Iterable[str]) -> set[str]:
        """End the hold of these instances (say, another message for them arrived); returns those
        that were held."""
        released = {i for i in instance_ids if i in self._since}
        for instance_id in released:
            del self._since[instance_id]
        return released

    def _worth_holding(self, instance_id: str, messages: list[ReceivedMessage]) -> bool:
        if len(messages) >= self._batch_size:
            return False
        if not all(isinstance(m.message.event, TaskCompleted) for m in messages):
            return False
        state = self._cache.peek(instance_id)
        if state is None or state.session is None or state.is_terminal:
            return False
        return len(messages) < state.session.successes_needed()
