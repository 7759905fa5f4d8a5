"""``durable_client_input``: hand a user function a durable client without a ``durableClient`` binding.

The Functions host only sees the function's other parameters: the wrapper's ``__signature__`` and
``__annotations__`` leave the client parameter out, and the wrapper fills it in at call time.
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable
from typing import Any

from . import runtime
from .targets import TARGET_ATTRIBUTE


def _resolved_annotations(fn: Callable[..., Any]) -> dict[str, Any]:
    """Annotations with string forms resolved in the user's module (the host evaluates them on the wrapper)."""
    try:
        return dict(typing.get_type_hints(fn))
    except Exception:
        return dict(getattr(fn, "__annotations__", {}))


def with_durable_client(
    user_fn: Callable[..., Any],
    client_name: str,
    task_hub: str | None = None,
    connection_name: str | None = None,
    registry: Callable[[], Any] | None = None,
) -> Callable[..., Any]:
    """Wrap ``user_fn`` so that its ``client_name`` parameter receives a ``FunctionsDurableClient``."""
    return _injecting(
        user_fn,
        client_name,
        lambda: runtime.client_for(task_hub, connection_name, registry=registry),
        (task_hub, connection_name),
        f"durable_client_input(client_name={client_name!r})",
    )


def with_durable_client_json(
    user_fn: Callable[..., Any], param: str, task_hub: str | None = None, connection_name: str | None = None
) -> Callable[..., Any]:
    """Wrap a v1 function so that ``param`` receives the ``durableClient`` binding's JSON string
    (what ``df.DurableOrchestrationClient(starter)`` takes)."""
    from .client_json import binding_json

    return _injecting(
        user_fn,
        param,
        lambda: binding_json(task_hub, connection_name),
        (task_hub, connection_name),
        "the durableClient binding",
    )


def _injecting(
    user_fn: Callable[..., Any],
    client_name: str,
    make: Callable[[], Any],
    target: tuple[str | None, str | None],
    what: str,
) -> Callable[..., Any]:
    signature = inspect.signature(user_fn)
    if client_name not in signature.parameters:
        raise ValueError(f"{what}: function {user_fn.__name__!r} has no parameter named {client_name!r}.")

    @functools.wraps(user_fn)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        kwargs[client_name] = make()
        result = user_fn(*args, **kwargs)
        if inspect.isawaitable(result):
            result = await result
        return result

    kept = [p for name, p in signature.parameters.items() if name != client_name]
    annotations = {k: v for k, v in _resolved_annotations(user_fn).items() if k != client_name}
    wrapper.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=kept, return_annotation=annotations.get("return", signature.return_annotation)
    )
    wrapper.__annotations__ = annotations
    del wrapper.__wrapped__  # the host must not unwrap to the user's signature
    wrapper.client_function = user_fn  # type: ignore[attr-defined]  # DF 1.7 test hook
    # The hub/connection this binding uses: the management API accepts them in taskHub=/connection=.
    setattr(wrapper, TARGET_ATTRIBUTE, target)
    return wrapper
