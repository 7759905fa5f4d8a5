"""Sending entity signals from a client.

By default each signal is one queue message in DTFx's format: ``op``, or ``op@<time>`` hidden until
its time for a scheduled signal (as DF's ``DurableClient.SignalEntityAsync`` sends them), so a
.NET/DTFx worker on the same task hub processes them too.

:class:`SignalBatcher` is the opt-in alternative (``DurableOrchestrationClient(...,
batch_entity_signals=True)``): signals to the same entity issued concurrently by one client (say,
``asyncio.gather`` of many ``signal_entity`` calls) travel in one ``opbatch`` message instead of one
each. Each call still returns only once its signal is durably enqueued, and signals keep their
order. The consequence: only durable-azure workers read ``opbatch``; DTFx takes every event whose
name starts with ``op`` for a single request, fails to read the array, and the entity is stuck
under a .NET worker. Use it only on hubs no DTFx worker serves.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from typing import Any, Protocol

from ..entities.messages import delivery_time, signal_event
from ..orchestration.history import HistoryEvent

MAX_SIGNALS_PER_MESSAGE = 100


BatchSend = Callable[[str, HistoryEvent], Awaitable[None]]


class Send(Protocol):
    def __call__(
        self,
        instance_id: str,
        event: HistoryEvent,
        execution_id: str | None = None,
        *,
        visibility_delay: float = 0.0,
    ) -> Awaitable[None]: ...


async def send_signal(send: Send, instance_id: str, request: dict[str, Any]) -> None:
    """Send one signal request as its own ``op`` (or ``op@<time>``) message."""
    now = datetime.now(timezone.utc)
    event = signal_event([request], now)
    due = delivery_time(event.name)
    delay = max(0.0, (due - now).total_seconds()) if due is not None else 0.0
    await send(instance_id, event, visibility_delay=delay)


class SignalBatcher:
    """Collects signals per entity until the running task yields, then sends them together."""

    def __init__(self, send: BatchSend) -> None:
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
