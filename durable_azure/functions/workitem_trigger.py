"""Work items through the Functions host's queue trigger: the platform scales on their backlog.

Durable Functions' scale controller watches the task hub's queues through the .NET extension; a
Python app cannot add one. What every plan's scaler does understand is an ordinary queue trigger,
so :func:`durable_azure.enable_azure_hosting` registers one on ``{hub}-workitems`` and the engine in a
Functions host stops receiving that queue itself. Each message the host delivers is handed to the
engine of this process (running on its own event loop, in its own thread) and run exactly as a
received work item: :meth:`~durable_azure.worker.activities.ActivityDispatcher.run_delivered`.

The host's own settings apply (``host.json`` ``extensions.queues``: ``batchSize``,
``newBatchThreshold``, ``visibilityTimeout``, ``maxDequeueCount``); the message encoding must be
``none`` (the task hub's messages are plain JSON, as DTFx writes them). See ``docs/hosting.md``.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import TYPE_CHECKING, Any

import azure.functions as func
from azure.storage.queue import QueueMessage

from ..errors import EngineNotRunningError

if TYPE_CHECKING:
    from .azure_hosting import AzureHosting

#: How long a delivered work item waits for this process's engine to start (seconds).
ENGINE_START_TIMEOUT = 60.0


def storage_message(msg: func.QueueMessage) -> QueueMessage:
    """The storage SDK's ``QueueMessage`` for a message the host delivered (same id and pop receipt)."""
    qm = QueueMessage(content=msg.get_body().decode("utf-8", "replace"))
    qm.id = msg.id or ""
    qm.pop_receipt = msg.pop_receipt
    qm.dequeue_count = int(msg.dequeue_count or 0)
    qm.inserted_on = _when(msg.insertion_time)
    qm.expires_on = _when(msg.expiration_time)
    qm.next_visible_on = _when(msg.time_next_visible)
    return qm


def _when(value: Any) -> datetime | None:
    return value if isinstance(value, datetime) else None


async def run_work_item(hosting: AzureHosting, msg: func.QueueMessage) -> None:
    """Run one delivered work item on this process's engine; raise (the host retries) if it cannot."""
    hosting.ensure_worker()
    started = hosting.wait_ready(0) or await asyncio.get_running_loop().run_in_executor(
        None, hosting.wait_ready, ENGINE_START_TIMEOUT
    )
    worker, engine_loop = hosting.engine()
    if not started or worker is None or engine_loop is None:
        raise EngineNotRunningError(
            f"the durable-azure engine did not start within {ENGINE_START_TIMEOUT:.0f} s; "
            "the host will deliver the work item again"
        )
    done = asyncio.run_coroutine_threadsafe(
        worker.activities.run_delivered(storage_message(msg)), engine_loop
    )
    await asyncio.wrap_future(done)
