"""Which task hubs and storage connections an HTTP caller may name with ``taskHub=`` / ``connection=``.

Durable Functions lets every management URL name another hub or connection. Taken on trust, that
lets anyone create hubs in the app's storage account (a start or an event creates the hub it
targets) and probe app settings by name (a missing one answered differently). Here a caller may
only name the pairs the app itself uses: its configured hub on its own storage, and the
``task_hub``/``connection_name`` pairs of its ``durable_client_input`` bindings. Anything else is
one 400, worded the same whether or not such a setting exists, before any storage is touched.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .api_support import ApiError, argument_error

#: Connection names that mean the app's own storage account (as ``runtime.resolve_connection`` reads them).
DEFAULT_CONNECTION_NAMES = frozenset({"", "storage", "azurewebjobsstorage"})
#: Attribute ``durable_client_input`` puts on the wrapped function: its ``(task_hub, connection_name)``.
TARGET_ATTRIBUTE = "durable_client_target"


def _connection_key(name: str | None) -> str:
    key = (name or "").strip().lower()
    return "" if key in DEFAULT_CONNECTION_NAMES else key


@dataclass(frozen=True)
class AppTargets:
    """The (hub, connection) pairs an app's clients use; hub names compare case-insensitively."""

    hub_name: str
    pairs: frozenset[tuple[str, str]]

    @classmethod
    def of(cls, hub_name: str, bindings: Iterable[tuple[str | None, str | None]] = ()) -> AppTargets:
        pairs = {(hub_name.lower(), "")}
        for task_hub, connection in bindings:
            pairs.add(((task_hub or hub_name).lower(), _connection_key(connection)))
        return cls(hub_name, frozenset(pairs))

    def allows(self, task_hub: str | None, connection: str | None) -> bool:
        return ((task_hub or self.hub_name).lower(), _connection_key(connection)) in self.pairs

    def check(self, task_hub: str | None, connection: str | None) -> None:
        """Raise a 400 :class:`ApiError` unless the app uses this hub on this connection."""
        if self.allows(task_hub, connection):
            return
        named = []
        if task_hub:
            named.append(f"taskHub '{task_hub}'")
        if connection:
            named.append(f"connection '{connection}'")
        raise _not_allowed(" with ".join(named), self.hub_name)


def _not_allowed(what: str, hub_name: str) -> ApiError:
    return argument_error(
        f"This app does not serve {what}: only its own task hub ('{hub_name}', connection 'Storage') "
        "and the hubs and connections its durable client bindings name may be used."
    )


def binding_targets(user_functions: Iterable[Any]) -> list[tuple[str | None, str | None]]:
    """The ``(task_hub, connection_name)`` of every ``durable_client_input`` among ``user_functions``."""
    found = []
    for function in user_functions:
        target = getattr(function, TARGET_ATTRIBUTE, None)
        if isinstance(target, tuple) and len(target) == 2:
            found.append((target[0], target[1]))
    return found


def app_user_functions(app: Any) -> list[Any]:
    """The user functions of a ``FunctionApp`` (a ``DFApp``), durable ones included."""
    functions = []
    for builder in getattr(app, "_function_builders", []):
        function = getattr(builder, "_function", None)
        if function is not None:
            functions.append(function.get_user_function())
    return functions
