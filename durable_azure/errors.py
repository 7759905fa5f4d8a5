"""The exception tree (every error durable-azure raises derives from :class:`DurableError`) and the DTFx failure details a failed task carries."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class FailureDetails:
    """DTFx ``FailureDetails``: the original error's type, message and stack text."""

    error_type: str
    error_message: str
    stack_trace: str | None = None
    inner_failure: FailureDetails | None = None
    is_non_retriable: bool = False

    def __str__(self) -> str:
        """DTFx ``FailureDetails.ToString()``: ``{ErrorType}: {ErrorMessage}`` (a failed instance's
        Instances ``Output``, as plain text, not JSON)."""
        return f"{self.error_type}: {self.error_message}"

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "ErrorType": self.error_type,
            "ErrorMessage": self.error_message,
            "StackTrace": self.stack_trace,
            "InnerFailure": self.inner_failure.to_json_dict() if self.inner_failure else None,
            "IsNonRetriable": self.is_non_retriable,
            "Properties": None,
        }

    @classmethod
    def from_json_dict(cls, data: dict[str, Any] | None) -> FailureDetails | None:
        if not data:
            return None
        return cls(
            error_type=str(data.get("ErrorType") or ""),
            error_message=str(data.get("ErrorMessage") or ""),
            stack_trace=data.get("StackTrace"),
            inner_failure=cls.from_json_dict(data.get("InnerFailure")),
            is_non_retriable=bool(data.get("IsNonRetriable", False)),
        )


class DurableError(Exception):
    """Root of every durable-azure error."""


class SerializationError(DurableError, TypeError):
    """A value could not be converted to or from JSON."""


class NonDeterminismError(DurableError):
    """Replayed orchestrator code asked for something other than what history recorded."""


class OrchestratorError(DurableError):
    """The orchestrator function is not usable (for example ``async def`` or not a generator)."""


class TaskFailedError(DurableError):
    """A durable task failed; keeps the original error's type name, message and stack text."""

    kind = "Task"

    def __init__(self, name: str, failure: FailureDetails) -> None:
        self.name = name
        self.failure_details = failure
        super().__init__(f"{self.kind} '{name}' failed: {failure.error_type}: {failure.error_message}")

    @property
    def error_type(self) -> str:
        """Type name of the original exception, e.g. ``'ValueError'``."""
        return self.failure_details.error_type

    @property
    def message(self) -> str:
        """Message of the original exception."""
        return self.failure_details.error_message

    @property
    def stack_trace(self) -> str | None:
        """Formatted stack trace of the original exception, when known."""
        return self.failure_details.stack_trace


class ActivityFailedError(TaskFailedError):
    """An activity raised (after any retries)."""

    kind = "Activity"


class SubOrchestrationFailedError(TaskFailedError):
    """A sub-orchestration failed (after any retries)."""

    kind = "Sub-orchestration"


class EntityOperationFailedError(TaskFailedError):
    """An entity operation called from an orchestration raised."""

    kind = "Entity operation"


class StorageError(DurableError):
    """Azure Storage could not do what was asked."""


class SplitBrainError(StorageError):
    """Another writer changed the instance since it was read (409/412 on an ETag-guarded write)."""


class CorruptMessageError(StorageError):
    """A queue message could not be decoded (not JSON, unknown event type, missing fields)."""


class InvalidHubNameError(DurableError, ValueError):
    """A task hub name breaks the Azure naming rules."""


class InvalidInstanceIdError(DurableError, ValueError):
    """An instance id breaks the Durable Functions rules."""


class InstanceNotFoundError(DurableError, LookupError):
    """No orchestration instance has that id."""


class InstanceAlreadyExistsError(DurableError):
    """An instance with that id is still running."""


class InvalidOperationError(DurableError):
    """The operation does not apply to the instance in its current state."""


class FunctionNotFoundError(DurableError, LookupError):
    """No orchestrator, activity or entity is registered under that name."""


class PayloadTooLargeError(DurableError, ValueError):
    """A value is larger than durable-azure can store."""


class InvalidInputError(DurableError, ValueError):
    """An argument breaks a documented limit: an empty or over-long name, a reason that is not a
    string, a wait time that is not a finite positive number of seconds."""


class OperationTimeoutError(DurableError, TimeoutError):
    """An instance did not reach the awaited state in time (it may still get there later)."""


class EngineNotRunningError(DurableError):
    """A work item reached a Functions worker process whose engine is not running (it did not come
    up in time, or it is stopping); the Functions host delivers it again (its queue trigger retries)."""


class AppDefinitionError(DurableError, ValueError):
    """A function app cannot be loaded as written: a ``function.json`` that is not valid JSON, has no
    single trigger, or names a script or entry point that does not exist (the message says which)."""


class VersionMismatchError(DurableError):
    """An orchestration's version is one this worker may not run (host.json ``versionMatchStrategy``);
    with ``versionFailureStrategy`` ``Fail`` the instance fails with it."""


class DurableHttpError(DurableError):
    """A durable HTTP request (``context.call_http``) could not be sent or got no answer: the host
    is unreachable, the connection failed or timed out, or no token could be had."""
