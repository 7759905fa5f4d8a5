"""Timer re-arming through the worker: a TimerFired message that shows up early must not fire the timer."""

from __future__ import annotations

import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import worker_support as ws

from durable_azure.orchestration import history as h
from durable_azure.storage.messages import TaskMessage


async def test_early_timer_message_is_rearmed_until_due(azurite: str, hub_name: str) -> None:
    """The path a 30-day timer takes every 6 days, exercised in seconds: deliver a copy of the timer's
    TimerFired message with no delay; the worker re-arms it instead of firing early."""
    async with ws.task_hub(azurite, hub_name) as hub:
        started = time.monotonic()
        instance_id = await hub.client.start_new("ShortTimer", "early-timer", 4)

        async def timer_created() -> h.TimerCreated | None:
            events = await hub.client.get_history(instance_id)
            return next((e for e in events if isinstance(e, h.TimerCreated)), None)

        created = await ws.wait_until(timer_created, what="the TimerCreated event")
        status = await hub.client.get_status(instance_id)
        early = TaskMessage(
            event=h.TimerFired(
                timer_id=created.event_id, fire_at=created.fire_at, timestamp=datetime.now(timezone.utc)
            ),
            instance_id=instance_id,
            execution_id=status.execution_id,
            sender_instance_id=instance_id,
            sender_execution_id=status.execution_id,
        )
        await hub.storage.control_queue_for(instance_id).send(early)  # visible at once: ~4 s early

        status = await ws.completed(hub.client, instance_id, timeout=20)
        after = datetime.fromisoformat(status.output["after"])
        assert after >= created.fire_at - timedelta(seconds=1), "the timer fired before it was due"
        assert time.monotonic() - started >= 3.0
        events = await hub.client.get_history(instance_id)
        assert sum(isinstance(e, h.TimerFired) for e in events) == 1
