"""``azure.durable_functions.models.Task``."""

from ..orchestration.tasks import TaskBase, TaskState, TimerTask

__all__ = ["TaskBase", "TaskState", "TimerTask"]
