"""``DurableOrchestrationClient(starter)``: a client from the ``durableClient`` binding's JSON string.

v1 apps (``function.json``) receive their durable client binding as a JSON string and build the
client with ``df.DurableOrchestrationClient(starter)``. The client layer cannot know how a Functions
host reaches its task hub, so the host layer registers a factory (:func:`set_binding_factory`) and
:class:`BindingAwareClientType` hands the string to it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import InvalidOperationError

_factories: list[Callable[[str], Any]] = []


def set_binding_factory(factory: Callable[[str], Any]) -> None:
    """Install the function that turns a binding JSON string into a client (the Functions host's)."""
    _factories[:] = [factory]


class BindingAwareClientType(type):
    """Metaclass: calling the client class with one string argument builds it from binding JSON."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        if len(args) == 1 and not kwargs and isinstance(args[0], str):
            if not _factories:
                raise InvalidOperationError(
                    "DurableOrchestrationClient(starter) builds a client from a durableClient binding, "
                    "which only a durable-azure host provides (`durable-azure serve`, `worker`, or an app "
                    "with enable_azure_hosting); elsewhere use "
                    "DurableOrchestrationClient.from_connection_string(...)."
                )
            return _factories[0](args[0])
        return super().__call__(*args, **kwargs)
