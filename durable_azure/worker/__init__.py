"""The runtime: partition leases, the orchestration and activity dispatchers, the worker."""

from .worker import TaskHubWorker

__all__ = ["TaskHubWorker"]
