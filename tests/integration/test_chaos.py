"""Chaos: three worker processes on one hub, repeated ``kill -9`` and a storage restart mid-run.

Nothing lost, nothing looping: every instance (chains, fan-outs, timers, sub-orchestrations,
external events) completes exactly once with the right output — checked three ways by
``exactly_once.check_exactly_once`` (history, status transitions, side-effect log) — and the work
of a killed worker comes back within about the lease time.

The workers run with short lease timings (``worker_support.FAST``: 15 s leases) but the engine's
*default* queue visibility timeouts, as a deployment has them: a message a killed worker had
received stays hidden until its visibility timeout expires, so recovery within ~lease time needs
the engine to hand such work back sooner than that.

Runs on a private Azurite (``private_azurite.py``): it is restarted mid-run.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import exactly_once as eo
import private_azurite as pa
import worker_support as ws

from durable_azure import OrchestrationRuntimeStatus as S
from durable_azure.config import Settings

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]

#: The engine's defaults (what a deployment runs with), not FAST's 10 s.
VISIBILITY = {
    "control_queue_visibility_timeout": Settings().control_queue_visibility_timeout,
    "work_item_visibility_timeout": Settings().work_item_visibility_timeout,
}
#: A killed worker's work must be progressing again this soon (the lease is 15 s).
RECOVERY_BOUND = 45.0
#: Seconds between faults: a 15 s lease expires and is taken over well within this.
FAULT_SPACING = 22.0
#: How long the test waits, after the last fault, for every instance to finish.
FINISH_TIMEOUT = 150.0
OUTAGE_SECONDS = 4.0


def wave(prefix: str) -> list[tuple[str, str, dict[str, Any]]]:
    """One batch of instances: (instance id, orchestrator, input)."""
    batch: list[tuple[str, str, dict[str, Any]]] = []
    batch += [(f"{prefix}-chain{i}", "ChaosChain", {"steps": 6, "delay": 0.5}) for i in range(3)]
    batch += [(f"{prefix}-fan{i}", "ChaosFanOut", {"width": 6, "delay": 0.8}) for i in range(2)]
    batch += [(f"{prefix}-timer{i}", "ChaosTimer", {"seconds": 4, "delay": 0.3}) for i in range(2)]
    batch += [(f"{prefix}-parent{i}", "ChaosParent", {"child_steps": 3, "delay": 0.5}) for i in range(2)]
    batch += [(f"{prefix}-event{i}", "ChaosEvents", {"delay": 0.3}) for i in range(2)]
    return batch


class Chaos:
    """The run's state: workers by slot, expected outputs, faults, recovery measurements."""

    def __init__(self, hub: ws.Hub, storage: pa.PrivateAzurite, tmp_path: Path) -> None:
        self.hub = hub
        self.storage = storage
        self.tmp_path = tmp_path
        self.effects_path = tmp_path / "effects.jsonl"
        self.slots: dict[str, ws.WorkerProcess] = {}
        self.all_workers: list[ws.WorkerProcess] = []
        self.generation: dict[str, int] = {}
        self.expected: dict[str, Any] = {}
        self.faults = eo.Faults()
        self.monitor = eo.StatusMonitor(hub.client)
        self.raisers: list[asyncio.Task[None]] = []
        self.recoveries: list[dict[str, Any]] = []
        self.log: list[str] = []
        self.t0 = time.time()
        self.t_work = self.t0
        #: The slowest instances to recover (described when the bound is missed).
        self.slowest: list[str] = []

    def say(self, text: str) -> None:
        line = f"[{time.time() - self.t0:7.2f}] {text}"
        self.log.append(line)
        print(line, flush=True)

    # ---- workers ---------------------------------------------------------------------
    async def spawn(self, slot: str) -> ws.WorkerProcess:
        self.generation[slot] = self.generation.get(slot, 0) + 1
        worker_id = f"{slot}g{self.generation[slot]}"
        worker = eo.spawn_chaos_worker(
            self.hub.name, worker_id, self.tmp_path, connection=self.storage.connection_string, **VISIBILITY
        )
        self.slots[slot] = worker
        self.all_workers.append(worker)
        await ws.wait_ready(worker)
        self.say(f"spawned {worker_id} (pid {worker.pid})")
        return worker

    async def kill(self, slot: str) -> eo.Kill:
        victim = self.slots[slot]
        owners = await ws.lease_owners(self.hub.storage)
        partitions = sorted(p for p, o in owners.items() if o == victim.worker_id)
        kill = eo.Kill(victim.worker_id, victim.pid, time.time(), partitions)
        os.kill(victim.pid, signal.SIGKILL)  # our own child, by pid
        victim.process.wait(timeout=10)
        assert victim.process.returncode == -signal.SIGKILL
        self.faults.kills.append(kill)
        self.say(f"kill -9 {victim.worker_id} (pid {victim.pid}) holding {partitions}")
        return kill

    # ---- work ------------------------------------------------------------------------
    async def start_wave(self, prefix: str) -> None:
        batch = wave(prefix)
        for n, (instance_id, name, spec) in enumerate(batch):
            event = 100 + n if name == "ChaosEvents" else None
            self.expected[instance_id] = eo.chaos_app.expected_output(name, spec, event)
            if name == "ChaosParent":
                self.expected[f"{instance_id}-child"] = eo.chaos_app.expected_chain(
                    spec["child_steps"], eo.chaos_app.step_value(5)
                )
        await asyncio.gather(*(self.hub.client.start_new(name, iid, spec) for iid, name, spec in batch))
        for n, (instance_id, name, _) in enumerate(batch):
            if name == "ChaosEvents":
                self.raisers.append(asyncio.create_task(self.raise_go(instance_id, 100 + n)))
        self.say(f"started wave {prefix}: {len(batch)} instances")

    async def raise_go(self, instance_id: str, value: int) -> None:
        """Raise "go" a second after the start; retried while storage is down."""
        await asyncio.sleep(1.0)
        deadline = time.monotonic() + 90
        while True:
            try:
                await asyncio.wait_for(self.hub.client.raise_event(instance_id, "go", value), timeout=10)
                return
            except Exception as error:
                if time.monotonic() > deadline:
                    self.say(f"could not raise go on {instance_id}: {error!r}")
                    return
                await asyncio.sleep(0.5)

    def partition_of(self, instance_id: str) -> str:
        return f"{self.hub.name}-control-{self.hub.storage.partition_of(instance_id):02d}"

    def in_flight_on(self, pid: int) -> set[str]:
        """Instances with an activity that ``pid`` started and had not finished."""
        started: dict[tuple[str, str], int] = {}
        for line in eo.read_effects(self.effects_path):
            if line["pid"] != pid:
                continue
            key = (line["instance"], line.get("task", ""))
            if line["kind"] == "activity":
                started[key] = started.get(key, 0) + 1
            elif line["kind"] == "activity-done":
                started[key] = started.get(key, 0) - 1
        return {iid for (iid, _), n in started.items() if n > 0}

    async def victim_has_work(self, slot: str) -> bool:
        """The worker in ``slot`` holds a partition with unfinished instances and runs an activity."""
        worker = self.slots[slot]
        await self.monitor.poll()
        owners = await ws.lease_owners(self.hub.storage)
        held = {p for p, o in owners.items() if o == worker.worker_id}
        busy = {i for i in self.monitor.unfinished() if self.partition_of(i) in held}
        return bool(busy) and bool(self.in_flight_on(worker.pid))

    # ---- faults ----------------------------------------------------------------------
    async def kill_and_respawn(self, slot: str) -> None:
        try:
            await ws.wait_until(
                lambda: self.victim_has_work(slot), timeout=8, interval=0.3, what=f"{slot} to be busy"
            )
        except AssertionError:
            self.say(f"{slot} has no partition with work in flight; killing it anyway")
        await self.monitor.poll()
        unfinished = self.monitor.unfinished()
        victim = self.slots[slot]
        in_flight = self.in_flight_on(victim.pid)
        kill = await self.kill(slot)
        affected = {i for i in unfinished if self.partition_of(i) in kill.partitions} | (
            in_flight & unfinished
        )
        await self.spawn(slot)
        await self.measure(f"kill -9 {kill.worker_id}", kill.t, affected)

    async def storage_outage(self) -> None:
        await self.monitor.poll()
        unfinished = self.monitor.unfinished()
        down = await self.storage.stop(signal.SIGTERM)
        self.say(f"Azurite stopped with SIGTERM; {len(unfinished)} instances unfinished")
        await asyncio.sleep(OUTAGE_SECONDS)  # the outage itself
        await self.storage.start()
        up = time.time()
        self.faults.outages.append((down, up))
        self.say(f"Azurite restarted on the same data after {up - down:.1f} s")
        await self.measure("storage restart", up, unfinished, bound=None)

    async def measure(
        self, what: str, t: float, affected: set[str], bound: float | None = RECOVERY_BOUND
    ) -> None:
        """Note which unfinished instances a fault at ``t`` affected (not those still stalled by an
        earlier fault); their progress, in the effects log, tells at the end how long each stalled."""
        effects = self.by_instance()
        stalled = {
            i
            for earlier in self.recoveries
            for i in earlier["affected"]
            if not any(earlier["t"] < ln["t"] <= t for ln in effects.get(i, []))
        }
        self.recoveries.append({"what": what, "t": t, "affected": sorted(affected - stalled), "bound": bound})
        self.say(
            f"{what}: {len(affected - stalled)} unfinished instance(s) affected"
            + (
                f" ({len(affected & stalled)} more still stalled by an earlier fault)"
                if affected & stalled
                else ""
            )
        )

    async def until(self, offset: float) -> None:
        """Let the run go on until ``offset`` seconds after the first wave (the fault schedule)."""
        await asyncio.sleep(max(0.0, self.t_work + offset - time.time()))

    def by_instance(self) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = {}
        for line in eo.read_effects(self.effects_path):
            out.setdefault(line["instance"], []).append(line)
        return out

    def completion_times(self) -> dict[str, float | None]:
        """When each instance was first seen Completed (its row's last update), or None."""
        out: dict[str, float | None] = {}
        for instance_id, seen in self.monitor.seen.items():
            done = next((o for o in seen if o.status is S.Completed), None)
            out[instance_id] = done.last_updated if done is not None else None
        return out

    def recovery_report(self) -> tuple[list[str], list[str]]:
        """(summary lines, problems): for each fault, how long its affected instances stalled.

        An instance's stall after a fault is the longest it went without visible progress (an
        activity or orchestrator line in the effects log, or its completion), counting the gaps
        from the fault on until the next fault that affected the same instance. Every instance
        here is always busy (activities of <= 0.8 s, timers of 4 s, events raised a second after
        the start), so a long gap is work that sat somewhere unseen."""
        effects = self.by_instance()
        ends = self.completion_times()
        affecting: dict[str, list[float]] = {}
        for record in self.recoveries:
            for instance_id in record["affected"]:
                affecting.setdefault(instance_id, []).append(record["t"])
        lines, problems = [], []
        for record in self.recoveries:
            t = record["t"]
            first: dict[str, float] = {}
            stall: dict[str, float] = {}
            for instance_id in record["affected"]:
                end = ends.get(instance_id)
                progress = eo.progress_points(effects.get(instance_id, []), end)
                faults = sorted(affecting[instance_id])
                points = sorted({*progress, *faults})
                owned = [
                    b - a
                    for a, b in itertools.pairwise(points)
                    if max((f for f in faults if f <= a), default=None) == t
                ]
                later = [p for p in progress if p > t]
                if later:
                    first[instance_id] = later[0] - t
                stall[instance_id] = max(owned, default=0.0) if end is not None else float("inf")
            head = f"{record['what']} at +{t - self.t0:.1f} s"
            if not record["affected"]:
                lines.append(f"{head}: no unfinished work affected")
                continue
            worst = sorted(stall.items(), key=lambda kv: -kv[1])[:4]
            lines.append(
                f"{head}: {len(record['affected'])} instance(s) affected; first progress after "
                f"{min(first.values(), default=float('nan')):.1f} s; longest stall "
                f"{max(stall.values()):.1f} s (worst: {[(i, round(d, 1)) for i, d in worst]})"
            )
            if record["bound"] is not None:
                slow = {i: round(d, 1) for i, d in stall.items() if d > record["bound"]}
                if slow:
                    self.slowest += [i for i, _ in worst if i in slow][:2]
                    problems.append(
                        f"{record['what']}: the dead worker's work was not progressing again within "
                        f"{record['bound']:.0f} s: {slow} (seconds without progress)"
                    )
        return lines, problems


async def test_chaos_kill_9_and_storage_restart_every_instance_completes_exactly_once(
    hub_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with pa.running(tmp_path / "azurite") as storage, pa.private_hub(storage, hub_name) as hub:
        chaos = Chaos(hub, storage, tmp_path)
        monkeypatch.setenv(eo.EFFECTS_ENV, str(chaos.effects_path))
        problems: list[str] = []
        notes: list[str] = []
        try:
            for slot in ("w1", "w2", "w3"):
                await chaos.spawn(slot)

            async def all_leased() -> bool:
                return len(await ws.lease_owners(hub.storage)) == 4

            await ws.wait_until(all_leased, timeout=40, interval=0.5, what="every partition to be leased")
            chaos.monitor.start()

            # each fault hits a fresh wave of work (and whatever earlier waves left unfinished)
            chaos.t_work = time.time()
            await chaos.start_wave("a")
            await chaos.kill_and_respawn("w1")
            await chaos.until(FAULT_SPACING)
            await chaos.start_wave("b")
            await chaos.kill_and_respawn("w2")
            await chaos.until(2 * FAULT_SPACING)
            await chaos.start_wave("c")
            await asyncio.sleep(2.0)  # let wave c get going before storage goes away
            await chaos.storage_outage()
            await chaos.until(3 * FAULT_SPACING)
            await chaos.start_wave("d")
            await chaos.kill_and_respawn("w3")

            ids = sorted(chaos.expected)
            chaos.say(f"waiting for all {len(ids)} instances")
            try:
                await eo.all_completed(hub, ids, timeout=FINISH_TIMEOUT, workers=tuple(chaos.all_workers))
            except AssertionError as stuck:
                problems.append(f"not every instance finished: {stuck}")
            chaos.say("all finished" if not problems else "some instances never finished")
            await asyncio.gather(*chaos.raisers)
            await chaos.monitor.poll()

            effects = eo.read_effects(chaos.effects_path)
            found, notes = await eo.check_exactly_once(
                hub, chaos.expected, effects, chaos.faults, chaos.monitor
            )
            problems += found
            summary, slow = chaos.recovery_report()
            problems += slow
            report = "\n".join(
                [
                    "---- timeline",
                    *chaos.log,
                    "---- recovery",
                    *summary,
                    f"---- tolerated ({len(notes)})",
                    *notes,
                    f"---- status monitor: {chaos.monitor.polls} polls, {chaos.monitor.failed_polls} failed",
                ]
            )
            print(report)
            if problems:
                bad = eo.problem_instances(problems, set(chaos.expected))
                bad += [i for i in dict.fromkeys(chaos.slowest) if i not in bad]
                details = [
                    await eo.describe_instance(hub, i, effects, chaos.t0, chaos.monitor) for i in bad[:14]
                ]
                pytest.fail(
                    f"{len(problems)} problem(s):\n"
                    + "\n".join(problems)
                    + f"\n{report}\n---- instances\n"
                    + "\n".join(details)
                    + f"\n---- queues\n{await eo.stuck_report(hub, ids)}\n"
                    + eo.worker_logs(*chaos.all_workers),
                    pytrace=False,
                )
        finally:
            await chaos.monitor.stop()
            for task in chaos.raisers:
                task.cancel()
            for worker in chaos.all_workers:
                ws.stop_worker_process(worker)
