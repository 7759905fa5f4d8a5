"""``DurableRegistry``: an app's orchestrators, activities and entities by registered name.

The engine's only view of user code. It imports nothing from Azure, so the worker, the client and
the replay core load without the Functions SDK; ``DFApp``/``Blueprint`` build one from their
decorators, and a plain registry can be filled by hand.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class DurableRegistry:
    """Durable functions of an app by registered name."""

    orchestrators: dict[str, Callable[..., Any]] = field(default_factory=dict)
    activities: dict[str, Callable[..., Any]] = field(default_factory=dict)
    activity_input_names: dict[str, str] = field(default_factory=dict)
    entities: dict[str, Callable[..., Any]] = field(default_factory=dict)

    def entity(self, name: str) -> Callable[..., Any] | None:
        """Entity names are case-insensitive, as in Durable Functions."""
        return self.entities.get(name) or self.entities.get(name.lower())


def registry_of(app: Any) -> DurableRegistry:
    """Accept a ``DFApp``/``Blueprint`` (anything with ``durable_registry()``) or a ready ``DurableRegistry``."""
    if isinstance(app, DurableRegistry):
        return app
    make = getattr(app, "durable_registry", None)
    if callable(make):
        registry = make()
        if isinstance(registry, DurableRegistry):
            return registry
    raise TypeError(f"Expected a DFApp, Blueprint or DurableRegistry, got {type(app).__name__}.")
