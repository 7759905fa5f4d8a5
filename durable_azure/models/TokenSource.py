"""``azure.durable_functions.models.TokenSource``."""

from ..orchestration.durable_http import ManagedIdentityTokenSource, TokenSource

__all__ = ["ManagedIdentityTokenSource", "TokenSource"]
