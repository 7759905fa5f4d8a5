"""Several worker processes on one task hub: partition sharing, and recovery after ``kill -9``."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections import Counter
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import worker_support as ws

from durable_azure import OrchestrationRuntimeStatus as S
from durable_azure.orchestration import history as h

pytestmark = pytest.mark.slow


async def balanced(hub: ws.Hub, workers: list[ws.WorkerProcess]) -> dict[str, str]:
    """Wait until every partition is leased, each worker holds two of the four, and each worker
    process itself runs exactly the partitions it holds (a worker whose lease was stolen keeps
    polling that partition until its next renewal; starting work before that hand-over settles
    runs into the stale-cache bug of test_worker_reliability.py, which has its own test)."""

    async def probe() -> dict[str, str] | None:
        owners = await ws.lease_owners(hub.storage)
        counts = Counter(owners.values())
        if len(owners) != 4 or any(counts[w.worker_id] != 2 for w in workers):
            return None
        for worker in workers:
            held = {int(p.rsplit("-", 1)[1]) for p, o in owners.items() if o == worker.worker_id}
            if ws.running_partitions(worker) != held:
                return None
        return owners

    names = [w.worker_id for w in workers]
    return await ws.wait_until(probe, timeout=40, interval=0.5, what=f"leases balanced over {names}")


async def all_completed(
    hub: ws.Hub, ids: list[str], timeout: float, workers: tuple[ws.WorkerProcess, ...] = ()
) -> list[ws.df.DurableOrchestrationStatus]:
    async def probe() -> list[ws.df.DurableOrchestrationStatus] | None:
        statuses = await hub.client.get_status_by()
        done = {s.instance_id: s for s in statuses if s.runtime_status in ws.TERMINAL}
        return [done[i] for i in ids] if set(ids) <= set(done) else None

    try:
        return await ws.wait_until(
            probe, timeout=timeout, interval=0.5, what=f"{len(ids)} instances to finish"
        )
    except AssertionError as timed_out:
        report = await stuck_report(hub, ids)
        raise AssertionError(f"{timed_out}\n{report}\n{worker_logs(*workers)}") from None


async def stuck_report(hub: ws.Hub, ids: list[str]) -> str:
    """What a stuck run looks like: unfinished instances with their histories, and the queues."""
    lines = []
    for status in await hub.client.get_status_by():
        if status.instance_id in ids and status.runtime_status not in ws.TERMINAL:
            events = await hub.client.get_history(status.instance_id)
            summary = " ".join(
                f"{type(e).__name__}({getattr(e, 'event_id', '')}/{getattr(e, 'task_scheduled_id', '')})"
                for e in events
            )
            lines.append(f"{status.instance_id} {status.runtime_status.value}: {summary}")
    for queue in [*(f"{hub.name}-control-{i:02d}" for i in range(4)), f"{hub.name}-workitems"]:
        lines.append(f"{queue}: ~{await hub.raw.queue_length(queue)} message(s)")
    return "\n".join(lines)


async def every_chain_completed_exactly_once(
    hub: ws.Hub, ids: list[str], steps: int, workers: tuple[ws.WorkerProcess, ...]
) -> None:
    """Each ``SlowChain`` finished Completed with every step's output, and its history is exact:
    one start, one completion, each task scheduled and answered once, consecutive RowKeys."""
    statuses = await all_completed(hub, ids, timeout=150, workers=workers)
    failed = [
        (s.instance_id, s.runtime_status, s.output) for s in statuses if s.runtime_status is not S.Completed
    ]
    assert not failed, f"{failed}\n{worker_logs(*workers)}"
    for status in statuses:
        assert status.output == [f"{status.instance_id}:{n}" for n in range(steps)]
    for instance_id in ids:
        events = await hub.client.get_history(instance_id)
        assert sum(isinstance(e, h.ExecutionStarted) for e in events) == 1, instance_id
        assert sum(isinstance(e, h.ExecutionCompleted) for e in events) == 1, instance_id
        scheduled = [e.event_id for e in events if isinstance(e, h.TaskScheduled)]
        answered = [e.task_scheduled_id for e in events if isinstance(e, (h.TaskCompleted, h.TaskFailed))]
        assert scheduled == list(range(steps)), (instance_id, scheduled)
        assert answered == list(range(steps)), (instance_id, answered)
        # raw rows agree: consecutive RowKeys of one execution, no stale duplicates
        rows = await hub.raw.current_history_rows(hub.name, instance_id)
        assert [int(r["RowKey"], 16) for r in rows] == list(range(len(events)))


def worker_logs(*workers: ws.WorkerProcess) -> str:
    return "\n".join(f"----- {w.worker_id} (pid {w.pid}) -----\n{w.log()[-4000:]}" for w in workers)


async def test_two_worker_processes_share_partitions_and_work(
    azurite: str, hub_name: str, tmp_path: Path
) -> None:
    async with ws.task_hub(azurite, hub_name, worker=False) as hub:
        w1 = ws.spawn_worker(hub_name, "w1", tmp_path, connection=azurite)
        w2 = ws.spawn_worker(hub_name, "w2", tmp_path, connection=azurite)
        try:
            pids = {await ws.wait_ready(w1), await ws.wait_ready(w2)}
            await balanced(hub, [w1, w2])

            ids = [f"pids-{i:02d}" for i in range(40)]
            await asyncio.gather(*(hub.client.start_new("Pids", i, 0.05) for i in ids))
            statuses = await all_completed(hub, ids, timeout=60, workers=(w1, w2))
            assert all(s.runtime_status is S.Completed for s in statuses), worker_logs(w1, w2)

            activity_pids = Counter(p for s in statuses for p in s.output["activities"])
            orchestrator_pids = Counter(s.output["orchestrator"] for s in statuses)
            assert set(activity_pids) == pids, (activity_pids, pids)
            assert set(orchestrator_pids) == pids, (orchestrator_pids, pids)
            assert sum(activity_pids.values()) == 120
        finally:
            ws.stop_worker_process(w1)
            ws.stop_worker_process(w2)
        assert w1.process.returncode == 0 and w2.process.returncode == 0, worker_logs(w1, w2)
        # a clean stop hands every lease back
        assert await ws.lease_owners(hub.storage) == {}


async def test_kill_9_of_one_worker_every_orchestration_completes_exactly_once(
    azurite: str, hub_name: str, tmp_path: Path
) -> None:
    steps = 6
    async with ws.task_hub(azurite, hub_name, worker=False) as hub:
        survivor = ws.spawn_worker(hub_name, "survivor", tmp_path, connection=azurite)
        victim = ws.spawn_worker(hub_name, "victim", tmp_path, connection=azurite)
        try:
            await ws.wait_ready(survivor)
            await ws.wait_ready(victim)
            owners = await balanced(hub, [survivor, victim])
            victim_partitions = {int(p.rsplit("-", 1)[1]) for p, o in owners.items() if o == "victim"}

            ids = [f"chain-{i:02d}" for i in range(30)]
            assert {hub.storage.partition_of(i) for i in ids} & victim_partitions
            await asyncio.gather(
                *(hub.client.start_new("SlowChain", i, {"steps": steps, "delay": 0.3}) for i in ids)
            )

            async def victim_mid_chain() -> bool:
                # a chain of the victim's, past its first steps with more to go (with 20 activity
                # slots per worker every chain runs at once, so "the first completion" could come
                # when the victim had finished all of its chains)
                running = await hub.client.get_status_by(runtime_status=[S.Running])
                return any(
                    hub.storage.partition_of(s.instance_id) in victim_partitions
                    and isinstance(s.custom_status, dict)
                    and 2 <= s.custom_status.get("step", 0) < steps - 2
                    for s in running
                )

            await ws.wait_until(victim_mid_chain, timeout=60, interval=0.1, what="a victim's chain mid-way")
            unfinished = [
                s.instance_id
                for s in await hub.client.get_status_by()
                if s.runtime_status is not S.Completed
                and hub.storage.partition_of(s.instance_id) in victim_partitions
            ]
            os.kill(victim.pid, signal.SIGKILL)
            victim.process.wait(timeout=10)
            assert victim.process.returncode == -signal.SIGKILL
            assert unfinished, "the victim had nothing in flight; the test proves nothing"

            await every_chain_completed_exactly_once(hub, ids, steps, workers=(survivor, victim))

            owners = await ws.lease_owners(hub.storage)
            assert set(owners.values()) == {"survivor"} and len(owners) == 4
        finally:
            ws.stop_worker_process(victim)
            ws.stop_worker_process(survivor)


async def test_paused_worker_that_wakes_up_after_losing_its_leases_corrupts_nothing(
    azurite: str, hub_name: str, tmp_path: Path
) -> None:
    """SIGSTOP one worker until its leases expire and the other takes over, then SIGCONT it: the
    zombie resumes with stale caches and in-flight messages; ETag-guarded writes must keep every
    history exact."""
    steps = 6
    async with ws.task_hub(azurite, hub_name, worker=False) as hub:
        survivor = ws.spawn_worker(hub_name, "survivor", tmp_path, connection=azurite)
        zombie = ws.spawn_worker(hub_name, "zombie", tmp_path, connection=azurite)
        try:
            await ws.wait_ready(survivor)
            await ws.wait_ready(zombie)
            await balanced(hub, [survivor, zombie])

            ids = [f"zombie-{i:02d}" for i in range(24)]
            await asyncio.gather(
                *(hub.client.start_new("SlowChain", i, {"steps": steps, "delay": 0.3}) for i in ids)
            )

            async def some_progress() -> bool:
                return bool(await hub.client.get_status_by(runtime_status=[S.Completed]))

            await ws.wait_until(some_progress, timeout=60, interval=0.2, what="the first completion")
            os.kill(zombie.pid, signal.SIGSTOP)
            try:

                async def taken_over() -> bool:
                    owners = await ws.lease_owners(hub.storage)
                    return len(owners) == 4 and set(owners.values()) == {"survivor"}

                await ws.wait_until(
                    taken_over, timeout=40, interval=0.5, what="the survivor to own every lease"
                )
            finally:
                os.kill(zombie.pid, signal.SIGCONT)

            await every_chain_completed_exactly_once(hub, ids, steps, workers=(survivor, zombie))
            assert zombie.process.poll() is None, "the paused worker should have carried on after SIGCONT"
        finally:
            ws.stop_worker_process(zombie)
            ws.stop_worker_process(survivor)
