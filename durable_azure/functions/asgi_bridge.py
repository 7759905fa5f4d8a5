"""Call an ASGI app with an ``azure.functions.HttpRequest`` and get an ``HttpResponse`` back."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any
from urllib.parse import unquote, urlsplit

import azure.functions as func
from starlette.types import ASGIApp, Message

from .urls import encode_path, encode_query
from .waits import disconnect_waiter_of


def _header_bytes(text: str) -> bytes:
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:  # the Functions host hands over str; keep what it decoded
        return text.encode("utf-8")


async def _until_over(request: func.HttpRequest, over: asyncio.Event) -> None:
    """Wait until the response has gone out, or (under ``serve``) the client disconnected."""
    waiter = disconnect_waiter_of(request)
    if waiter is None:
        await over.wait()
        return
    tasks = {asyncio.ensure_future(over.wait()), asyncio.ensure_future(waiter())}
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


async def call_asgi(
    app: ASGIApp, request: func.HttpRequest, *, root_path: str = "", path: str | None = None
) -> func.HttpResponse:
    """Run one request through ``app`` as if it were mounted at ``root_path`` (e.g. ``/api/durabletask``).

    ``path`` is the decoded request path (route values are decoded exactly once by the host that
    matched the route); it is used as is, never decoded again. Without it, the URL's path is decoded
    once. The request's URL only supplies the scheme, host and query string.
    """
    url = urlsplit(request.url)
    scheme = url.scheme or "https"
    port = url.port or (443 if scheme == "https" else 80)
    if path is None:
        path = unquote(url.path)
    path = path or "/"
    headers = [(k.lower().encode("latin-1"), _header_bytes(str(v))) for k, v in request.headers.items()]
    if not any(k == b"host" for k, _ in headers) and url.hostname:
        headers.append((b"host", _header_bytes(url.netloc)))
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": request.method.upper(),
        "scheme": scheme,
        "path": path,
        "raw_path": encode_path(path).encode("ascii"),
        "root_path": root_path.rstrip("/"),
        "query_string": encode_query(url.query).encode("ascii"),
        "headers": headers,
        "server": (url.hostname or "localhost", port),
        "client": None,
    }
    body = request.get_body() or b""
    sent = False
    over = asyncio.Event()

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await _until_over(request, over)  # as a server does: disconnect comes when the exchange ends
        return {"type": "http.disconnect"}

    status = 500
    response_headers: dict[str, str] = {}
    chunks: list[bytes] = []

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = int(message["status"])
            for key, value in message.get("headers", []):
                name = key.decode("latin-1")
                text = value.decode("latin-1")
                response_headers[name] = (
                    f"{response_headers[name]}, {text}" if name in response_headers else text
                )
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    try:
        await app(scope, receive, send)
    finally:
        over.set()
    content_type = response_headers.get("content-type")
    mimetype = content_type.split(";")[0].strip() if content_type else None
    return func.HttpResponse(
        b"".join(chunks), status_code=status, headers=response_headers, mimetype=mimetype
    )
