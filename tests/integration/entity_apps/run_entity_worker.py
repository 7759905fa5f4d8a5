"""Run one TaskHubWorker for ``entity_app.app`` until SIGTERM/SIGINT (used by the kill test).

    python run_entity_worker.py --hub HUB --connection CONN --worker-id w1 --settings '{...}'

Prints ``READY <pid>`` once started. On SIGTERM it stops cleanly; SIGKILL, of course, does not.
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

sys.path.insert(0, str(Path(__file__).resolve().parent))

import entity_app

from durable_azure import TaskHubWorker


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hub", required=True)
    parser.add_argument("--connection", default="UseDevelopmentStorage=true")
    parser.add_argument("--worker-id", required=True)
    parser.add_argument("--settings", default="{}", help="JSON object of TaskHubWorker settings")
    args = parser.parse_args()

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
