"""The local Functions host: ``durable-azure serve`` and ``durable-azure worker``.

``run_serve`` loads ``DIR/function_app.py`` like the Functions host, serves its HTTP functions at
``/{routePrefix}/{route}`` (uvicorn + Starlette), fires its timer triggers, serves the management
API at ``/runtime/webhooks/durabletask/`` and runs the engine for the app's task hub.
``run_worker`` runs only the engine. Both stop cleanly on Ctrl-C/SIGTERM, releasing their leases.

Keys (``access.py``): on a loopback address none is needed; beyond it ``serve`` refuses to start
without ``DURABLE_AZURE_HOST_KEY``, which then guards the management API, the dashboard and
every HTTP function that is not ``anonymous``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import signal
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

from azure.functions.decorators.function_app import Function
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from .. import telemetry
from ..config import Settings, load_settings
from ..dashboard import DASHBOARD_PATH, create_dashboard_app
from ..storage.naming import workitem_queue_name
from ..telemetry.asgi import traced
from . import runtime
from .access import AccessPolicy, InsecureBindError, RequireKey, access_policy, needs_key
from .api_support import not_found, storage_unavailable, storage_unavailable_error
from .invoke import UnsupportedBindingError, invoke_http
from .loader import IndexedApp, describe_http, load_app
from .management_api import OPENAPI_FILE, create_management_app
from .routing import Router
from .targets import AppTargets, binding_targets
from .timer_triggers import TimerScheduler
from .urls import PUBLIC_BASE_URL_SETTING, WEBHOOK_BASE_PATH, parse_public_base_url, public_base_url

log = logging.getLogger("durable_azure.host")

_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def _any_character(route: BaseRoute) -> BaseRoute:
    """Let a route's path parameters hold any character (Starlette's ``.*`` stops at a newline, so
    a path with ``%0A`` matched no route and got a plain-text 404)."""
    regex = getattr(route, "path_regex", None)
    if isinstance(regex, re.Pattern):
        route.path_regex = re.compile(regex.pattern, regex.flags | re.DOTALL)  # type: ignore[attr-defined]
    return route


def describe_connection(connection_string: str) -> str:
    """The storage account a connection string points at, without secrets."""
    if connection_string.strip().lower().startswith("usedevelopmentstorage=true"):
        return "UseDevelopmentStorage=true (Azurite)"
    account = re.search(r"AccountName=([^;]+)", connection_string, re.IGNORECASE)
    return f"account {account.group(1)}" if account else "custom connection string"


class LocalHost:
    """One function app served over HTTP with its timers and engine."""

    def __init__(
        self,
        app_dir: str | Path,
        *,
        host: str = "127.0.0.1",
        port: int = 7071,
        settings: Settings | None = None,
    ) -> None:
        self.indexed: IndexedApp = load_app(app_dir)  # also puts local.settings.json into the environment
        self.app_dir = str(self.indexed.app_dir)
        self.settings = settings or load_settings(self.indexed.app_dir)
        self.access: AccessPolicy = access_policy(host)  # InsecureBindError: no key beyond loopback
        if os.environ.get(PUBLIC_BASE_URL_SETTING, "").strip():
            parse_public_base_url(os.environ[PUBLIC_BASE_URL_SETTING])  # a bad setting fails start-up
        shown = "localhost" if host in ("0.0.0.0", "::", "") else host
        self.origin = public_base_url() or f"http://{shown}:{port}"
        functions = [*self.indexed.http, *self.indexed.timers, *self.indexed.other]
        self.targets = AppTargets.of(
            self.settings.hub_name, binding_targets(f.get_user_function() for f in functions)
        )
        self.router: Router[Function] = Router()
        for function in self.indexed.http:
            self.router.add(describe_http(function)[0], function)
        self.timers = TimerScheduler(self.indexed.timers, self.app_dir)
        self.worker: Any = None
        self.hosted: runtime.HostedRuntime | None = None

    # ---- lifecycle -----------------------------------------------------------------------
    def asgi(self) -> Starlette:
        management = create_management_app(targets=lambda: self.targets)
        routes = [
            Mount(
                WEBHOOK_BASE_PATH,
                app=traced(  # a server span per request when telemetry is on
                    RequireKey(management, self.access, (f"/{OPENAPI_FILE}",)),
                    f"{WEBHOOK_BASE_PATH}/{{*path}}",
                    "durable_management_api",
                ),
            ),
            Route(DASHBOARD_PATH, self.dashboard_home, methods=["GET"]),
            Mount(DASHBOARD_PATH, app=RequireKey(self.dashboard_app(), self.access)),
            Route("/{path:path}", self.dispatch, methods=_METHODS),
        ]
        return Starlette(routes=[_any_character(r) for r in routes], lifespan=self.lifespan)

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Any) -> AsyncIterator[None]:
        await self.start()
        try:
            yield
        finally:
            await self.stop()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        registry = None
        if self.indexed.is_durable:
            from ..worker import TaskHubWorker

            self.worker = TaskHubWorker.from_settings(self.indexed.registry, self.settings)
            await self.worker.start()
            registry = self.worker.registry
        self.hosted = runtime.install(
            runtime.HostedRuntime(
                self.settings,
                registry=registry,
                worker=self.worker,
                loop=loop,
                management_base=WEBHOOK_BASE_PATH,
                origin=self.origin,
                owner="serve",
                targets=self.targets,
            )
        )
        self.timers.start()
        print(self.banner(), flush=True)

    async def stop(self) -> None:
        await self.timers.stop()
        if self.hosted is not None:
            await runtime.release_runtime(self.hosted)
        await runtime.close_clients()
        if self.worker is not None:
            await self.worker.stop()  # in-flight work finishes, partition leases are released
            log.info("worker stopped; leases released")

    def banner(self) -> str:
        prefix = self.settings.route_prefix.strip("/")
        lines = ["", "Functions:", ""]
        for function in self.indexed.http:
            route, methods = describe_http(function)
            url = f"{self.origin}/{prefix + '/' if prefix else ''}{route}"
            lines.append(f"    {function.get_function_name()}: [{','.join(methods) or 'ALL'}] {url}")
        for name, schedule in self.timers.schedules:
            lines.append(f"    {name}: timerTrigger ({schedule})")
        for function in self.indexed.other:
            trigger = function.get_trigger()
            kind = getattr(trigger, "type", "?")
            # enable_azure_hosting's work-item trigger: here the engine receives that queue itself.
            ours = getattr(trigger, "queue_name", None) == workitem_queue_name(self.settings.hub_name)
            note = "received by the engine" if ours else "not run locally"
            lines.append(f"    {function.get_function_name()}: {kind} ({note})")
        if self.worker is not None:
            registry = self.worker.registry
            for kind, names in (
                ("orchestrationTrigger", registry.orchestrators),
                ("activityTrigger", registry.activities),
                ("entityTrigger", registry.entities),
            ):
                for name in sorted(names):
                    lines.append(f"    {name}: {kind}")
        lines += [
            "",
            f"Management API: {self.origin}{WEBHOOK_BASE_PATH}/instances/",
            f"OpenAPI description: {self.origin}{WEBHOOK_BASE_PATH}/{OPENAPI_FILE}",
            f"Dashboard: {self.origin}{DASHBOARD_PATH}/",
            f"Task hub: {self.settings.hub_name} ({describe_connection(self.settings.connection_string)})",
        ]
        if self.access.requires_key:
            lines.append(
                "Keys: the management API, the dashboard and non-anonymous functions need "
                "?code=<DURABLE_AZURE_HOST_KEY> or an x-functions-key header."
            )
        lines.append("")
        return "\n".join(lines)

    # ---- requests ------------------------------------------------------------------------
    def _relative(self, path: str) -> str | None:
        prefix = self.settings.route_prefix.strip("/")
        if not prefix:
            return path
        if path.lower() == prefix.lower():
            return ""
        if path.lower().startswith(prefix.lower() + "/"):
            return path[len(prefix) + 1 :]
        return None

    async def dispatch(self, request: Request) -> Response:
        path = request.path_params.get("path", "").strip("/")
        relative = self._relative(path)
        candidates = self.router.match(relative) if relative is not None else []
        for function, values in candidates:
            methods = describe_http(function)[1]
            if (
                methods
                and request.method not in methods
                and not (request.method == "HEAD" and "GET" in methods)
            ):
                continue
            name = function.get_function_name()
            if needs_key(getattr(function.get_trigger(), "auth_level", None)):
                denied = self.access.check(request)
                if denied is not None:
                    return denied
            try:
                tel = telemetry.active()
                if tel is None:
                    return await invoke_http(function, request, values, self.app_dir)
                route = describe_http(function)[0]
                with tel.http_request(
                    request.method, route, request.url.path, request.headers, name or ""
                ) as span:
                    response = await invoke_http(function, request, values, self.app_dir)
                    span.set_attribute("http.response.status_code", response.status_code)
                    return response
            except UnsupportedBindingError as e:
                log.error("%s", e)
                return PlainTextResponse(str(e), status_code=500)
            except Exception as e:
                if storage_unavailable(e):  # the function's durable client could not reach storage
                    log.warning("Executed 'Functions.%s' (Failed): storage unavailable: %s", name, e)
                    return storage_unavailable_error().response()
                log.exception("Executed 'Functions.%s' (Failed)", name)
                return PlainTextResponse(
                    f"Exception while executing function: Functions.{name}", status_code=500
                )
        if path == "" and request.method in ("GET", "HEAD"):
            return PlainTextResponse(f"durable-azure: your function app is up and running.\n{self.banner()}")
        return not_found(f"No function matches {request.method} /{path}.").response()

    @staticmethod
    def dashboard_app() -> Any:
        """The task-hub dashboard (``/durable/``) over the app's own hub."""
        return create_dashboard_app(lambda: runtime.client_for(), unavailable=storage_unavailable)

    async def dashboard_home(self, request: Request) -> Response:
        query = request.url.query
        return RedirectResponse(f"{DASHBOARD_PATH}/" + (f"?{query}" if query else ""), status_code=307)


def _configure_logging() -> None:
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("azure").setLevel(logging.WARNING)


@contextlib.contextmanager
def _quiet_signals() -> Iterator[list[int]]:
    """Handlers uvicorn restores and re-raises after its graceful shutdown: record, don't die."""
    received: list[int] = []
    handled = [signal.SIGINT, signal.SIGTERM]
    previous = {sig: signal.signal(sig, lambda s, _f: received.append(s)) for sig in handled}
    try:
        yield received
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run_serve(app_dir: str, port: int, host: str = "127.0.0.1") -> None:
    """Serve the function app in ``app_dir`` until Ctrl-C or SIGTERM (blocking).

    Raises :class:`~durable_azure.functions.access.InsecureBindError` (before listening) when
    ``host`` is not a loopback address and no ``DURABLE_AZURE_HOST_KEY`` is set.
    """
    import uvicorn

    _configure_logging()
    local = LocalHost(app_dir, host=host, port=port)
    telemetry.configure_for_app(local.app_dir, local.settings.hub_name)
    config = uvicorn.Config(
        local.asgi(), host=host, port=port, lifespan="on", log_level="info", timeout_graceful_shutdown=10
    )
    server = uvicorn.Server(config)
    with _quiet_signals():
        server.run()
    if not server.started:
        raise SystemExit("durable-azure serve: start-up failed; see the errors above.")


async def _worker_until_signal(indexed: IndexedApp, settings: Settings) -> None:
    from ..worker import TaskHubWorker

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    worker = TaskHubWorker.from_settings(indexed.registry, settings)
    await worker.start()
    hosted = runtime.install(
        runtime.HostedRuntime(settings, registry=worker.registry, worker=worker, loop=loop, owner="worker")
    )
    print(
        f"durable-azure worker running for task hub {settings.hub_name} "
        f"({describe_connection(settings.connection_string)}); Ctrl-C to stop.",
        flush=True,
    )
    try:
        await stop.wait()
    finally:
        runtime.uninstall(hosted)
        await worker.stop()
        print("durable-azure worker stopped; leases released.", flush=True)


def run_worker(app_dir: str) -> None:
    """Run only the engine for the function app in ``app_dir`` until Ctrl-C or SIGTERM (blocking)."""
    _configure_logging()
    indexed = load_app(app_dir)
    if not indexed.is_durable:
        raise SystemExit(f"{indexed.app_dir} has no durable functions: nothing for a worker to run.")
    settings = load_settings(indexed.app_dir)
    telemetry.configure_for_app(indexed.app_dir, settings.hub_name)
    asyncio.run(_worker_until_signal(indexed, settings))


def main(argv: list[str] | None = None) -> None:
    """``python -m durable_azure.functions.host [serve|worker] [--app-dir DIR] [--port N] [--host H]``."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m durable_azure.functions.host")
    parser.add_argument("command", nargs="?", choices=["serve", "worker"], default="serve")
    parser.add_argument("--app-dir", default=".")
    parser.add_argument("--port", type=int, default=7071)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)
    if args.command == "worker":
        run_worker(args.app_dir)
        return
    try:
        run_serve(args.app_dir, args.port, args.host)
    except InsecureBindError as e:
        raise SystemExit(f"durable-azure serve: {e}") from None


if __name__ == "__main__":
    main(sys.argv[1:])
