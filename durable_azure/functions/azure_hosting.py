"""Running the engine inside an Azure Functions app: one call, ``enable_azure_hosting(app)``.

The Functions host reserves ``/runtime/``, and it knows nothing of durable triggers. So the app gets
two ordinary functions:

* an HTTP function at ``{routePrefix}/durabletask/{*path}`` (auth level ``function``) that serves
  the DF management API (same routes, codes and payloads as ``/runtime/webhooks/durabletask``);
* an HTTP function at ``{routePrefix}/durable/{*path}`` (same auth level) that serves the task-hub
  dashboard (``durable_azure.dashboard``), unless ``dashboard_route=None``;
* a timer trigger (every 30 s and on start-up) that starts the engine — a ``TaskHubWorker`` on its
  own asyncio loop in a daemon thread — and restarts it if it died.

Settings come from ``host.json`` ``extensions.durableTask`` and the app settings (``load_settings``).
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import threading
from collections.abc import Callable
from typing import Any, cast

import azure.functions as func

from .. import telemetry
from ..config import Settings, load_settings
from ..dashboard import create_dashboard_app
from . import runtime
from .api_support import storage_unavailable
from .app import adopt_plain_app
from .asgi_bridge import call_asgi
from .management_api import create_management_app
from .targets import AppTargets, app_user_functions, binding_targets

log = logging.getLogger("durable_azure.hosting")

MANAGEMENT_FUNCTION = "durable_management_api"
SUPERVISOR_FUNCTION = "durable_worker_supervisor"
DASHBOARD_FUNCTION = "durable_dashboard"

#: A decorator of ``azure.functions``' ``FunctionApp`` (its own helpers are untyped).
_Decorator = Callable[[Callable[..., Any]], Any]


class AzureHosting:
    """The background engine of one app in this process, and its management API function."""

    def __init__(self, app: Any, route: str = "durabletask", settings: Settings | None = None) -> None:
        self.app = app
        self.route = route.strip("/")
        self._settings = settings
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self.management_app = create_management_app(targets=self.targets)
        self.dashboard_route = "durable"
        self.dashboard_app = create_dashboard_app(
            lambda: runtime.client_for(), unavailable=storage_unavailable
        )
        self.restarts = 0
        atexit.register(self.stop)

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
        """Start the engine unless it runs: returns ``"running"``, ``"started"`` or ``"hosted"``
        (another host in this process, e.g. ``durable-azure serve``, already runs it)."""
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

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._serve(loop))
        except Exception:
            log.exception("durable-azure worker stopped with an error; the supervisor timer will restart it")
        finally:
            try:
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                loop.close()

    async def _serve(self, loop: asyncio.AbstractEventLoop) -> None:
        from ..worker import TaskHubWorker

        settings = self.settings
        self._loop, self._stop_event = loop, asyncio.Event()
        telemetry.configure_for_app(runtime.script_root(), settings.hub_name)  # App Insights, if set
        worker = TaskHubWorker.from_settings(self.app, settings)
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
        log.info("durable-azure worker running for task hub %s", settings.hub_name)
        try:
            await self._stop_event.wait()
        finally:
            await runtime.release_runtime(hosted)
            await runtime.close_clients(loop)
            await worker.stop()  # finishes in-flight work and releases the partition leases

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the engine (releasing its leases) and wait for the thread."""
        thread, loop, event = self._thread, self._loop, self._stop_event
        if thread is None or not thread.is_alive() or loop is None or event is None:
            return
        try:
            loop.call_soon_threadsafe(event.set)
        except RuntimeError:
            return
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
    dashboard_route: str | None = "durable",
    dashboard_function_name: str = DASHBOARD_FUNCTION,
) -> AzureHosting:
    """Make ``app`` (a ``DFApp``, or a plain ``func.FunctionApp`` that registered durable blueprints)
    run its orchestrations inside the Azure Functions host.

    Adds the management API function at ``{routePrefix}/{route}/{*path}``, the dashboard function at
    ``{routePrefix}/{dashboard_route}/{*path}`` (same ``auth_level``; ``None``: no dashboard) and the
    supervisor timer.
    Call it once, after creating the app; calling it again returns the same hosting.
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
    return hosting
