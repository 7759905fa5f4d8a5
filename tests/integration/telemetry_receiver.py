"""A local stand-in for Application Insights' ingestion endpoint and an OTLP/HTTP collector.

Starlette app served by uvicorn in a thread; it records every POST (gzip-decoded) and answers as
the services do. Application Insights bodies are JSON arrays of envelopes; OTLP bodies are protobuf,
kept as bytes with their path (``/v1/traces``, ``/v1/metrics``, ``/v1/logs``).
"""

from __future__ import annotations

import gzip
import json
import socket
import threading
import time
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Receiver:
    def __init__(self) -> None:
        self.port = free_port()
        self.envelopes: list[dict[str, Any]] = []
        self.otlp: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()
        app = Starlette(routes=[Route("/{path:path}", self._post, methods=["POST"])])
        self._server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        )
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _post(self, request: Request) -> Response:
        body = await request.body()
        if request.headers.get("content-encoding", "").lower() == "gzip":
            body = gzip.decompress(body)
        path = "/" + request.path_params["path"]
        if path.endswith("/track"):
            items = json.loads(body)
            items = items if isinstance(items, list) else [items]
            with self._lock:
                self.envelopes.extend(items)
            return JSONResponse({"itemsReceived": len(items), "itemsAccepted": len(items), "errors": []})
        with self._lock:
            self.otlp.append((path, body))
        return Response(b"", media_type="application/x-protobuf")

    def __enter__(self) -> Receiver:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the receiver did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
