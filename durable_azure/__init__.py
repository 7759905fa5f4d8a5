"""durable-azure: a pure-Python Durable Task engine with the Durable Functions programming model.

``import durable_azure as df`` is a drop-in replacement for ``import azure.durable_functions as df``.
"""

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
    FunctionNotFoundError,
    InstanceAlreadyExistsError,
    InstanceNotFoundError,
    InvalidHubNameError,
    InvalidInstanceIdError,
    InvalidOperationError,
    NonDeterminismError,
    OrchestratorError,
    PayloadTooLargeError,
    SerializationError,
    StorageError,
    SubOrchestrationFailedError,
    TaskFailedError,
)
from .functions.app import Blueprint, DFApp
from .functions.azure_hosting import enable_azure_hosting
from .functions.http_client import FunctionsDurableClient
from .orchestration.context import DurableOrchestrationContext
from .orchestration.entity_id import EntityId
from .orchestration.history import EventType, FailureDetails, OrchestrationStatus
from .orchestration.retry import RetryOptions
from .orchestration.status import OrchestrationRuntimeStatus
from .orchestration.tasks import TaskBase, TaskState, TimerTask
from .worker import TaskHubWorker

__version__ = "0.1.0"

__all__ = [
    "ActivityFailedError",
    "Blueprint",
    "DFApp",
    "DurableEntityContext",
    "DurableError",
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
    "InvalidInstanceIdError",
    "InvalidOperationError",
    "NonDeterminismError",
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
    "enable_azure_hosting",
]
