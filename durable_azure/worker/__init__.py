"""The engine: partition leases, the orchestration, activity and entity dispatchers, the worker."""

from .worker import TaskHubWorker

__all__ = ["TaskHubWorker"]
