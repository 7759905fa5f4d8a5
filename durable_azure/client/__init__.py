"""The client API: start, query and manage orchestration instances and entities."""

from .client import DurableOrchestrationClient
from .models import DurableOrchestrationStatus, EntityStateResponse, PurgeHistoryResult

__all__ = [
    "DurableOrchestrationClient",
    "DurableOrchestrationStatus",
    "EntityStateResponse",
    "PurgeHistoryResult",
]
