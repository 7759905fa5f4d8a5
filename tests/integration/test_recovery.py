"""Recovery times: a killed worker's work and an outage of storage, measured against the lease time.

* A worker killed (``kill -9``) while its activity runs: with the engine's default visibility
  timeouts (work items hidden 30 s and renewed every 10 s while the activity runs, control messages
  hidden 30 s) another worker finishes the instance within about lease time + visibility timeout,
  not after the 2 minutes a work item used to stay hidden.
* Storage away for longer than a lease (so every lease expires): the worker logs the outage once
  and the recovery once, stops the partitions whose leases expired, takes them again as soon as
  storage answers, and new work runs within seconds of storage returning.
"""

from __future__ import annotations

import logging
import signal
import sys
import time
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import private_azurite as pa
import worker_support as ws

from durable_azure.config import Settings
from durable_azure.orchestration import history as h

pytestmark = [pytest.mark.slow]

#: The engine's defaults (a deployment's values), not worker_support.FAST's 10 s.
DEFAULT_VISIBILITY = {
    "control_queue_visibility_timeout": Settings().control_queue_visibility_timeout,
    "work_item_visibility_timeout": Settings().work_item_visibility_timeout,
}


async def test_killed_workers_activity_is_taken_over_within_lease_plus_visibility(
    azurite: str, hub_name: str, tmp_path: Path
) -> None:
    # lease (15 s here) or visibility (30 s), whichever is later, plus the three 4-s activities: the
    # work item used to stay hidden for 120 s.
    bound = 60
    async with ws.task_hub(azurite, hub_name, worker=False) as hub:
        victim = ws.spawn_worker(hub_name, "victim", tmp_path, connection=azurite, **DEFAULT_VISIBILITY)
        try:
            await ws.wait_ready(victim)
            instance_id = await hub.client.start_new("Pids", f"kill-{uuid.uuid4().hex[:6]}", 4)

            async def activity_running() -> bool:
                events = await hub.client.get_history(instance_id)
                return any(isinstance(e, h.TaskScheduled) for e in events) and not any(
                    isinstance(e, h.TaskCompleted) for e in events
                )

            await ws.wait_until(activity_running, timeout=30, what="the first activity to run on the victim")
        finally:
            if victim.process.poll() is None:
                victim.process.send_signal(signal.SIGKILL)  # our own child, by its Popen handle
                victim.process.wait(timeout=10)
        killed = time.monotonic()
        await hub.start_worker(**DEFAULT_VISIBILITY)
        assert hub.worker is not None
        status = await ws.completed(hub.client, instance_id, timeout=bound + 20)
        took = time.monotonic() - killed
        assert took <= bound, f"the dead worker's work came back after {took:.0f} s (bound {bound} s)"
        assert status.output["orchestrator"] != victim.process.pid


async def test_outage_longer_than_a_lease_is_logged_once_and_work_resumes_within_seconds(
    hub_name: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="durable_azure")
    outage = ws.FAST["lease_duration"] + 5  # every lease expires meanwhile
    async with pa.running(tmp_path / "azurite") as storage, pa.private_hub(storage, hub_name) as hub:
        await hub.start_worker()
        before = await hub.client.start_new("HelloCities", "before", ["Oslo"])
        await ws.completed(hub.client, before)

        await storage.stop(signal.SIGTERM)

        def unreachable_warnings() -> list[logging.LogRecord]:
            return [
                r
                for r in caplog.records
                if r.levelno == logging.WARNING and "Azure Storage is unreachable" in r.getMessage()
            ]

        async def outage_logged() -> bool:
            return bool(unreachable_warnings())

        await ws.wait_until(outage_logged, timeout=15, what="the outage warning")
        await ws.wait_until(
            _after(time.monotonic() + outage), timeout=outage + 5, interval=0.5, what="the outage to last"
        )
        await storage.start()
        back = time.monotonic()

        instance_id = await hub.client.start_new("HelloCities", "after", ["Rome"])
        status = await ws.completed(hub.client, instance_id, timeout=30)
        took = time.monotonic() - back
        assert status.output == ["Hello Rome!"]
        assert took <= 8, f"new work finished {took:.1f} s after storage returned"

        assert len(unreachable_warnings()) == 1, [r.getMessage() for r in unreachable_warnings()]
        recovered = [r for r in caplog.records if "Azure Storage is reachable again" in r.getMessage()]
        assert len(recovered) == 1 and recovered[0].levelno == logging.INFO
        expired = [r for r in caplog.records if "it has expired, so the partition stops" in r.getMessage()]
        assert expired, "no partition was stopped although its lease expired during the outage"
        tracebacks = [r for r in caplog.records if r.exc_info and r.created >= time.time() - took - outage]
        assert not tracebacks, [r.getMessage() for r in tracebacks]


def _after(deadline: float):  # type: ignore[no-untyped-def]
    """A wait_until probe that turns true at ``deadline`` (the outage is a span of time, not a condition)."""

    async def probe() -> bool:
        return time.monotonic() >= deadline

    return probe
