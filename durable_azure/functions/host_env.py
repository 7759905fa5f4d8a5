"""Where this process runs, and how it is told to stop: the Functions host's environment and exit hooks.

The Azure Functions Python worker imports ``function_app.py`` to index it, in every worker process
of every instance (``docs/hosting.md`` gives the sources). :func:`in_functions_host` tells such a
process from one that merely imports the app (``durable-azure serve``, a test, a build step):

* ``DURABLE_AZURE_START_ENGINE`` set to ``1``/``true`` or ``0``/``false`` decides outright;
* otherwise: the module is being loaded by the Functions Python worker (its package,
  ``azure_functions_worker``, ``azure_functions_runtime`` or ``proxy_worker``, is imported — nothing
  else imports those), and ``FUNCTIONS_WORKER_RUNTIME``, when the host passes it, is ``python``.

:func:`install_exit_hooks` makes ``stop`` run when the process ends:

* at interpreter exit, through ``threading``'s own exit hooks, which run *before* those of
  ``concurrent.futures`` (plain ``atexit`` runs after them, when no executor takes work any more, so
  releasing leases failed with "cannot schedule new futures after interpreter shutdown");
* on SIGTERM (only when called from the main thread): ``stop`` runs in a helper thread, then the
  signal's previous disposition applies (by default the process ends with SIGTERM).

SIGKILL cannot be caught: a killed process's partitions move when their leases expire.
"""

from __future__ import annotations

import concurrent.futures.thread  # noqa: F401  (registered first, so our exit hook runs before its)
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

log = logging.getLogger("durable_azure.hosting")

#: App setting: start the engine when the app is loaded (``1``), never (``0``), or detect (unset).
START_ENGINE_SETTING = "DURABLE_AZURE_START_ENGINE"
#: The packages of the Functions Python worker (classic, library and proxy forms).
WORKER_MODULES = ("azure_functions_worker", "azure_functions_runtime", "proxy_worker")

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def in_functions_host(environ: dict[str, str] | None = None) -> bool:
    """Whether this process is a Functions host's Python worker (see the module docstring)."""
    env = os.environ if environ is None else environ
    forced = env.get(START_ENGINE_SETTING, "").strip().lower()
    if forced in _TRUE:
        return True
    if forced in _FALSE:
        return False
    if env.get("FUNCTIONS_WORKER_RUNTIME", "python").strip().lower() != "python":
        return False
    return any(name in sys.modules for name in WORKER_MODULES)


def check_queue_settings(host_json: dict[str, Any], max_dequeue_count: int) -> list[str]:
    """Problems with ``host.json`` ``extensions.queues`` for the work-item trigger (empty: none)."""
    queues = (host_json.get("extensions") or {}).get("queues") or {}
    problems = []
    encoding = str(queues.get("messageEncoding", "base64")).lower()
    if encoding != "none":
        problems.append(
            f'extensions.queues.messageEncoding is "{encoding}": set it to "none" (task hub messages '
            "are plain JSON); the host cannot decode work items otherwise"
        )
    host_max = int(queues.get("maxDequeueCount", 5))
    if host_max <= max_dequeue_count:
        problems.append(
            f"extensions.queues.maxDequeueCount is {host_max}: set it above durableTask's "
            f"maxDequeueCount ({max_dequeue_count}), or work items that keep failing go to the host's "
            "poison queue instead of durable-azure's poison store"
        )
    return problems


def install_exit_hooks(stop: Callable[[], None], *, handle_sigterm: bool) -> None:
    """Run ``stop`` at interpreter exit and (``handle_sigterm``, main thread only) on SIGTERM."""
    register = getattr(threading, "_register_atexit", None)
    try:
        if register is not None:
            register(stop)  # runs before concurrent.futures shuts its executors down
        else:  # pragma: no cover - every supported CPython has it
            import atexit

            atexit.register(stop)
    except RuntimeError:  # the interpreter is already shutting down
        pass
    if handle_sigterm and threading.current_thread() is threading.main_thread():
        _chain_sigterm(stop)


def _chain_sigterm(stop: Callable[[], None]) -> None:
    previous = signal.getsignal(signal.SIGTERM)

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        if callable(previous):
            # Someone else handles SIGTERM (their handler decides whether the process ends): stop
            # here, in the main thread, before calling it.
            stop()
            previous(signum, frame)
            return
        if previous == signal.SIG_IGN:
            return
        signal.signal(signum, signal.SIG_DFL)
        log.info("durable-azure: SIGTERM received; releasing partition leases before exiting")
        # Stopping needs the engine's own thread to make progress; the main thread may hold locks
        # (logging's, for one) that it needs, so stop from a helper thread, then end as SIGTERM would.
        threading.Thread(target=_stop_then_exit, args=(stop, signum), name="durable-azure-exit").start()

    signal.signal(signal.SIGTERM, on_sigterm)


def _stop_then_exit(stop: Callable[[], None], signum: int) -> None:
    try:
        stop()
    except Exception:  # the process ends either way
        log.exception("durable-azure: stopping the worker failed")
    finally:
        _flush(sys.stdout, sys.stderr)
        os.kill(os.getpid(), signum)


def _flush(*streams: Any) -> None:
    for stream in streams:
        try:
            stream.flush()
        except Exception:
            pass


def add_workitem_queue_settings(host_json: dict[str, Any]) -> list[str]:
    """Make ``host.json`` (parsed, changed in place) suit the work-item queue trigger; what changed."""
    extensions = host_json.setdefault("extensions", {})
    if not isinstance(extensions, dict):
        return []
    durable = extensions.get("durableTask") or {}
    provider = durable.get("storageProvider") if isinstance(durable, dict) else None
    ours = int((provider or {}).get("maxDequeueCount", 10)) if isinstance(provider, dict) else 10
    queues = extensions.setdefault("queues", {})
    if not isinstance(queues, dict):
        return []
    changes = []
    if str(queues.get("messageEncoding", "base64")).lower() != "none":
        queues["messageEncoding"] = "none"
        changes.append('extensions.queues.messageEncoding -> "none"')
    if int(queues.get("maxDequeueCount", 5)) <= ours:
        queues["maxDequeueCount"] = ours + 1
        changes.append(f"extensions.queues.maxDequeueCount -> {ours + 1}")
    return changes
