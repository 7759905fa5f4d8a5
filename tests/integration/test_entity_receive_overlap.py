"""Separate signals to one entity: the partition receives the next batch while the entity's previous
batch checkpoints, and every operation is still applied exactly once, batch after batch."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
for _path in (str(HERE), str(HERE / "entity_apps")):
    if _path not in sys.path:
        sys.path.insert(0, _path)

import entity_app  # noqa: E402
import worker_support as ws  # noqa: E402

import durable_azure as df  # noqa: E402

SIGNALS = 96  # three receives of 32


async def test_entity_batches_overlap_the_next_receive_and_apply_each_signal_once(
    azurite: str, hub_name: str
) -> None:
    counter = df.EntityId("Counter", "overlap")
    async with ws.task_hub(azurite, hub_name, app=entity_app.app, worker=False) as hub:
        for _ in range(SIGNALS):  # one at a time: each signal is its own queue message
            await hub.client.signal_entity(counter, "add", 1)

        worker = df.TaskHubWorker(entity_app.app, azurite, hub_name=hub.name, **ws.FAST)
        hub.worker = worker  # stopped by the fixture
        queue = worker.storage.control_queue_for(counter.instance_id)
        loop = asyncio.get_running_loop()
        batches: list[tuple[float, float]] = []  # the entity's batches, from start to checkpoint
        receives: list[float] = []  # receives of its partition that found messages
        original_run, original_receive = worker.entities._run, queue.receive

        async def slow_run(index: int, instance_id: str, *args: Any) -> None:
            started = loop.time()
            await asyncio.sleep(0.3)  # a slow batch: the partition's next receive must not wait for it
            try:
                await original_run(index, instance_id, *args)
            finally:
                if instance_id == counter.instance_id:
                    batches.append((started, loop.time()))

        async def recorded_receive(*args: Any, **kwargs: Any) -> Any:
            started = loop.time()
            got = await original_receive(*args, **kwargs)
            if any(m.message.instance_id == counter.instance_id for m in got):
                receives.append(started)
            return got

        # The batch itself (the dispatcher's own step after it received the messages), this worker only.
        worker.entities._run = slow_run  # type: ignore[method-assign]
        queue.receive = recorded_receive  # type: ignore[method-assign]
        await worker.start()

        async def applied() -> df.EntityStateResponse | None:
            state = await hub.client.read_entity_state(counter)
            return state if state.entity_exists and state.entity_state == SIGNALS else None

        await ws.wait_until(applied, timeout=60, interval=0.1, what=f"{counter} to hold {SIGNALS}")

        assert len(batches) >= 2 and len(receives) >= 2, (batches, receives)
        # Receive k+1 started before batch k was checkpointed (without the overlap, the loop would
        # wait for batch k to finish before receiving again).
        overlapped = [
            k for k in range(min(len(receives) - 1, len(batches))) if receives[k + 1] < batches[k][1]
        ]
        assert overlapped, f"no receive started while a batch ran: {receives} vs {batches}"
        assert worker.entities.operations == SIGNALS  # none applied twice
        await asyncio.sleep(0.5)
        assert (await hub.client.read_entity_state(counter)).entity_state == SIGNALS
