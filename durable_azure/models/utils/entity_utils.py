"""``azure.durable_functions.models.utils.entity_utils``: ``EntityId``."""

from ...orchestration.entity_id import EntityId

__all__ = ["EntityId"]
