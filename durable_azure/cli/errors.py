"""Exit codes and one-line CLI errors: engine and Azure SDK exceptions mapped to what a shell script can test."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
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

    from ..errors import (
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


def exit_for(status: Any) -> None:
    """Exit 1 when the instance reported on has Failed."""
    runtime = status.runtime_status.value if status.runtime_status else None
    if runtime == "Failed":
        raise click.exceptions.Exit(EXIT_FAILED)
