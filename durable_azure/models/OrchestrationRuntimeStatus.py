"""``azure.durable_functions.models.OrchestrationRuntimeStatus``."""

from ..orchestration.status import OrchestrationRuntimeStatus

__all__ = ["OrchestrationRuntimeStatus"]
