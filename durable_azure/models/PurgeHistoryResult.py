"""``azure.durable_functions.models.PurgeHistoryResult``."""

from ..client.models import PurgeHistoryResult

__all__ = ["PurgeHistoryResult"]
