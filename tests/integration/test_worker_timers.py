"""Durable timers through the worker on Azurite: a timer never fires before its FireAt.

The orchestrator (``sample_app.ShortTimer``) returns ``current_utc_datetime`` after its timer, and
the history's ``TimerFired`` carries the time it fired: both are checked against ``FireAt``. The
re-arm limit (``max_timer_delay``) and the long-timer limits are lowered to seconds so that every
path a 30-day timer takes (re-armed messages, messages held until due, split timers, a worker
killed between arming and firing) runs in a test.
"""

from __future__ import annotations

import logging
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import worker_support as ws

import durable_azure as df
from durable_azure.orchestration import history as h
from durable_azure.storage.messages import TaskMessage

EARLY_LOG = "durable_azure.worker.orchestrations"


async def timer_events(
    client: df.DurableOrchestrationClient, instance_id: str
) -> tuple[list[h.TimerCreated], list[h.TimerFired]]:
    events = await client.get_history(instance_id)
    created = [e for e in events if isinstance(e, h.TimerCreated)]
    fired = [e for e in events if isinstance(e, h.TimerFired)]
    return created, fired


async def assert_fired_on_time(
    client: df.DurableOrchestrationClient, instance_id: str, timeout: float
) -> None:
    """The instance completes; the orchestrator saw its deadline reached; every TimerFired is at or
    after its FireAt and answers a timer created once."""
    status = await ws.completed(client, instance_id, timeout=timeout)
    fire_at = datetime.fromisoformat(status.output["fire_at"])
    after = datetime.fromisoformat(status.output["after"])
    assert after >= fire_at, f"the orchestrator ran on {after - fire_at} before its timer's FireAt"
    created, fired = await timer_events(client, instance_id)
    assert created and created[-1].fire_at == fire_at
    assert sorted(f.timer_id for f in fired) == [c.event_id for c in created], "a timer fired twice or never"
    for event in fired:
        assert event.timestamp >= event.fire_at, (
            f"TimerFired {event.timer_id} at {event.timestamp} < {event.fire_at}"
        )


async def test_early_timer_message_is_held_until_due(azurite: str, hub_name: str) -> None:
    """A copy of a timer's TimerFired message delivered with no delay is not taken in early."""
    async with ws.task_hub(azurite, hub_name) as hub:
        started = time.monotonic()
        instance_id = await hub.client.start_new("ShortTimer", "early-timer", 4)

        async def timer_created() -> h.TimerCreated | None:
            created, _ = await timer_events(hub.client, instance_id)
            return created[0] if created else None

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

        await assert_fired_on_time(hub.client, instance_id, timeout=20)
        assert time.monotonic() - started >= 3.0


async def test_a_rearmed_timer_never_fires_before_fire_at(
    azurite: str, hub_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The issue's case: re-arm limit 2 s, a 9 s timer. Its message shows up after 2 s and is sent
    again (re-armed) until it is due within the hold limit (5 s here), then held until FireAt."""
    caplog.set_level(logging.DEBUG, logger=EARLY_LOG)
    async with ws.task_hub(azurite, hub_name, max_timer_delay=2) as hub:
        ids = [await hub.client.start_new("ShortTimer", f"rearmed-{n}", 9) for n in range(3)]
        for instance_id in ids:
            await assert_fired_on_time(hub.client, instance_id, timeout=30)
    notes = [r.getMessage() for r in caplog.records if getattr(r, "event", None) == "TimerEarly"]
    assert any("re-armed" in n for n in notes), notes
    assert any("held until due" in n for n in notes), notes


async def test_a_timer_fires_on_time_after_its_worker_is_killed(
    azurite: str, hub_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Kill the worker (SIGKILL) between arming timers and their firing; a new worker takes the
    partitions after the lease expires and fires each timer at or after its FireAt: one that is
    still early when the new worker receives it (32 s: the lease alone keeps the new worker out for
    up to 15 s), one the killed worker may have been holding
    in-process (8 s)."""
    caplog.set_level(logging.DEBUG, logger=EARLY_LOG)
    settings = {"max_timer_delay": 3}
    async with ws.task_hub(azurite, hub_name, worker=False) as hub:
        with tempfile.TemporaryDirectory() as logs:
            first = ws.spawn_worker(hub_name, "timers-a", Path(logs), connection=azurite, **settings)
            try:
                await ws.wait_ready(first)
                long_id = await hub.client.start_new("ShortTimer", "restart-long", 32)
                short_id = await hub.client.start_new("ShortTimer", "restart-short", 8)

                async def both_armed() -> bool:
                    return all([(await timer_events(hub.client, i))[0] for i in (long_id, short_id)])

                await ws.wait_until(both_armed, what="both timers to be created")
                await ws.wait_until(
                    lambda: _elapsed_since_start(hub.client, short_id, 4.5),
                    what="the short timer's first hop",
                )
                first.process.kill()  # our own child process, by its handle
                first.process.wait(timeout=10)
            finally:
                ws.stop_worker_process(first)
        await hub.start_worker(**settings)
        await assert_fired_on_time(hub.client, short_id, timeout=60)
        await assert_fired_on_time(hub.client, long_id, timeout=60)
    early = [r for r in caplog.records if getattr(r, "event", None) == "TimerEarly"]
    assert any(getattr(r, "instance_id", None) == long_id for r in early), (
        "the new worker saw no early message"
    )


async def _elapsed_since_start(
    client: df.DurableOrchestrationClient, instance_id: str, seconds: float
) -> bool:
    status = await client.get_status(instance_id)
    return status is not None and datetime.now(timezone.utc) - status.created_time >= timedelta(
        seconds=seconds
    )


async def test_a_long_timer_is_split_into_parts_that_need_no_rearming(
    azurite: str, hub_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Long-timer limits lowered as Durable Functions' own tests lower them (maximum 4 s, interval 2 s):
    a 10 s timer is a chain of TimerCreated/TimerFired pairs, each at most 4 s from its creation,
    the last at the final FireAt; no message needs re-arming (the cap is the maximum, 4 s)."""
    caplog.set_level(logging.DEBUG, logger=EARLY_LOG)
    limits = {"maximum_short_timer_duration": 4, "long_running_timer_interval": 2, "max_timer_delay": 4}
    async with ws.task_hub(azurite, hub_name, **limits) as hub:
        instance_id = await hub.client.start_new("ShortTimer", "split-timer", 10)
        await assert_fired_on_time(hub.client, instance_id, timeout=40)
        created, _ = await timer_events(hub.client, instance_id)
    assert len(created) >= 3, created
    for part in created:
        assert part.fire_at - part.timestamp <= timedelta(seconds=4), part
    assert all(c.fire_at < created[-1].fire_at for c in created[:-1])
    rearmed = [r.getMessage() for r in caplog.records if "re-armed" in r.getMessage()]
    assert rearmed == [], rearmed
