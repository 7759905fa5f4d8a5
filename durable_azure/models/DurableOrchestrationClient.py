"""``azure.durable_functions.models.DurableOrchestrationClient``."""

from ..client.client import DurableOrchestrationClient

__all__ = ["DurableOrchestrationClient"]
