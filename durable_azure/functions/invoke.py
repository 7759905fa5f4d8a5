"""Invoking user functions like the Python worker does: build the trigger argument, call, map the result."""

from __future__ import annotations

import inspect
import json
import threading
import uuid
from collections.abc import Callable
from typing import Any

import azure.functions as func
from azure.functions.decorators.core import BindingDirection
from azure.functions.decorators.function_app import Function
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from ..orchestration import serialization
from .urls import encode_path, encode_query, origin_of
from .waits import attach_disconnect_waiter, disconnect_waiter


class InvocationContext(func.Context):
    """The ``context`` argument a function may declare."""

    def __init__(self, function_name: str, function_directory: str) -> None:
        self._invocation_id = str(uuid.uuid4())
        self._function_name = function_name
        self._function_directory = function_directory
        self._local = threading.local()

    @property
    def invocation_id(self) -> str:
        return self._invocation_id

    @property
    def thread_local_storage(self) -> Any:
        return self._local

    @property
    def function_name(self) -> str:
        return self._function_name

    @property
    def function_directory(self) -> str:
        return self._function_directory

    @property
    def trace_context(self) -> Any:
        return None

    @property
    def retry_context(self) -> Any:
        return None


class Out:
    """A ``func.Out`` for output bindings: remembers what was set."""

    def __init__(self) -> None:
        self.value: Any = None

    def set(self, val: Any) -> None:
        self.value = val

    def get(self) -> Any:
        return self.value


class UnsupportedBindingError(RuntimeError):
    """The function needs a binding the local host does not provide."""


def _is_output(binding: Any) -> bool:
    """An output binding (``direction`` is ``BindingDirection.OUT`` or its value 1 on built bindings)."""
    direction = getattr(binding, "direction", None)
    if direction in (BindingDirection.OUT, BindingDirection.OUT.value):
        return True
    return str(direction).lower().endswith("out")


def _binding_kwargs(
    function: Function, trigger_value: Any, app_dir: str
) -> tuple[dict[str, Any], dict[str, Out]]:
    """Arguments for the user function: the trigger, ``context`` and ``Out`` holders for outputs."""
    user = function.get_user_function()
    params = inspect.signature(user).parameters
    trigger: Any = function.get_trigger()
    kwargs: dict[str, Any] = {}
    outs: dict[str, Out] = {}
    bindings = {b.name: b for b in function.get_bindings()}
    for name in params:
        if name == trigger.name:
            kwargs[name] = trigger_value
        elif name == "context":
            kwargs[name] = InvocationContext(str(function.get_function_name()), app_dir)
        elif name in bindings and _is_output(bindings[name]):
            outs[name] = kwargs[name] = Out()
        elif params[name].default is inspect.Parameter.empty:
            kind = getattr(bindings.get(name), "type", "unknown")
            raise UnsupportedBindingError(
                f"Function '{function.get_function_name()}' needs a '{kind}' binding for parameter "
                f"'{name}', which `durable-azure serve` does not provide."
            )
    return kwargs, outs


async def call_user_function(user: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
    """Await ``async def`` functions on the loop; run sync ones in the thread pool."""
    if inspect.iscoroutinefunction(user):
        return await user(**kwargs)
    result = await run_in_threadpool(user, **kwargs)
    if inspect.isawaitable(result):
        result = await result
    return result


def encoded_url(request: Request) -> str:
    """The request's URL with its path and query percent-encoded as they came in (never decoded)."""
    raw_path = request.scope.get("raw_path")
    if isinstance(raw_path, bytes) and raw_path:
        path = encode_query(raw_path.decode("latin-1"))  # as sent; only non-URL characters get encoded
    else:
        path = encode_path(request.scope["path"])
    query = request.scope.get("query_string", b"").decode("latin-1")
    return origin_of(str(request.url)) + path + (f"?{encode_query(query)}" if query else "")


async def to_http_request(request: Request, route_params: dict[str, str]) -> func.HttpRequest:
    """A Starlette request as the ``func.HttpRequest`` the Python worker would build.

    ``url`` is percent-encoded (as the Functions host passes it); ``route_params`` hold decoded
    values. Code that waits (``wait_for_completion_or_create_check_status_response``) can notice
    the client disconnecting.
    """
    headers: dict[str, str] = {}
    for key, value in request.headers.items():
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    params: dict[str, str] = {}
    for key, value in request.query_params.multi_items():
        params.setdefault(key, value)
    req = func.HttpRequest(
        method=request.method,
        url=encoded_url(request),
        headers=headers,
        params=params,
        route_params=route_params,
        body=await request.body(),
    )
    attach_disconnect_waiter(req, disconnect_waiter(request.receive))
    return req


def to_starlette_response(result: Any) -> Response:
    """Map what an HTTP function returned to a response, as the host does."""
    if isinstance(result, func.HttpResponse):
        headers = dict(result.headers.items())
        if not any(k.lower() == "content-type" for k in headers):
            headers["Content-Type"] = f"{result.mimetype}; charset={result.charset}"
        return Response(result.get_body(), status_code=result.status_code, headers=headers)
    if result is None:
        return Response(status_code=204)
    if isinstance(result, bytes):
        return Response(result, media_type="application/octet-stream")
    if isinstance(result, str):
        return Response(result, media_type="text/plain")
    return Response(json.dumps(result, default=serialization.json_default), media_type="application/json")


async def invoke_http(
    function: Function, request: Request, route_params: dict[str, str], app_dir: str
) -> Response:
    """Run an HTTP function for one request."""
    req = await to_http_request(request, route_params)
    kwargs, outs = _binding_kwargs(function, req, app_dir)
    result = await call_user_function(function.get_user_function(), kwargs)
    if result is None:
        for out in outs.values():
            if isinstance(out.value, (func.HttpResponse, str, bytes)):
                result = out.value
                break
    return to_starlette_response(result)


async def invoke_timer(function: Function, timer: Any, app_dir: str) -> None:
    """Run a timer function once."""
    kwargs, _ = _binding_kwargs(function, timer, app_dir)
    await call_user_function(function.get_user_function(), kwargs)
