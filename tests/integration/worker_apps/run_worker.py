"""Run one TaskHubWorker in this process until SIGTERM/SIGINT (used by the multi-process tests).

    python run_worker.py --app sample_app:app --hub HUB --connection CONN \
        --worker-id w1 --settings '{"lease_duration": 15, ...}'

Prints ``READY <pid>`` on stdout once the worker has started. On SIGTERM it stops cleanly
(releasing its leases); SIGKILL, of course, does not.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import logging
import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from durable_azure import TaskHubWorker


def dump_state(worker: TaskHubWorker) -> None:
    """On SIGUSR1: log what the worker holds (for diagnosing a stuck multi-process test)."""
    log = logging.getLogger("run_worker")
    activities, orchestrations = worker.activities, worker.orchestrations
    log.warning(
        "STATE owned=%s activities: in_flight=%s per_instance=%s running=%s executed=%s local_runs=%s "
        "local_results=%s | orchestrations: loops=%s inboxes=%s episodes=%s cached=%s",
        sorted(worker.partitions.owned),
        getattr(activities, "_in_flight", "?"),
        getattr(activities, "_per_instance", "?"),
        len(getattr(activities, "_running", ())),
        activities.executed,
        getattr(activities, "local_runs", "?"),
        getattr(activities, "local_results", "?"),
        sorted(getattr(orchestrations, "_loops", {})),
        {
            i: len(inbox.messages)
            for i, inbox in getattr(getattr(worker, "_inboxes", None), "_open", {}).items()
        },
        orchestrations.episodes,
        len(orchestrations.cache),
    )
    for task in asyncio.all_tasks():
        log.warning("TASK %s awaiting: %s", task.get_name(), " <- ".join(await_chain(task.get_coro())))


def await_chain(coro: object) -> list[str]:
    """file:line of every coroutine in the chain a task is suspended in (outermost first)."""
    chain = []
    while coro is not None and len(chain) < 40:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
        if frame is not None:
            chain.append(f"{Path(frame.f_code.co_filename).name}:{frame.f_lineno}:{frame.f_code.co_name}")
        nxt = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
        if nxt is None:
            chain.append(type(coro).__name__ + ":" + repr(coro)[:200])
        coro = nxt
    return chain


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--app", required=True, help="module:attribute of the DFApp")
    parser.add_argument("--hub", required=True)
    parser.add_argument("--connection", default="UseDevelopmentStorage=true")
    parser.add_argument("--worker-id", required=True)
    parser.add_argument("--settings", default="{}", help="JSON object of TaskHubWorker settings")
    args = parser.parse_args()

    module_name, _, attribute = args.app.partition(":")
    app = getattr(importlib.import_module(module_name), attribute or "app")
    settings = json.loads(args.settings)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    worker = TaskHubWorker(app, args.connection, hub_name=args.hub, worker_id=args.worker_id, **settings)
    loop.add_signal_handler(signal.SIGUSR1, lambda: dump_state(worker))
    await worker.start()
    print(f"READY {os.getpid()}", flush=True)
    try:
        await stop.wait()
    finally:
        await worker.stop()
        print(f"STOPPED {os.getpid()}", flush=True)


if __name__ == "__main__":
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("azure").setLevel(logging.WARNING)  # the SDK logs every request at INFO
    asyncio.run(main())
