"""One worker process for the telemetry tests: the telemetry app, in-memory OpenTelemetry exporters.

    python telemetry_worker.py --hub HUB --connection CONN --out spans.json --name w1

Prints ``READY <pid>`` once started; on SIGTERM stops the worker and writes the spans it exported
(as dicts, see ``telemetry_support.span_dict``) to ``--out``.
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

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import telemetry_support as ts  # noqa: E402

from durable_azure import TaskHubWorker  # noqa: E402
from durable_azure.functions.loader import load_app  # noqa: E402
from durable_azure.telemetry import TelemetryOptions  # noqa: E402


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hub", required=True)
    parser.add_argument("--connection", default="UseDevelopmentStorage=true")
    parser.add_argument("--out", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--settings", default="{}")
    args = parser.parse_args()
    capture = ts.Capture(TelemetryOptions.load(HERE, args.hub), process=args.name)
    app = load_app(HERE).app
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    worker = TaskHubWorker(
        app, args.connection, hub_name=args.hub, worker_id=args.name, **json.loads(args.settings)
    )
    await worker.start()
    print(f"READY {os.getpid()}", flush=True)
    try:
        await stop.wait()
    finally:
        await worker.stop()
        Path(args.out).write_text(json.dumps(capture.span_dicts()), encoding="utf-8")
        capture.close()
        print(f"STOPPED {os.getpid()}", flush=True)


if __name__ == "__main__":
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s", force=True
    )
    logging.getLogger("azure").setLevel(logging.WARNING)  # the SDK logs every request at INFO
    asyncio.run(main())
