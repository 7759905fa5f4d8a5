"""Running the engine inside an Azure Functions app: one call, ``enable_azure_hosting(app)``.

The Functions host reserves ``/runtime/``, knows nothing of durable triggers, and scales an app only
on the triggers it knows. So the app gets four ordinary functions:

* an HTTP function at ``{routePrefix}/durabletask/{*path}`` (auth level ``function``) that serves
  the DF management API (same routes, codes and payloads as ``/runtime/webhooks/durabletask``);
* an HTTP function at ``{routePrefix}/durable/{*path}`` (same auth level) that serves the task-hub
  dashboard (``durable_azure.dashboard``), unless ``dashboard_route=None``;
* a queue trigger on ``{hub}-workitems`` (``workitem_trigger.py``): the host receives the work items
  and the platform scales the app on their backlog;
* a timer trigger (every 30 s and on start-up), a safety net that restarts the engine if it is down.

In a Functions host (``host_env.in_functions_host``) the engine — a ``TaskHubWorker`` on its own
asyncio loop in a daemon thread — starts as soon as the worker has loaded and indexed the app, in
every worker process of every instance, and its thread restarts it after an error. It releases its
leases at interpreter exit and on SIGTERM. Elsewhere (tests, ``durable-azure serve``) it starts only when asked (the timer
function, a management request, :meth:`AzureHosting.ensure_worker`) and receives work items itself.

Settings come from ``host.json`` ``extensions.durableTask`` and the app settings (``load_settings``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Callable
from typing import Any, cast

import azure.functions as func

from .. import telemetry
from ..config import Settings, load_settings
from ..dashboard import create_dashboard_app
from ..storage.naming import workitem_queue_name
from . import runtime
from .api_support import storage_unavailable
from .app import adopt_plain_app
from .asgi_bridge import call_asgi
from .host_env import check_queue_settings, in_functions_host, install_exit_hooks
from .management_api import create_management_app
from .targets import AppTargets, app_user_functions, binding_targets
from .workitem_trigger import run_work_item

log = logging.getLogger("durable_azure.hosting")

MANAGEMENT_FUNCTION = "durable_management_api"
SUPERVISOR_FUNCTION = "durable_worker_supervisor"
DASHBOARD_FUNCTION = "durable_dashboard"
WORKITEM_FUNCTION = "durable_workitems"
#: The app setting holding the task hub's storage connection (the trigger's ``connection``), unless
#: host.json's ``storageProvider.connectionName`` names another (``Settings.connection_name``).
STORAGE_CONNECTION_SETTING = "AzureWebJobsStorage"
#: Seconds between restarts of an engine that stopped with an error: doubles up to the last value.
RESTART_BACKOFF = (1.0, 2.0, 5.0, 10.0, 30.0)

#: A decorator of ``azure.functions``' ``FunctionApp`` (its own helpers are untyped).
_Decorator = Callable[[Callable[..., Any]], Any]


class AzureHosting:
    """The background engine of one app in this process, and its management API function."""

    def __init__(
        self,
        app: Any,
        route: str = "durabletask",
        settings: Settings | None = None,
        *,
        in_host: bool | None = None,
    ) -> None:
        self.app = app
        self.route = route.strip("/")
        self._settings = settings
        #: Inside a Functions host: start at load, work items come through the queue trigger.
        self.in_host = in_functions_host() if in_host is None else in_host
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._worker: Any = None
        self._ready = threading.Event()
        self._stopping = threading.Event()
        self.management_app = create_management_app(targets=self.targets)
        self.dashboard_route = "durable"
        self.dashboard_app = create_dashboard_app(
            lambda: runtime.client_for(), unavailable=storage_unavailable
        )
        self.restarts = 0
        # SIGTERM is handled only in a process the Functions host started (detected, not forced).
        install_exit_hooks(self.stop, handle_sigterm=self.in_host and in_host is None)

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(runtime.script_root())
        return self._settings

    def targets(self) -> AppTargets:
        """The hubs/connections HTTP callers may name: the configured hub and the app's client bindings."""
        return AppTargets.of(self.settings.hub_name, binding_targets(app_user_functions(self.app)))

    @property
    def management_path(self) -> str:
        """``/{routePrefix}/{route}``, e.g. ``/api/durabletask``."""
        prefix = self.settings.route_prefix.strip("/")
        return f"/{prefix}/{self.route}" if prefix else f"/{self.route}"

    # ---- the worker thread ---------------------------------------------------------------
    def ensure_worker(self) -> str:
        """Start the engine unless it runs: returns ``"running"``, ``"started"``, ``"hosted"``
        (another host in this process, e.g. ``durable-azure serve``, already runs it) or
        ``"stopped"`` (:meth:`stop` was called: the process is ending, nothing starts it again)."""
        if self._stopping.is_set():
            return "stopped"
        other = runtime.active(self.settings.hub_name)
        if other is not None and other.owner != "azure":
            return "hosted"
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return "running"
            if self._thread is not None:
                self.restarts += 1
                log.warning(
                    "durable-azure worker thread had stopped; restarting it (restart #%d)", self.restarts
                )
            self._thread = threading.Thread(target=self._run, name="durable-azure-worker", daemon=True)
            self._thread.start()
            return "started"

    def is_running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def wait_ready(self, timeout: float) -> bool:
        """Wait until the engine runs (its leases taken, work accepted); False after ``timeout`` s."""
        return self._ready.wait(timeout)

    def engine(self) -> tuple[Any, asyncio.AbstractEventLoop | None]:
        """The running ``TaskHubWorker`` and its event loop (``None``s when it is not running)."""
        if not self._ready.is_set():
            return None, None
        return self._worker, self._loop

    def _run(self) -> None:
        """The engine thread: run the engine; after an error, start it again (with a back-off)."""
        failures = 0
        while not self._stopping.is_set():
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._serve(loop))
                return  # stopped on request
            except Exception:
                failures += 1
                log.exception("durable-azure worker stopped with an error; restarting it")
            finally:
                self._ready.clear()
                try:
                    loop.run_until_complete(loop.shutdown_asyncgens())
                finally:
                    loop.close()
            delay = RESTART_BACKOFF[min(failures, len(RESTART_BACKOFF)) - 1]
            if self._stopping.wait(delay):
                return
            self.restarts += 1

    async def _serve(self, loop: asyncio.AbstractEventLoop) -> None:
        from ..worker import TaskHubWorker

        settings = self.settings
        self._loop, self._stop_event = loop, asyncio.Event()
        if self._stopping.is_set():
            return
        telemetry.configure_for_app(runtime.script_root(), settings.hub_name)  # App Insights, if set
        worker = TaskHubWorker.from_settings(self.app, settings, receive_work_items=not self.in_host)
        await worker.start()
        hosted = runtime.install(
            runtime.HostedRuntime(
                settings,
                registry=worker.registry,
                worker=worker,
                loop=loop,
                management_base=self.management_path,
                origin=runtime.default_origin(),
                owner="azure",
                targets=self.targets(),
            )
        )
        self._worker = worker
        self._ready.set()
        log.info(
            "durable-azure worker running for task hub %s (work items from %s)",
            settings.hub_name,
            "the queue trigger" if self.in_host else "its own polling",
        )
        try:
            if self._stopping.is_set():
                self._stop_event.set()
            await self._stop_event.wait()
        finally:
            self._ready.clear()
            await runtime.release_runtime(hosted)
            await runtime.close_clients(loop)
            await worker.stop()  # finishes in-flight work and releases the partition leases
            log.info("durable-azure worker stopped; leases released")

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the engine (releasing its leases) and wait for the thread."""
        self._stopping.set()
        thread, loop, event = self._thread, self._loop, self._stop_event
        if thread is None or not thread.is_alive():
            return
        if loop is not None and event is not None:
            try:
                loop.call_soon_threadsafe(event.set)
            except RuntimeError:  # that loop is closed: the thread is between two runs
                pass
        thread.join(timeout)

    # ---- the management API function ------------------------------------------------------
    async def handle(self, request: func.HttpRequest) -> func.HttpResponse:
        """Serve one management API request arriving at ``{routePrefix}/{route}/{*path}``.

        The path comes from the route value ``path``, which the host has decoded once; it is not
        decoded again (the request URL's path is not used: the host re-encodes it only partly).
        """
        self.ensure_worker()
        rest = str((request.route_params or {}).get("path") or "")
        root = self.management_path.rstrip("/")
        return await call_asgi(self.management_app, request, root_path=root, path=f"{root}/{rest}")

    async def handle_dashboard(self, request: func.HttpRequest) -> func.HttpResponse:
        """Serve one dashboard request arriving at ``{routePrefix}/durable/{*path}``."""
        self.ensure_worker()
        rest = str((request.route_params or {}).get("path") or "")
        prefix = self.settings.route_prefix.strip("/")
        root = f"/{prefix}/{self.dashboard_route}" if prefix else f"/{self.dashboard_route}"
        return await call_asgi(self.dashboard_app, request, root_path=root, path=f"{root}/{rest}")


def enable_azure_hosting(
    app: Any,
    *,
    route: str = "durabletask",
    schedule: str = "*/30 * * * * *",
    auth_level: func.AuthLevel | str = func.AuthLevel.FUNCTION,
    management_function_name: str = MANAGEMENT_FUNCTION,
    supervisor_function_name: str = SUPERVISOR_FUNCTION,
    workitem_function_name: str = WORKITEM_FUNCTION,
    dashboard_route: str | None = "durable",
    dashboard_function_name: str = DASHBOARD_FUNCTION,
) -> AzureHosting:
    """Make ``app`` (a ``DFApp``, or a plain ``func.FunctionApp`` that registered durable blueprints)
    run its orchestrations inside the Azure Functions host.

    Adds the management API function at ``{routePrefix}/{route}/{*path}``, the dashboard function at
    ``{routePrefix}/{dashboard_route}/{*path}`` (same ``auth_level``; ``None``: no dashboard), the
    work-item queue trigger and the supervisor timer; inside a Functions host, the engine starts once
    the worker has indexed the app. Call it once, after creating the app; calling it again returns
    the same hosting.
    """
    existing = getattr(app, "_durable_azure_hosting", None)
    if existing is not None:
        return cast(AzureHosting, existing)
    hosting = AzureHosting(app, route)
    app._durable_azure_hosting = hosting
    adopt_plain_app(app)  # a plain FunctionApp with durable blueprints: registry and index of a DFApp

    management_name: _Decorator = app.function_name(management_function_name)
    management_route: _Decorator = app.route(
        route=f"{hosting.route}/{{*path}}", methods=["GET", "POST", "DELETE"], auth_level=auth_level
    )

    @management_name
    @management_route
    async def durable_management_api(req: func.HttpRequest) -> func.HttpResponse:
        return await hosting.handle(req)

    if dashboard_route is not None:
        hosting.dashboard_route = dashboard_route.strip("/")
        dashboard_name: _Decorator = app.function_name(dashboard_function_name)
        dashboard_http: _Decorator = app.route(
            route=f"{hosting.dashboard_route}/{{*path}}", methods=["GET", "POST"], auth_level=auth_level
        )

        @dashboard_name
        @dashboard_http
        async def durable_dashboard(req: func.HttpRequest) -> func.HttpResponse:
            return await hosting.handle_dashboard(req)

    workitem_name: _Decorator = app.function_name(workitem_function_name)
    workitem_queue: _Decorator = app.queue_trigger(
        arg_name="msg",
        queue_name=workitem_queue_name(hosting.settings.hub_name),
        connection=hosting.settings.connection_name or STORAGE_CONNECTION_SETTING,
    )

    @workitem_name
    @workitem_queue
    async def durable_workitems(msg: func.QueueMessage) -> None:
        await run_work_item(hosting, msg)

    supervisor_name: _Decorator = app.function_name(supervisor_function_name)
    supervisor_timer: _Decorator = app.timer_trigger(
        arg_name="timer", schedule=schedule, run_on_startup=True, use_monitor=False
    )

    @supervisor_name
    @supervisor_timer
    def durable_worker_supervisor(timer: func.TimerRequest) -> None:
        state = hosting.ensure_worker()
        if state == "started":
            log.info(
                "durable-azure supervisor: started the worker for task hub %s", hosting.settings.hub_name
            )

    runtime.set_default_management_base_provider(lambda: hosting.management_path)
    if hosting.in_host:
        _warn_about_queue_settings(hosting.settings)
        _start_when_indexed(app, hosting)
    return hosting


def _warn_about_queue_settings(settings: Settings) -> None:
    path = runtime.script_root() / "host.json"
    try:
        host_json = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return  # load_settings already reported an unreadable host.json
    for problem in check_queue_settings(host_json, settings.max_dequeue_count):
        log.warning("durable-azure: host.json: %s", problem)


def _start_when_indexed(app: Any, hosting: AzureHosting) -> None:
    """Start the engine as soon as the Functions worker has indexed the app.

    The worker imports ``function_app.py`` and then calls ``app.get_functions()``, in every worker
    process, before any invocation. Not at this call: the module is still being imported, and the
    durable functions decorated below it are not registered yet.
    """
    index = app.get_functions

    def get_functions(*args: Any, **kwargs: Any) -> Any:
        functions = index(*args, **kwargs)
        if hosting.ensure_worker() == "started":
            log.info("durable-azure: started the worker for task hub %s at load", hosting.settings.hub_name)
        return functions

    setattr(app, "get_functions", get_functions)  # noqa: B010  (an instance attribute, on purpose)
