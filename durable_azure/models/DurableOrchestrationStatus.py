"""``azure.durable_functions.models.DurableOrchestrationStatus``."""

from ..client.models import DurableOrchestrationStatus

__all__ = ["DurableOrchestrationStatus"]
