"""The process-wide registry of hosted engines, and durable clients that share them.

A host (``durable-azure serve``, ``durable-azure worker`` or the in-Azure supervisor) installs a
:class:`HostedRuntime` describing the worker it runs, the event loop that worker lives on, and
where the management API is served. Durable clients handed to user functions (and the management
API) come from :func:`client_for`:

* on the worker's own loop they share its storage clients and wake it directly after a send;
* on another loop (the Functions worker's loop in Azure, the worker being in a daemon thread) they
  get their own storage clients for that loop and wake the worker thread-safely.

Without an installed runtime, clients are built from ``load_settings`` of the script root.
"""

from __future__ import annotations

import asyncio
import functools
import os
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config import Settings, load_settings, read_local_settings
from ..storage.clients import resolve_connection_string
from ..storage.taskhub import TaskHubStorage
from .targets import AppTargets
from .urls import DEFAULT_CONNECTION_NAME, DEFAULT_ORIGIN, WEBHOOK_BASE_PATH, public_base_url

if TYPE_CHECKING:
    from ..registry import DurableRegistry
    from ..worker import TaskHubWorker
    from .http_client import FunctionsDurableClient

#: Set by the Functions host to the app folder (``/home/site/wwwroot`` in Azure).
SCRIPT_ROOT_SETTING = "AzureWebJobsScriptRoot"
_DEFAULT_CONNECTION_NAMES = frozenset({"", DEFAULT_CONNECTION_NAME.lower(), "azurewebjobsstorage"})


@dataclass
class HostedRuntime:
    """One running engine in this process and how its app is reached over HTTP."""

    settings: Settings
    registry: DurableRegistry | None = None
    worker: TaskHubWorker | None = None
    loop: asyncio.AbstractEventLoop | None = None
    #: Path of the management API root, e.g. ``/runtime/webhooks/durabletask`` or ``/api/durabletask``.
    management_base: str = WEBHOOK_BASE_PATH
    #: Origin used in management URLs built without a request.
    origin: str = DEFAULT_ORIGIN
    #: Who installed it (``"serve"``, ``"worker"``, ``"azure"``), for logs and the supervisor.
    owner: str = "serve"
    #: The hubs/connections HTTP callers may name (``None``: the configured hub only).
    targets: AppTargets | None = None

    def notify_threadsafe(self, instance_id: str) -> None:
        """Wake the worker for ``instance_id`` from any thread."""
        worker, loop = self.worker, self.loop
        if worker is None or loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            worker.notify(instance_id)
        else:
            try:
                loop.call_soon_threadsafe(worker.notify, instance_id)
            except RuntimeError:
                pass  # the loop closed meanwhile; the worker's polling picks the message up


_lock = threading.Lock()
_closing: set[asyncio.Task[None]] = set()
_runtimes: list[HostedRuntime] = []
_clients: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[tuple[Any, ...], FunctionsDurableClient]
] = weakref.WeakKeyDictionary()


def install(runtime: HostedRuntime) -> HostedRuntime:
    """Make ``runtime`` the one clients of this process use (the most recent install wins)."""
    with _lock:
        _runtimes.append(runtime)
    return runtime


def uninstall(runtime: HostedRuntime) -> None:
    with _lock:
        if runtime in _runtimes:
            _runtimes.remove(runtime)


def active(hub_name: str | None = None) -> HostedRuntime | None:
    """The most recently installed runtime (for ``hub_name``, when given)."""
    with _lock:
        for runtime in reversed(_runtimes):
            if hub_name is None or runtime.settings.hub_name.lower() == hub_name.lower():
                return runtime
    return None


def script_root() -> Path:
    """The function app's folder: ``AzureWebJobsScriptRoot`` (set by the Functions host) or the cwd."""
    return Path(os.environ.get(SCRIPT_ROOT_SETTING) or os.getcwd())


@functools.lru_cache(maxsize=8)
def _settings_for(root: str) -> Settings:
    return load_settings(root)


def default_settings() -> Settings:
    """Settings of the running host, or from ``host.json``/``local.settings.json``/env of the script root."""
    runtime = active()
    return runtime.settings if runtime is not None else _settings_for(str(script_root()))


def default_origin() -> str:
    """``DURABLE_AZURE_PUBLIC_BASE_URL`` or ``https://<WEBSITE_HOSTNAME>`` in Azure, else DF's local default."""
    public = public_base_url()
    if public:
        return public
    host = os.environ.get("WEBSITE_HOSTNAME")
    return f"http://{host}" if host else DEFAULT_ORIGIN


def app_targets() -> AppTargets:
    """The hubs/connections HTTP callers may name: the installed runtime's, else the configured hub."""
    runtime = active()
    if runtime is not None and runtime.targets is not None:
        return runtime.targets
    return AppTargets.of(default_settings().hub_name)


def resolve_connection(connection_name: str | None, settings: Settings) -> str:
    """The connection string named by an app setting, as the Functions host resolves connection names.

    ``None``, ``"Storage"`` and ``"AzureWebJobsStorage"`` mean the app's own storage connection.
    Other names are looked up as ``<name>`` then ``AzureWebJobs<name>``.
    """
    if connection_name is None or connection_name.strip().lower() in _DEFAULT_CONNECTION_NAMES:
        return settings.connection_string
    env = {**read_local_settings(script_root()), **os.environ}
    for key in (connection_name, f"AzureWebJobs{connection_name}"):
        if env.get(key):
            return env[key]
    raise ValueError(
        f"No connection string found for connection '{connection_name}': "
        f"set the app setting '{connection_name}' (or 'AzureWebJobs{connection_name}')."
    )


def client_for(
    task_hub: str | None = None,
    connection_name: str | None = None,
    *,
    registry: DurableRegistry | Callable[[], DurableRegistry | None] | None = None,
) -> FunctionsDurableClient:
    """A durable client for the current event loop (call it from a coroutine).

    ``task_hub``/``connection_name`` select another hub or storage account than the app's.
    ``registry`` (or a callable giving it) names the app's durable functions when no runtime is
    installed; it lets ``start_new``/``signal_entity`` reject unknown function names as DF does.
    """
    from .http_client import FunctionsDurableClient

    loop = asyncio.get_running_loop()
    runtime = active()
    settings = runtime.settings if runtime is not None else default_settings()
    hub = task_hub or settings.hub_name
    connection = resolve_connection(connection_name, settings)
    own_hub = hub.lower() == settings.hub_name.lower() and _same_account(
        connection, settings.connection_string
    )
    key = (hub.lower(), resolve_connection_string(connection), connection_name or DEFAULT_CONNECTION_NAME)
    with _lock:
        cache = _clients.setdefault(loop, {})
        cached = cache.get(key)
    if cached is not None:
        if cached.runtime is runtime:
            return cached
        if cached.owns_storage:  # built for a runtime that has gone (or before one came)
            _closing.add(task := loop.create_task(cached.close()))
            task.add_done_callback(_closing.discard)

    worker = runtime.worker if runtime is not None and own_hub else None
    notify: Callable[[str], None] | None
    if worker is not None and runtime is not None and runtime.loop is loop:
        storage, notify = worker.storage, worker.notify
        owns_storage = False
    else:
        storage = TaskHubStorage(
            connection,
            hub,
            partition_count=settings.partition_count,
            table_partitions=settings.use_table_partition_management,
        )
        notify = runtime.notify_threadsafe if worker is not None and runtime is not None else None
        owns_storage = True
    if own_hub:
        found = runtime.registry if runtime is not None and runtime.registry is not None else registry
        app_registry = found() if callable(found) else found
    else:
        app_registry = None  # another app's hub: its function names are not ours to check
    client = FunctionsDurableClient(
        storage,
        notify=notify,
        registry=app_registry,
        management_base=runtime.management_base if runtime is not None else _default_base(),
        origin=runtime.origin if runtime is not None else default_origin(),
        connection_name=connection_name or DEFAULT_CONNECTION_NAME,
        owns_storage=owns_storage,
        runtime=runtime,
        default_version=settings.default_version if own_hub else "",
    )
    with _lock:
        _clients.setdefault(loop, {})[key] = client
    return client


def _same_account(a: str, b: str) -> bool:
    return resolve_connection_string(a) == resolve_connection_string(b)


#: Set by :func:`durable_azure.functions.azure_hosting.enable_azure_hosting` for apps served by the Functions host.
_base_provider: list[Callable[[], str]] = []


def set_default_management_base_provider(provider: Callable[[], str]) -> None:
    """Where the management API is when no runtime is installed yet (e.g. ``/api/durabletask`` in Azure)."""
    _base_provider[:] = [provider]


def _default_base() -> str:
    return _base_provider[0]() if _base_provider else WEBHOOK_BASE_PATH


async def _close_quietly(client: FunctionsDurableClient) -> None:
    try:
        await client.close()
    except Exception:  # closing is best effort at shutdown
        pass


async def close_clients(loop: asyncio.AbstractEventLoop | None = None) -> None:
    """Close the storage clients cached for ``loop`` (default: the running loop)."""
    loop = loop or asyncio.get_running_loop()
    with _lock:
        cache = _clients.pop(loop, {})
    for client in cache.values():
        if client.owns_storage:
            await _close_quietly(client)


async def release_runtime(runtime: HostedRuntime, timeout: float = 5.0) -> None:
    """Uninstall ``runtime`` and close the clients bound to it, each on the loop it was made for."""
    uninstall(runtime)
    current = asyncio.get_running_loop()
    dropped: list[tuple[asyncio.AbstractEventLoop, FunctionsDurableClient]] = []
    with _lock:
        for loop, cache in list(_clients.items()):
            for key, client in list(cache.items()):
                if client.runtime is runtime:
                    del cache[key]
                    if client.owns_storage:
                        dropped.append((loop, client))
    for loop, client in dropped:
        if loop is current:
            await _close_quietly(client)
        elif loop.is_running() and not loop.is_closed():
            future = asyncio.run_coroutine_threadsafe(_close_quietly(client), loop)
            try:
                await asyncio.wait_for(asyncio.wrap_future(future), timeout)
            except (asyncio.TimeoutError, RuntimeError):
                pass  # that loop is busy or stopping; its clients go with it
