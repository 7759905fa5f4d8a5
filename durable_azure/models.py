"""Model classes under the path azure-functions-durable users import them from (``azure.durable_functions.models``)."""

from .client.models import DurableOrchestrationStatus, EntityStateResponse, PurgeHistoryResult
from .errors import FailureDetails
from .orchestration.context import DurableOrchestrationContext
from .orchestration.retry import RetryOptions
from .orchestration.status import OrchestrationRuntimeStatus
from .orchestration.tasks import TaskBase, TaskState, TimerTask

__all__ = [
    "DurableOrchestrationContext",
    "DurableOrchestrationStatus",
    "EntityStateResponse",
    "FailureDetails",
    "OrchestrationRuntimeStatus",
    "PurgeHistoryResult",
    "RetryOptions",
    "TaskBase",
    "TaskState",
    "TimerTask",
]
