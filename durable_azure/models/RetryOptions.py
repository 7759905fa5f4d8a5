"""``azure.durable_functions.models.RetryOptions``."""

from ..orchestration.retry import RetryOptions

__all__ = ["RetryOptions"]
