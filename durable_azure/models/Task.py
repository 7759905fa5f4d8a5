"""``azure.durable_functions.models.Task``."""

from ..orchestration.long_timers import LongTimerTask
from ..orchestration.tasks import TaskBase, TaskState, TimerTask

__all__ = ["LongTimerTask", "TaskBase", "TaskState", "TimerTask"]
