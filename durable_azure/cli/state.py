"""The CLI's global state (connection, hub, app folder) and the client it opens, with a fast reachability check."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import click

from .errors import EXIT_USAGE, CliError, NotFound, one_line, run_async

T = TypeVar("T")


def storage_endpoints(connection_string: str) -> list[tuple[str, int]]:
    """``(host, port)`` of the blob, queue and table endpoints a connection string names."""
    from urllib.parse import urlsplit

    from ..storage.clients import resolve_connection_string

    resolved = resolve_connection_string(connection_string)
    parts = {}
    for item in resolved.split(";"):
        key, sep, value = item.partition("=")
        if sep:
            parts[key.strip().lower()] = value.strip()
    protocol = parts.get("defaultendpointsprotocol", "https")
    account = parts.get("accountname")
    suffix = parts.get("endpointsuffix", "core.windows.net")
    found: list[tuple[str, int]] = []
    for service in ("blob", "queue", "table"):
        url = parts.get(f"{service}endpoint")
        if not url and account:
            url = f"{protocol}://{account}.{service}.{suffix}"
        if not url:
            continue
        split = urlsplit(url)
        if split.hostname:
            port = split.port or (443 if split.scheme == "https" else 80)
            if (split.hostname, port) not in found:
                found.append((split.hostname, port))
    return found


async def check_reachable(connection_string: str, timeout: float = 5.0) -> None:
    """Fail fast (instead of the SDK's minute of retries) when a storage endpoint refuses connections."""
    try:
        endpoints = storage_endpoints(connection_string)
    except Exception:
        return  # let the SDK report what it makes of the connection string

    async def probe(host: str, port: int) -> str | None:
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
        except (OSError, asyncio.TimeoutError) as e:
            if isinstance(e, asyncio.TimeoutError):
                reason = "timed out"
            elif isinstance(e, ConnectionRefusedError):
                reason = "connection refused"
            else:
                reason = e.strerror or str(e)
            return f"{host}:{port} ({reason})"
        writer.close()
        return None

    failures = [f for f in await asyncio.gather(*(probe(h, p) for h, p in endpoints)) if f]
    if failures:
        hint = ""
        if any(f.startswith(("127.0.0.1:1000", "localhost:1000")) for f in failures):
            hint = "; is Azurite running? (azurite-setup/start)"
        raise CliError(f"Cannot reach Azure Storage at {', '.join(failures)}{hint}")


@dataclass
class CliState:
    """Global options; settings and the client are resolved lazily, so --help never touches storage."""

    connection: str | None
    hub: str | None
    app_dir: str
    partitions: int | None
    _settings: Any = None

    @property
    def settings(self) -> Any:
        if self._settings is None:
            from ..config import load_settings

            try:
                settings = load_settings(self.app_dir)
            except (ValueError, OSError) as e:  # malformed host.json / local.settings.json
                raise CliError(
                    f"Cannot read the settings in {self.app_dir!r}: {one_line(e)}", EXIT_USAGE
                ) from None
            overrides = {
                "connection_string": self.connection,
                "hub_name": self.hub,
                "partition_count": self.partitions,
            }
            self._settings = settings.with_overrides(**overrides)
        return self._settings

    @property
    def hub_name(self) -> str:
        return str(self.settings.hub_name)

    async def client(self) -> Any:
        """A client for the hub; without --partitions, the partition count the hub recorded
        (``{Hub}Partitions`` rows, else taskhub.json). A hub it creates uses host.json's
        ``useTablePartitionManagement`` layout."""
        from ..client.client import DurableOrchestrationClient

        settings = self.settings
        client = DurableOrchestrationClient.from_connection_string(
            settings.connection_string,
            hub_name=settings.hub_name,
            partition_count=settings.partition_count,
            default_version=settings.default_version,
        )
        client.storage.table_partitions = settings.use_table_partition_management
        if self.partitions is None:
            try:
                recorded = await client.storage.recorded_partition_count() or settings.partition_count
            except BaseException:
                await client.close()
                raise
            if recorded != settings.partition_count:
                await client.close()
                client = DurableOrchestrationClient.from_connection_string(
                    settings.connection_string,
                    hub_name=settings.hub_name,
                    partition_count=recorded,
                    default_version=settings.default_version,
                )
                client.storage.table_partitions = settings.use_table_partition_management
        return client

    def run(self, body: Callable[[Any], Awaitable[T]]) -> T:
        """Open a client, run ``body(client)``, close the client; errors become one-line CLI errors."""
        hub = self.hub_name

        async def main() -> T:
            await check_reachable(self.settings.connection_string)
            client = await self.client()
            try:
                return await body(client)
            finally:
                await client.close()

        return run_async(main, hub)

    def not_found(self, instance_id: str) -> NotFound:
        return NotFound(f"No instance '{instance_id}' in task hub '{self.hub_name}'.")


pass_state = click.make_pass_decorator(CliState)


async def status_or_not_found(state: CliState, client: Any, instance_id: str, **kwargs: Any) -> Any:
    """The instance's status; :class:`NotFound` ("No instance 'X' in task hub 'H'") if there is none."""
    status = await client.get_status(instance_id, **kwargs)
    if not status:
        raise state.not_found(instance_id)
    return status
