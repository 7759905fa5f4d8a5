"""The work-item loop: it does not spin while every activity slot is taken, and it keeps a backlog
moving at more than one batch per poll interval."""

from __future__ import annotations

import asyncio
import sys
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import worker_support as ws

from durable_azure.worker.polling import Poller


async def test_a_full_dispatcher_sleeps_until_a_slot_frees(
    azurite: str, hub_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One slot, held by a gated activity for a second: the loop waits for the slot instead of
    waking up over and over (it used to spin once its poll was due)."""
    waits = 0
    original = Poller.wait

    async def counting_wait(self: Poller, deadline: float | None = None) -> None:
        nonlocal waits
        waits += 1
        await original(self, deadline)

    key = f"full-{uuid.uuid4().hex[:8]}"
    async with ws.task_hub(azurite, hub_name, max_concurrent_activities=1) as hub:
        instance_id = await hub.client.start_new("GatedOnce", f"full-{key}", key)
        await ws.wait_until(lambda: _started(f"Gate:{key}"), what="the gated activity to start")
        monkeypatch.setattr(Poller, "wait", counting_wait)
        await asyncio.sleep(1.0)  # the slot stays taken for this long: nothing to wait *until*
        spins = waits
        monkeypatch.setattr(Poller, "wait", original)
        ws.sample_app.gate(key).set()
        await ws.completed(hub.client, instance_id)
        # every loop of the process shares Poller.wait: a handful of sleeps each, not thousands
        assert spins < 50, f"{spins} waits in one second"


async def _started(key: str) -> bool:
    return ws.sample_app.calls[key] >= 1


async def test_a_backlog_is_received_again_as_soon_as_half_the_slots_are_free(
    azurite: str, hub_name: str
) -> None:
    """A fan-out of 40 with 10 slots, the work-item loop's poll interval raised to 5 s: each full
    batch is followed by the next as soon as half the slots are free, not one batch per interval
    (which would take 15 s or more)."""
    async with ws.task_hub(azurite, hub_name, max_concurrent_activities=10) as hub:
        assert hub.worker is not None
        poller = hub.worker.activities._poller
        poller.min_interval = poller.interval = 5.0
        instance_id = await hub.client.start_new("FanOutFanIn", f"fan-{uuid.uuid4().hex[:8]}", 40)
        status = await ws.completed(hub.client, instance_id, timeout=10)
        assert status.output == {"count": 40, "sum": sum(i * i for i in range(40))}
