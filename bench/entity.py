"""Entity benchmark: N signals (default 1,000) to one counter entity on Azurite.

    .venv/bin/python bench/entity.py [--signals 1000] [--concurrency 50] [--set key=value ...]

On a fresh, uniquely named task hub (deleted afterwards):

1. **enqueue**: a DurableOrchestrationClient sends the N ``add`` signals concurrently
   (``--concurrency`` sends in flight) before any worker runs. Its storage requests are counted
   on their own (``client``), with its wall time and CPU seconds.
2. **process**: a TaskHubWorker (with a RequestCounter of its own) starts and applies them. The
   run ends when the counter's checkpointed state (read by an *observer* client every
   ``--poll`` seconds, not counted) holds N. Two rates are reported:

   * ``end_to_end_ops_per_s``: N / (worker start -> state holds N); includes hub checks and
     partition lease acquisition at start-up.
   * ``processing_ops_per_s``: operations after the first batch / (first batch applied in memory ->
     state holds N): the steady rate of receive + batch + checkpoint + delete, without start-up.

   The end is found cheaply: an in-process wait for the worker's operation counter to reach N,
   then observer reads every ``--poll`` seconds until the checkpoint holds N (up to one poll
   interval late, so pessimistic).

Storage requests of the worker are reported in total and per operation, by operation name
(every request it made from start to the end: queue receives of all partitions, lease renewals,
history/instances writes and message deletes). ``enqueue_plus_process_ops_per_s`` is N over both
phases. Prints ONE JSON line on stdout; progress goes to stderr. The target (>= 640 operations/s)
is reported as met or not, never enforced or tuned for.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import sys
import time
import uuid
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import durable_azure as df
from bench._instrument import find_azurite_pid, process_cpu_seconds, system_busy_seconds
from durable_azure.storage.clients import RequestCounter
from durable_azure.storage.taskhub import TaskHubStorage

log = logging.getLogger("bench.entity")

CONNECTION = os.environ.get("AzureWebJobsStorage", "UseDevelopmentStorage=true")  # noqa: SIM112
TARGET_OPS_PER_S = 640

app = df.DFApp()


@app.entity_trigger(context_name="context")
def Counter(context: df.DurableEntityContext) -> None:
    state = context.get_state(lambda: 0)
    if context.operation_name == "add":
        context.set_state(state + context.get_input())
    elif context.operation_name == "reset":
        context.set_state(0)
    context.set_result(state)


def per_op(counts: dict[str, int], operations: int) -> dict[str, float]:
    return {name: round(n / operations, 3) for name, n in sorted(counts.items())}


def parse_sets(values: list[str]) -> dict[str, Any]:
    settings: dict[str, Any] = {}
    for item in values:
        key, _, raw = item.partition("=")
        try:
            settings[key] = json.loads(raw)
        except ValueError:
            settings[key] = raw
    return settings


async def enqueue(
    client: df.DurableOrchestrationClient, entity: df.EntityId, n: int, concurrency: int
) -> None:
    gate = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with gate:
            await client.signal_entity(entity, "add", 1)

    await asyncio.gather(*(one() for _ in range(n)))


async def run(args: argparse.Namespace) -> dict[str, Any]:
    hub = "bentity" + uuid.uuid4().hex[:12]
    entity = df.EntityId("Counter", "bench")
    settings = parse_sets(args.set)
    observer = df.DurableOrchestrationClient(TaskHubStorage(CONNECTION, hub))
    client_counter = RequestCounter()
    client_storage = TaskHubStorage(CONNECTION, hub, counter=client_counter)
    client = df.DurableOrchestrationClient(client_storage)
    worker: df.TaskHubWorker | None = None
    try:
        await observer.storage.create_if_not_exists()  # hub creation is not part of either phase
        await client_storage.create_if_not_exists()  # (resources exist: only cheap create calls)
        client_counter.reset()

        log.info("enqueueing %d signals on hub %s", args.signals, hub)
        cpu0, t0 = time.process_time(), time.perf_counter()
        await enqueue(client, entity, args.signals, args.concurrency)
        enqueue_s = time.perf_counter() - t0
        client_cpu_s = time.process_time() - cpu0
        client_requests = client_counter.snapshot()

        worker_counter = RequestCounter()
        worker = df.TaskHubWorker(app, CONNECTION, hub_name=hub, counter=worker_counter, **settings)
        first_batch: dict[str, float] = {}

        async def watch_first_batch() -> None:
            assert worker is not None
            while worker.entities.batches == 0:
                await asyncio.sleep(0.001)
            first_batch["t"] = time.perf_counter()
            first_batch["ops"] = worker.entities.operations

        log.info("starting the worker")
        azurite_pid = find_azurite_pid()
        azurite0, busy0 = process_cpu_seconds(azurite_pid), system_busy_seconds()
        cpu1, start = time.process_time(), time.perf_counter()
        watcher = asyncio.create_task(watch_first_batch())
        await worker.start()
        started = time.perf_counter()
        # cheap in-process wait until the last operation is applied in memory, then poll storage
        # until its checkpoint is readable (so the observer costs almost no CPU during the run)
        while worker.entities.operations < args.signals:
            if time.perf_counter() - start > args.timeout:
                raise TimeoutError(f"{worker.entities.operations} operations after {args.timeout} s")
            await asyncio.sleep(0.005)
        while True:
            state = await observer.read_entity_state(entity)
            if state.entity_exists and state.entity_state >= args.signals:
                break
            if time.perf_counter() - start > args.timeout:
                raise TimeoutError(f"counter at {state.entity_state} after {args.timeout} s")
            await asyncio.sleep(args.poll)
        done = time.perf_counter()
        worker_cpu_s = time.process_time() - cpu1  # worker + observer polls (the observer is cheap)
        azurite1, busy1 = process_cpu_seconds(azurite_pid), system_busy_seconds()
        azurite_cpu_s = None if azurite0 is None or azurite1 is None else azurite1 - azurite0
        others_cpu_s = (
            None
            if busy0 is None or busy1 is None or azurite_cpu_s is None
            else max(0.0, busy1 - busy0 - worker_cpu_s - azurite_cpu_s)
        )
        worker_requests = worker_counter.snapshot()
        await watcher
        final = (await observer.read_entity_state(entity)).entity_state

        end_to_end_s = done - start
        processing_s = done - first_batch["t"]
        processed_after_first = args.signals - int(first_batch["ops"])
        worker_total = sum(worker_requests.values())
        processing_rate = processed_after_first / processing_s if processing_s > 0 else None
        return {
            "bench": "entity",
            "signals": args.signals,
            "final_state": final,
            "exact": final == args.signals,
            "hub": hub,
            "settings": {
                "partition_count": worker.settings.partition_count,
                "control_queue_batch_size": worker.settings.control_queue_batch_size,
                "max_queue_polling_interval": worker.settings.max_queue_polling_interval,
                **settings,
            },
            "enqueue": {
                "concurrency": args.concurrency,
                "seconds": round(enqueue_s, 3),
                "signals_per_s": round(args.signals / enqueue_s, 1),
                "client_cpu_s": round(client_cpu_s, 3),
                "requests": client_requests,
                "requests_per_signal": round(sum(client_requests.values()) / args.signals, 3),
            },
            "worker": {
                "start_seconds": round(started - start, 3),
                "first_batch_after_start_s": round(first_batch["t"] - start, 3),
                "first_batch_operations": int(first_batch["ops"]),
                "end_to_end_seconds": round(end_to_end_s, 3),
                "processing_seconds": round(processing_s, 3),
                "batches": worker.entities.batches,
                "operations": worker.entities.operations,
                "operations_per_batch": round(worker.entities.operations / worker.entities.batches, 2),
                "cpu_s": round(worker_cpu_s, 3),
                "cpu_ms_per_request": round(1000 * worker_cpu_s / worker_total, 3),
                # Azurite's CPU and that of every other process on the machine in the same window
                # (other jobs on a shared machine show up there).
                "azurite_cpu_s": None if azurite_cpu_s is None else round(azurite_cpu_s, 3),
                "other_processes_cpu_s": None if others_cpu_s is None else round(others_cpu_s, 3),
                "requests_total": worker_total,
                "requests_per_operation": round(worker_total / args.signals, 3),
                "requests_per_operation_by_name": per_op(worker_requests, args.signals),
                "requests": worker_requests,
            },
            "end_to_end_ops_per_s": round(args.signals / end_to_end_s, 1),
            "processing_ops_per_s": round(processing_rate, 1) if processing_rate else None,
            "enqueue_plus_process_ops_per_s": round(args.signals / (enqueue_s + end_to_end_s), 1),
            "observer_poll_s": args.poll,
            "target_ops_per_s": TARGET_OPS_PER_S,
            "target_met_end_to_end": args.signals / end_to_end_s >= TARGET_OPS_PER_S,
            "target_met_processing": bool(processing_rate and processing_rate >= TARGET_OPS_PER_S),
            "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        }
    finally:
        if worker is not None:
            await worker.stop()
        await client.close()
        try:
            await observer.storage.delete()
        finally:
            await observer.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--signals", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=50, help="signals in flight while enqueueing")
    parser.add_argument("--poll", type=float, default=0.005, help="observer poll interval at the end (s)")
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="worker setting")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(asctime)s %(name)s: %(message)s")
    log.setLevel(logging.INFO)
    print(json.dumps(asyncio.run(run(args))), flush=True)


if __name__ == "__main__":
    main()
