"""``azure.durable_functions.models.DurableEntityContext``."""

from ..entities.context import DurableEntityContext

__all__ = ["DurableEntityContext"]
