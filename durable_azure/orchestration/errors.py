"""The exception tree. Every error durable-azure raises derives from :class:`DurableError`."""

from __future__ import annotations

from .history import FailureDetails


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
