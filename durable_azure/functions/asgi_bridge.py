"""Call an ASGI app with an ``azure.functions.HttpRequest`` and get an ``HttpResponse`` back."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlsplit

import azure.functions as func
from starlette.types import ASGIApp, Message


async def call_asgi(app: ASGIApp, request: func.HttpRequest, *, root_path: str = "") -> func.HttpResponse:
    """Run one request through ``app`` as if it were mounted at ``root_path`` (e.g. ``/api/durabletask``)."""
    url = urlsplit(request.url)
    scheme = url.scheme or "https"
    port = url.port or (443 if scheme == "https" else 80)
    path = unquote(url.path) or "/"
    headers = [(k.lower().encode("latin-1"), str(v).encode("latin-1")) for k, v in request.headers.items()]
    if not any(k == b"host" for k, _ in headers) and url.hostname:
        headers.append((b"host", url.netloc.encode("latin-1")))
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": request.method.upper(),
        "scheme": scheme,
        "path": path,
        "raw_path": url.path.encode("latin-1"),
        "root_path": root_path.rstrip("/"),
        "query_string": url.query.encode("latin-1"),
        "headers": headers,
        "server": (url.hostname or "localhost", port),
        "client": None,
    }
    body = request.get_body() or b""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
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

    await app(scope, receive, send)
    content_type = response_headers.get("content-type")
    mimetype = content_type.split(";")[0].strip() if content_type else None
    return func.HttpResponse(
        b"".join(chunks), status_code=status, headers=response_headers, mimetype=mimetype
    )
