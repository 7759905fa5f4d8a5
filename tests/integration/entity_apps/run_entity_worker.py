"""Run one TaskHubWorker for ``entity_app.app`` until SIGTERM/SIGINT (used by the kill test).

    python run_entity_worker.py --hub HUB --connection CONN --worker-id w1 --settings '{...}'

Prints ``READY <pid>`` once started. On SIGTERM it stops cleanly; SIGKILL, of course, does not.
``--delay-deletes S`` makes every control-queue message delete wait S seconds first (test
instrumentation in this process only), which opens a wide window between an entity batch's
checkpoint and the deletion of its messages, so a kill can land exactly there.
``--stall-checkpoint PREFIX`` makes the history write (the checkpoint) of every instance whose id
starts with PREFIX hang, after the batch's outgoing messages were sent: a kill then lands
between the sends and the checkpoint.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import entity_app

from durable_azure import TaskHubWorker


def delay_deletes(seconds: float) -> None:
    from durable_azure.storage.queues import ReceivedMessage, TaskHubQueue

    original = TaskHubQueue.delete

    async def delete(self: TaskHubQueue, msg: ReceivedMessage) -> bool:
        print(f"DELETE-PENDING {msg.message_id}", flush=True)
        await asyncio.sleep(seconds)
        return await original(self, msg)

    TaskHubQueue.delete = delete  # type: ignore[method-assign]


def stall_checkpoint(prefix: str) -> None:
    from durable_azure.storage.history_table import HistoryTable

    original = HistoryTable.append

    async def append(self: HistoryTable, instance_id: str, *args: Any, **kwargs: Any) -> str:
        if instance_id.startswith(prefix):
            print(f"CHECKPOINT-STALLED {instance_id}", flush=True)
            await asyncio.sleep(3600)
        return await original(self, instance_id, *args, **kwargs)

    HistoryTable.append = append  # type: ignore[method-assign]


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hub", required=True)
    parser.add_argument("--connection", default="UseDevelopmentStorage=true")
    parser.add_argument("--worker-id", required=True)
    parser.add_argument("--settings", default="{}", help="JSON object of TaskHubWorker settings")
    parser.add_argument("--delay-deletes", type=float, default=0.0)
    parser.add_argument("--stall-checkpoint", default="")
    args = parser.parse_args()
    if args.delay_deletes > 0:
        delay_deletes(args.delay_deletes)
    if args.stall_checkpoint:
        stall_checkpoint(args.stall_checkpoint)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    worker = TaskHubWorker(
        entity_app.app,
        args.connection,
        hub_name=args.hub,
        worker_id=args.worker_id,
        **json.loads(args.settings),
    )
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
    asyncio.run(main())
