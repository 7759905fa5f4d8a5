"""``azure.durable_functions.models.EntityStateResponse``."""

from ..client.models import EntityStateResponse

__all__ = ["EntityStateResponse"]
