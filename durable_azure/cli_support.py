"""Plumbing for ``durable_azure.cli``: exit codes, one-line errors, parameter types, output helpers."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TypeVar

import click

T = TypeVar("T")

EXIT_OK = 0
EXIT_FAILED = 1  # the operation failed, or the instance it reports on failed
EXIT_USAGE = 2  # bad arguments (click's own code)
EXIT_NOT_FOUND = 3  # no such instance, entity or task hub
EXIT_CONFLICT = 4  # the instance is in the wrong state for the operation


class CliError(click.ClickException):
    """An error the CLI reports in one line on stderr, with an exit code."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.exit_code = exit_code  # type: ignore[misc]  # click declares it a class attribute


class NotFound(CliError):
    def __init__(self, message: str) -> None:
        super().__init__(message, EXIT_NOT_FOUND)


class Conflict(CliError):
    def __init__(self, message: str) -> None:
        super().__init__(message, EXIT_CONFLICT)


def one_line(text: object) -> str:
    """The first meaningful line of an error message (SDK errors append XML and request ids)."""
    for line in str(text).splitlines():
        line = line.strip()
        if line:
            return line
    return str(text).strip() or "unknown error"


def translate_error(error: BaseException, hub: str) -> CliError:
    """Map an engine or Azure SDK exception to a CLI error with the right exit code."""
    from azure.core.exceptions import (
        ClientAuthenticationError,
        HttpResponseError,
        ServiceRequestError,
        ServiceResponseError,
    )

    from .orchestration.errors import (
        DurableError,
        InstanceAlreadyExistsError,
        InstanceNotFoundError,
        InvalidHubNameError,
        InvalidInstanceIdError,
        InvalidOperationError,
        SerializationError,
        StorageError,
    )

    if isinstance(error, CliError):
        return error
    if isinstance(error, InstanceNotFoundError):
        return NotFound(one_line(error))
    if isinstance(error, (InstanceAlreadyExistsError, InvalidOperationError)):
        return Conflict(one_line(error))
    if isinstance(error, (InvalidHubNameError, InvalidInstanceIdError, SerializationError)):
        return CliError(one_line(error), EXIT_USAGE)
    if isinstance(error, StorageError) and "does not exist" in str(error):
        return NotFound(f"Task hub '{hub}' does not exist (create it with 'durable-azure hub create').")
    if isinstance(error, (ServiceRequestError, ServiceResponseError)):
        return CliError(f"Cannot reach Azure Storage: {one_line(error)}")
    if isinstance(error, ClientAuthenticationError):
        return CliError(f"Azure Storage refused the credentials: {one_line(error)}")
    if isinstance(error, HttpResponseError):
        code = getattr(error, "error_code", None) or error.status_code
        return CliError(f"Azure Storage error ({code}): {one_line(error.reason or error.message)}")
    if isinstance(error, TimeoutError):
        return CliError(one_line(error) if str(error) else "Timed out.")
    if isinstance(error, (DurableError, ValueError, OSError)):
        return CliError(one_line(error))
    return CliError(f"{type(error).__name__}: {one_line(error)}")


def run_async(factory: Callable[[], Awaitable[T]], hub: str) -> T:
    """Run a coroutine to completion; engine and SDK errors become :class:`CliError`."""
    try:
        return asyncio.run(factory())  # type: ignore[arg-type]
    except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort, KeyboardInterrupt):
        raise
    except Exception as error:
        raise translate_error(error, hub) from None


# ----------------------------------------------------------------------------- reachability


def storage_endpoints(connection_string: str) -> list[tuple[str, int]]:
    """``(host, port)`` of the blob, queue and table endpoints a connection string names."""
    from urllib.parse import urlsplit

    from .storage.clients import resolve_connection_string

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


# ----------------------------------------------------------------------------- parameter types


class JsonParam(click.ParamType):
    """A JSON value, or ``@path`` to read it from a file."""

    name = "JSON"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if not isinstance(value, str):
            return value
        text = value
        if value.startswith("@"):
            try:
                text = Path(value[1:]).read_text(encoding="utf-8")
            except OSError as e:
                self.fail(f"cannot read {value[1:]!r}: {e.strerror}", param, ctx)
        try:
            return json.loads(text)
        except json.JSONDecodeError as e:
            shown = text if len(text) <= 40 else text[:39] + "…"
            self.fail(
                f"{shown!r} is not valid JSON ({e.msg} at line {e.lineno} column {e.colno}); "
                "quote strings, e.g. '\"Tokyo\"'",
                param,
                ctx,
            )


_RELATIVE = re.compile(r"^-?(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|d|w)$", re.IGNORECASE)
_UNITS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}


class TimeParam(click.ParamType):
    """An ISO 8601 date/time (UTC unless it has an offset), ``now``, or an age such as ``30m``, ``2h``, ``7d``."""

    name = "TIME"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> datetime:
        if isinstance(value, datetime):
            return value
        text = str(value).strip()
        if text.lower() == "now":
            return datetime.now(timezone.utc)
        match = _RELATIVE.match(text)
        if match:
            seconds = float(match.group(1)) * _UNITS[match.group(2).lower()]
            return datetime.now(timezone.utc) - timedelta(seconds=seconds)
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            self.fail(
                f"{text!r} is not a time; use ISO 8601 (2026-11-01 or 2026-11-01T12:00:00Z), 'now', "
                "or an age such as 30m, 2h, 7d",
                param,
                ctx,
            )
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


JSON = JsonParam()
TIME = TimeParam()

RUNTIME_STATUSES = (
    "Running",
    "Pending",
    "Suspended",
    "Completed",
    "Failed",
    "Terminated",
    "Canceled",
    "ContinuedAsNew",
)


class StatusParam(click.ParamType):
    """A runtime status name, any case (``failed``, ``Failed``)."""

    name = "STATUS"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        by_lower = {s.lower(): s for s in RUNTIME_STATUSES}
        found = by_lower.get(str(value).strip().lower())
        if found is None:
            self.fail(
                f"{value!r} is not a runtime status; use one of {', '.join(RUNTIME_STATUSES)}", param, ctx
            )
        return found


STATUS = StatusParam()


def canonical_statuses(values: tuple[str, ...]) -> list[str]:
    return list(values)


# ----------------------------------------------------------------------------- output


def echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False, default=str))


def console(stderr: bool = False) -> Any:
    """A rich console; when output is not a terminal, wide enough not to wrap ids and times."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() else int(os.environ.get("COLUMNS") or 160)
    return Console(file=stream, width=width, highlight=False, soft_wrap=False)


def fmt_time(value: datetime | None) -> str:
    if value is None:
        return ""
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc)
    return value.strftime("%Y-%m-%d %H:%M:%S") + "Z"


def json_preview(value: Any, limit: int = 80) -> str:
    if value is None:
        return ""
    from .history_view import preview

    return preview(json.dumps(value, ensure_ascii=False, default=str), limit)


STATUS_STYLE = {
    "Completed": "green",
    "Failed": "red",
    "Terminated": "yellow",
    "Canceled": "yellow",
    "Running": "cyan",
    "Pending": "blue",
    "Suspended": "magenta",
    "ContinuedAsNew": "cyan",
}


def styled_status(value: str | None) -> str:
    if not value:
        return ""
    style = STATUS_STYLE.get(value)
    return f"[{style}]{value}[/{style}]" if style else value


def status_to_json(status: Any) -> dict[str, Any]:
    """``DurableOrchestrationStatus.to_json()`` plus the execution id and completion time."""
    data: dict[str, Any] = status.to_json()
    data["executionId"] = getattr(status, "execution_id", None)
    completed = getattr(status, "completed_time", None)
    data["completedTime"] = completed.strftime("%Y-%m-%dT%H:%M:%SZ") if completed else None
    return data


JSON_OPTION = click.option(
    "--json", "as_json", is_flag=True, help="Print JSON (for scripts) instead of a table."
)
ACTIVE_STATUSES = ("Running", "Pending", "Suspended")


def done(as_json: bool, data: dict[str, Any], text: str) -> None:
    """Report a finished operation: ``data`` as JSON, or ``text`` for people."""
    if as_json:
        echo_json(data)
    else:
        click.echo(text)


# ----------------------------------------------------------------------------- global state


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
            from .config import load_settings

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
        """A client for the hub; without --partitions, the partition count the hub recorded in taskhub.json."""
        from .client.client import DurableOrchestrationClient

        settings = self.settings
        client = DurableOrchestrationClient.from_connection_string(
            settings.connection_string, hub_name=settings.hub_name, partition_count=settings.partition_count
        )
        if self.partitions is None:
            try:
                info = await client.storage.leases.read_taskhub_info()
            except BaseException:
                await client.close()
                raise
            recorded = int((info or {}).get("PartitionCount") or settings.partition_count)
            if recorded != settings.partition_count:
                await client.close()
                client = DurableOrchestrationClient.from_connection_string(
                    settings.connection_string, hub_name=settings.hub_name, partition_count=recorded
                )
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


def exit_for(status: Any) -> None:
    """Exit 1 when the instance reported on has Failed."""
    runtime = status.runtime_status.value if status.runtime_status else None
    if runtime == "Failed":
        raise click.exceptions.Exit(EXIT_FAILED)
