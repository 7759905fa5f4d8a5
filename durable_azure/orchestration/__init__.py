"""The pure replay core: history events, the orchestration context, tasks and the executor."""

from .context import DurableOrchestrationContext
from .entity_id import EntityId
from .executor import Completion, OrchestrationResult, execute
from .long_timers import LongTimerTask, TimerLimits
from .retry import RetryOptions
from .tasks import TaskBase, TaskState, TimerTask

__all__ = [
    "Completion",
    "DurableOrchestrationContext",
    "EntityId",
    "LongTimerTask",
    "OrchestrationResult",
    "RetryOptions",
    "TaskBase",
    "TaskState",
    "TimerLimits",
    "TimerTask",
    "execute",
]
