"""Client-side batching of entity signals.

Signals to the same entity issued concurrently by one client (say, ``asyncio.gather`` of many
``signal_entity`` calls) travel in one queue message instead of one each. Each call still returns
only once its signal is durably enqueued, and signals keep their order.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from typing import Any

from ..entities.messages import signal_event
from ..orchestration.history import HistoryEvent

MAX_SIGNALS_PER_MESSAGE = 100

Send = Callable[[str, HistoryEvent], Awaitable[None]]


class SignalBatcher:
    """Collects signals per entity until the running task yields, then sends them together."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self._pending: dict[str, list[tuple[dict[str, Any], asyncio.Future[None]]]] = {}

    async def signal(self, instance_id: str, request: dict[str, Any]) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue = self._pending.get(instance_id)
        if queue is None:
            queue = self._pending[instance_id] = []
            asyncio.get_running_loop().call_soon(self._flush_soon, instance_id)
        queue.append((request, future))
        await future

    def _flush_soon(self, instance_id: str) -> None:
        asyncio.get_running_loop().create_task(self._flush(instance_id))

    async def _flush(self, instance_id: str) -> None:
        items = self._pending.pop(instance_id, [])
        for start in range(0, len(items), MAX_SIGNALS_PER_MESSAGE):
            chunk = items[start : start + MAX_SIGNALS_PER_MESSAGE]
            event = signal_event([request for request, _ in chunk], datetime.now(timezone.utc))
            try:
                await self._send(instance_id, event)
            except Exception as error:
                for _, future in chunk:
                    if not future.done():
                        future.set_exception(error)
                continue
            for _, future in chunk:
                if not future.done():
                    future.set_result(None)
