"""Server spans for an ASGI app (the DF HTTP management API of the local host), when telemetry is on.

A request that starts an orchestration through the management API gets a server span continuing the
caller's ``traceparent``; the client's ``create_orchestration`` span becomes its child, as with an
HTTP starter function. With telemetry off the wrapper only checks :func:`~.hooks.active`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from .hooks import active

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def traced(app: ASGIApp, route: str, function_name: str) -> ASGIApp:
    """``app`` with a server span ``{METHOD} {route}`` around each HTTP request."""

    async def wrapper(scope: Scope, receive: Receive, send: Send) -> None:
        tel = active()
        if tel is None or scope.get("type") != "http":
            await app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", [])}
        status: list[int] = []

        async def send_status(message: Message) -> None:
            if message.get("type") == "http.response.start":
                status.append(int(message.get("status", 0)))
            await send(message)

        method = str(scope.get("method", "GET"))
        with tel.http_request(
            method, route.lstrip("/"), str(scope.get("path", "")), headers, function_name
        ) as span:
            await app(scope, receive, send_status)
            if status:
                span.set_attribute("http.response.status_code", status[0])

    return wrapper
