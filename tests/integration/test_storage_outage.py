"""Storage outage: Azurite stops (SIGTERM) mid-run and comes back on the same data.

Fifty short chains run on two worker processes against a private Azurite (``private_azurite.py``;
the shared one is never touched). Mid-run storage goes away for a few seconds and returns. Then:

* every orchestration completes exactly once with the right output, checked three ways by
  ``exactly_once.check_exactly_once`` (history, status transitions, side-effect log);
* the worker log shows the outage and the recovery: a WARNING (or ERROR) naming storage as
  unreachable while it is down, e.g. ``storage unreachable (queue receive on ...: connection
  refused); retrying``, and an INFO line once it answers again, e.g. ``storage reachable again
  after 6.1 s`` (see ``OUTAGE_LINE`` / ``RECOVERY_LINE``);
* new work — an orchestration started right after storage returns — starts (its body runs)
  within 5 s of storage returning.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import exactly_once as eo
import private_azurite as pa
import worker_support as ws

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

INSTANCES = 50
CHAIN = {"steps": 5, "delay": 0.3}
OUTAGE_SECONDS = 5.0
#: New work must start this soon after storage answers again.
NEW_WORK_BOUND = 5.0
FINISH_TIMEOUT = 120.0

#: While storage is down: a WARNING/ERROR that names storage as unreachable.
OUTAGE_LINE = re.compile(
    r"storage\b.*\b(unreachable|unavailable|not reachable|cannot reach|could not reach|is down)", re.I
)
#: Once it is back: a line that says so.
RECOVERY_LINE = re.compile(
    r"storage\b.*\b(reachable again|available again|is back|back up|recovered|restored)", re.I
)
_LOG_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3}) (\d+) ([A-Z]+) ([\w.]+): (.*)$")


@dataclass
class LogLine:
    t: float
    worker: str
    level: str
    logger: str
    message: str

    def __str__(self) -> str:
        lines = self.message.splitlines()
        text = lines[0][:200] + (
            f" [{len(lines) - 1} traceback lines, ending: {lines[-1][:200]}]" if len(lines) > 1 else ""
        )
        return f"{self.worker} {self.level} {self.logger}: {text}"


def parse_log(worker: ws.WorkerProcess) -> list[LogLine]:
    """The worker's log records (run_worker.py's format; asctime is local time), tracebacks folded
    into the record they follow."""
    records: list[LogLine] = []
    for text in worker.log().splitlines():
        match = _LOG_LINE.match(text)
        if match:
            stamp, millis, _, level, logger, message = match.groups()
            t = time.mktime(time.strptime(stamp, "%Y-%m-%d %H:%M:%S")) + int(millis) / 1000
            records.append(LogLine(t, worker.worker_id, level, logger, message))
        elif records and text.strip():
            records[-1].message += "\n" + text
    return records


async def test_storage_outage_every_orchestration_completes_exactly_once_and_work_resumes(
    hub_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    effects_path = tmp_path / "effects.jsonl"
    monkeypatch.setenv(eo.EFFECTS_ENV, str(effects_path))
    async with pa.running(tmp_path / "azurite") as storage, pa.private_hub(storage, hub_name) as hub:
        t0 = time.time()
        timeline: list[str] = []

        def say(text: str) -> None:
            timeline.append(f"[{time.time() - t0:7.2f}] {text}")
            print(timeline[-1], flush=True)

        workers = [
            eo.spawn_chaos_worker(hub_name, w, tmp_path, connection=storage.connection_string)
            for w in ("w1", "w2")
        ]
        monitor = eo.StatusMonitor(hub.client)
        faults = eo.Faults()
        problems: list[str] = []
        try:
            for worker in workers:
                await ws.wait_ready(worker)

            async def all_leased() -> bool:
                return len(await ws.lease_owners(hub.storage)) == 4

            await ws.wait_until(all_leased, timeout=40, interval=0.5, what="every partition to be leased")
            monitor.start()

            ids = [f"chain-{i:02d}" for i in range(INSTANCES)]
            expected: dict[str, Any] = dict.fromkeys(ids, eo.chaos_app.expected_output("ChaosChain", CHAIN))
            await asyncio.gather(*(hub.client.start_new("ChaosChain", i, CHAIN) for i in ids))
            say(f"started {INSTANCES} chains of {CHAIN['steps']} steps")

            async def some_completed() -> bool:
                await monitor.poll()
                return len(monitor.completed()) >= 5

            await ws.wait_until(some_completed, timeout=60, interval=0.2, what="the first completions")
            done_before = monitor.completed()
            assert len(done_before) < INSTANCES, (
                "every chain finished before the outage: the test proves nothing"
            )

            down = await storage.stop(signal.SIGTERM)
            say(f"Azurite stopped (SIGTERM); {len(done_before)} of {INSTANCES} chains completed")
            await asyncio.sleep(OUTAGE_SECONDS)  # the outage itself
            await storage.start()
            up = time.time()
            faults.outages.append((down, up))
            say(f"Azurite back on the same data after {up - down:.1f} s")

            new_id = "after-outage"
            new_spec = {"steps": 1, "delay": 0.1}
            expected[new_id] = eo.chaos_app.expected_output("ChaosChain", new_spec)
            await hub.client.start_new("ChaosChain", new_id, new_spec)
            partition = f"{hub_name}-control-{hub.storage.partition_of(new_id):02d}"
            owner = (await ws.lease_owners(hub.storage)).get(partition)
            say(f"started {new_id} (on {partition}, leased by {owner})")

            async def new_work_started() -> dict[str, Any] | None:
                return next(
                    (
                        ln
                        for ln in eo.read_effects(effects_path)
                        if ln["instance"] == new_id and ln["kind"] == "orchestrator-start"
                    ),
                    None,
                )

            dumped = False
            try:
                started = await ws.wait_until(
                    new_work_started, timeout=NEW_WORK_BOUND + up - time.time(), interval=0.1, what="new work"
                )
            except AssertionError:
                # late: ask every worker where its tasks wait (chaos_worker.py logs them on SIGUSR2)
                for worker in workers:
                    if worker.process.poll() is None:
                        os.kill(worker.pid, signal.SIGUSR2)  # our own child, by pid
                dumped = True
                started = await ws.wait_until(
                    new_work_started, timeout=FINISH_TIMEOUT, interval=0.1, what=f"{new_id} to start"
                )
            new_work_delay = started["t"] - up
            say(f"{new_id} started {new_work_delay:.1f} s after storage returned")

            all_ids = [*ids, new_id]
            try:
                await eo.all_completed(hub, all_ids, timeout=FINISH_TIMEOUT, workers=tuple(workers))
            except AssertionError as stuck:
                problems.append(f"not every orchestration finished: {stuck}")
            say("all finished" if not problems else "some never finished")
            await monitor.poll()

            effects = eo.read_effects(effects_path)
            found, notes = await eo.check_exactly_once(hub, expected, effects, faults, monitor)
            problems += found
            for worker in workers:
                after = [ln["t"] - up for ln in effects if ln["t"] > up and ln["pid"] == worker.pid]
                say(
                    f"{worker.worker_id} (pid {worker.pid}): first activity or episode "
                    + (
                        f"{min(after):.1f} s after storage returned"
                        if after
                        else "never, after storage returned"
                    )
                )

            records = sorted((r for w in workers for r in parse_log(w)), key=lambda r: r.t)
            if new_work_delay > NEW_WORK_BOUND:
                leases = "\n".join(
                    f"  +{r.t - t0:7.2f} {r}"
                    for r in sorted(records, key=lambda r: r.t)
                    if r.t >= down - 1 and partition in r.message
                )
                loop = f"control-queue-{hub.storage.partition_of(new_id):02d}"
                dump = [
                    r
                    for r in records
                    if dumped and r.logger == "chaos_worker" and (owner is None or r.worker == owner)
                ]
                # the partition loop first, then the tasks it may be waiting for
                dump.sort(key=lambda r: f"TASK {loop} " not in r.message)
                stacks = "\n".join(
                    f"  {r.worker}: {r.message if len(r.message) < 500 else r.message[:200] + ' <- … <- ' + r.message[-300:]}"
                    for r in dump[:40]
                )
                problems.append(
                    f"new work started {new_work_delay:.1f} s after storage returned (bound "
                    f"{NEW_WORK_BOUND:.0f} s); {new_id} is on {partition}, leased by {owner} when it was "
                    f"started; the lease lines about it since the outage:\n{leases or '  (none)'}\n"
                    f"where {owner or 'the workers'}'s tasks ({loop} first) waited {NEW_WORK_BOUND:.0f} s "
                    f"after storage returned (SIGUSR2 dump):\n{stacks or '  (no dump)'}"
                )

            window = [r for r in records if down - 1 <= r.t <= up + 30]
            outage = [
                r
                for r in window
                if r.level in ("WARNING", "ERROR", "CRITICAL") and OUTAGE_LINE.search(r.message)
            ]
            recovered = [
                r
                for r in records
                if r.t >= up - 1 and r.level in ("INFO", "WARNING") and RECOVERY_LINE.search(r.message)
            ]
            seen = "\n".join(
                f"  +{r.t - t0:7.2f} {r}"
                for r in window
                if r.level != "INFO" or "storage" in r.message.lower()
            )
            infos = sum(1 for r in window if r.level == "INFO" and "storage" not in r.message.lower())
            seen = f"{seen or '  (no warnings)'}\n  (+ {infos} other INFO lines)"
            if not outage:
                problems.append(
                    "the worker logs do not show the outage: no WARNING/ERROR naming storage as unreachable "
                    f"between it going down and 30 s after it returned; they logged:\n{seen}"
                )
            if not recovered:
                problems.append(
                    "the worker logs do not show the recovery: no line saying storage is reachable again "
                    f"after it returned; they logged (outage window):\n{seen}"
                )

            report = "\n".join(
                [
                    "---- timeline",
                    *timeline,
                    f"---- tolerated ({len(notes)})",
                    *notes,
                    f"---- status monitor: {monitor.polls} polls, {monitor.failed_polls} failed",
                ]
            )
            print(report)
            if problems:
                bad = eo.problem_instances(problems, set(expected))
                details = [await eo.describe_instance(hub, i, effects, t0, monitor) for i in bad[:12]]
                pytest.fail(
                    f"{len(problems)} problem(s):\n"
                    + "\n".join(problems)
                    + f"\n{report}\n---- instances\n"
                    + "\n".join(details)
                    + f"\n---- queues\n{await eo.stuck_report(hub, all_ids)}\n"
                    + eo.worker_logs(*workers),
                    pytrace=False,
                )
        finally:
            await monitor.stop()
            for worker in workers:
                ws.stop_worker_process(worker)
