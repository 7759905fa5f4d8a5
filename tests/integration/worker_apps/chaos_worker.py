"""``run_worker.py`` for ``chaos_app:app``.

``worker_support.spawn_worker`` always passes ``--app sample_app:app``; the fault tests spawn
workers through it with this file as the runner (see ``exactly_once.spawn_chaos_worker``), and
this swaps the app for ``chaos_app:app`` and runs ``run_worker.py`` unchanged (same arguments,
``READY <pid>`` line, logging, SIGTERM/SIGUSR1 handling). SIGUSR2 logs every asyncio task's
await chain (for a test to see where a worker's loops wait).
"""

from __future__ import annotations

import asyncio
import logging
import runpy
import signal
import sys
from pathlib import Path
from types import FrameType

HERE = Path(__file__).resolve().parent
APP = "chaos_app:app"
sys.path.insert(0, str(HERE))

from run_worker import await_chain  # noqa: E402


def dump_tasks(signum: int, frame: FrameType | None) -> None:
    """On SIGUSR2: log where every asyncio task waits (``TASK <name> awaiting: ...``).

    Unlike run_worker.py's SIGUSR1 dump it reads no engine internals, so it keeps working while
    the engine changes."""
    log = logging.getLogger("chaos_worker")
    try:
        loop = asyncio.get_event_loop()  # the running loop: signal handlers run in the main thread
        for task in asyncio.all_tasks(loop):
            log.warning("TASK %s awaiting: %s", task.get_name(), " <- ".join(await_chain(task.get_coro())))
    except Exception:
        log.exception("could not dump the asyncio tasks")


def swap_app(argv: list[str]) -> list[str]:
    out = list(argv)
    for i, arg in enumerate(out):
        if arg == "--app" and i + 1 < len(out):
            out[i + 1] = APP
        elif arg.startswith("--app="):
            out[i] = f"--app={APP}"
    if "--app" not in out and not any(a.startswith("--app=") for a in out):
        out += ["--app", APP]
    return out


if __name__ == "__main__":
    signal.signal(signal.SIGUSR2, dump_tasks)
    sys.argv = [str(HERE / "run_worker.py"), *swap_app(sys.argv[1:])]
    runpy.run_path(str(HERE / "run_worker.py"), run_name="__main__")
