"""``azure.durable_functions.models.DurableHttpRequest``."""

from ..orchestration.durable_http import DurableHttpRequest

__all__ = ["DurableHttpRequest"]
