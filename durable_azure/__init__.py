"""durable-azure: a pure-Python Durable Task engine with the Durable Functions programming model.

``import durable_azure as df`` is a drop-in replacement for ``import azure.durable_functions as df``.

The Functions adapter (``DFApp``, ``Blueprint``, ``FunctionsDurableClient``, ``enable_azure_hosting``)
is loaded on first use, so the engine (worker, client, storage, replay core) imports without the
``azure-functions`` SDK.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .client import (
    DurableOrchestrationClient,
    DurableOrchestrationStatus,
    EntityStateResponse,
    PurgeHistoryResult,
)
from .entities.classes import Entity, Orchestrator
from .entities.context import DurableEntityContext
from .errors import (
    ActivityFailedError,
    DurableError,
    EntityOperationFailedError,
    FailureDetails,
    FunctionNotFoundError,
    InstanceAlreadyExistsError,
    InstanceNotFoundError,
    InvalidHubNameError,
    InvalidInputError,
    InvalidInstanceIdError,
    InvalidOperationError,
    NonDeterminismError,
    OperationTimeoutError,
    OrchestratorError,
    PayloadTooLargeError,
    SerializationError,
    StorageError,
    SubOrchestrationFailedError,
    TaskFailedError,
)
from .orchestration.context import DurableOrchestrationContext
from .orchestration.durable_http import DurableHttpRequest, ManagedIdentityTokenSource, TokenSource
from .orchestration.entity_id import EntityId
from .orchestration.history import EventType, OrchestrationStatus
from .orchestration.retry import RetryOptions
from .orchestration.status import OrchestrationRuntimeStatus
from .orchestration.tasks import TaskBase, TaskState, TimerTask
from .worker import TaskHubWorker

if TYPE_CHECKING:
    from .functions.app import Blueprint, DFApp
    from .functions.azure_hosting import enable_azure_hosting
    from .functions.http_client import FunctionsDurableClient

__version__ = "0.1.0"

_FUNCTIONS_ADAPTER = {
    "Blueprint": ".functions.app",
    "DFApp": ".functions.app",
    "enable_azure_hosting": ".functions.azure_hosting",
    "FunctionsDurableClient": ".functions.http_client",
}


def __getattr__(name: str) -> Any:
    """Load the Functions adapter's public names on first use (PEP 562)."""
    home = _FUNCTIONS_ADAPTER.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home, __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "ActivityFailedError",
    "Blueprint",
    "DFApp",
    "DurableEntityContext",
    "DurableError",
    "DurableHttpRequest",
    "DurableOrchestrationClient",
    "DurableOrchestrationContext",
    "DurableOrchestrationStatus",
    "Entity",
    "EntityId",
    "EntityOperationFailedError",
    "EntityStateResponse",
    "EventType",
    "FailureDetails",
    "FunctionNotFoundError",
    "FunctionsDurableClient",
    "InstanceAlreadyExistsError",
    "InstanceNotFoundError",
    "InvalidHubNameError",
    "InvalidInputError",
    "InvalidInstanceIdError",
    "InvalidOperationError",
    "ManagedIdentityTokenSource",
    "NonDeterminismError",
    "OperationTimeoutError",
    "OrchestrationRuntimeStatus",
    "OrchestrationStatus",
    "Orchestrator",
    "OrchestratorError",
    "PayloadTooLargeError",
    "PurgeHistoryResult",
    "RetryOptions",
    "SerializationError",
    "StorageError",
    "SubOrchestrationFailedError",
    "TaskBase",
    "TaskFailedError",
    "TaskHubWorker",
    "TaskState",
    "TimerTask",
    "TokenSource",
    "enable_azure_hosting",
]
