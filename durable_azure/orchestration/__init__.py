"""The pure replay core: history events, the orchestration context, tasks and the executor."""

from .context import DurableOrchestrationContext
from .entity_id import EntityId
from .executor import Completion, OrchestrationResult, execute
from .retry import RetryOptions
from .tasks import TaskBase, TaskState, TimerTask

__all__ = [
    "Completion",
    "DurableOrchestrationContext",
    "EntityId",
    "OrchestrationResult",
    "RetryOptions",
    "TaskBase",
    "TaskState",
    "TimerTask",
    "execute",
]
