"""``azure.durable_functions.models.DurableOrchestrationContext``."""

from ..orchestration.context import DurableOrchestrationContext

__all__ = ["DurableOrchestrationContext"]
