"""Keys for the local host (``durable-azure serve``), in the manner of Functions keys.

In Azure the Functions host checks keys. Locally, ``serve`` does:

* bound to a loopback address (``127.0.0.1``, ``::1``, ``localhost``; the default) nothing outside
  the machine can connect, and no key is needed unless one is configured;
* bound to anything else (``--host 0.0.0.0``) it refuses to start without a key;
* with a key (app setting ``DURABLE_AZURE_HOST_KEY``, from the environment or
  ``local.settings.json``), every request to the management API, to the dashboard (``/durable/``) and to an
  HTTP function whose auth level is not ``anonymous`` must carry it, as ``?code=<key>`` or an
  ``x-functions-key`` header, as Functions keys are passed. Otherwise: 401 with a JSON message.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from starlette.requests import HTTPConnection
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from .api_support import error

#: The app setting holding the key ``serve`` requires (like a Functions host key).
HOST_KEY_SETTING = "DURABLE_AZURE_HOST_KEY"
#: The request header Functions reads a key from (the other place is the ``code`` query parameter).
KEY_HEADER = "x-functions-key"
_MIN_KEY_LENGTH = 16


class InsecureBindError(ValueError):
    """``serve`` was asked to listen beyond loopback without a key."""


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` keeps the server reachable from this machine only."""
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False  # a host name (or "0.0.0.0"-like wildcard written otherwise): assume reachable


@dataclass(frozen=True)
class AccessPolicy:
    """The key requests must carry (``None``: no key needed)."""

    key: str | None = None

    @property
    def requires_key(self) -> bool:
        return self.key is not None

    def authorized(self, query_code: str | None, header_key: str | None) -> bool:
        if self.key is None:
            return True
        expected = self.key.encode("utf-8")
        return any(
            candidate is not None and hmac.compare_digest(candidate.encode("utf-8"), expected)
            for candidate in (header_key, query_code)
        )

    def check(self, connection: HTTPConnection) -> Response | None:
        """``None`` if the request may go on, else the 401 to answer."""
        if self.authorized(connection.query_params.get("code"), connection.headers.get(KEY_HEADER)):
            return None
        return error(
            401,
            f"This endpoint needs the host key: pass it as ?code=<key> or an {KEY_HEADER} header "
            f"(the key is the app setting {HOST_KEY_SETTING}).",
        ).response()


def access_policy(bind_host: str, env: Mapping[str, str] | None = None) -> AccessPolicy:
    """The policy for ``serve`` listening on ``bind_host``; raises :class:`InsecureBindError` when it
    would expose the management API beyond this machine without a key."""
    values = os.environ if env is None else env
    key = (values.get(HOST_KEY_SETTING) or "").strip() or None
    if key is not None and len(key) < _MIN_KEY_LENGTH:
        raise InsecureBindError(
            f"{HOST_KEY_SETTING} is too short: use at least {_MIN_KEY_LENGTH} random characters "
            '(e.g. python -c "import secrets; print(secrets.token_urlsafe(32))").'
        )
    if key is None and not is_loopback(bind_host):
        raise InsecureBindError(
            f"Refusing to serve on {bind_host!r} without a key: that would let anyone who can reach this "
            "machine start, terminate and purge orchestrations through the management API. Set the app "
            f"setting {HOST_KEY_SETTING} (environment or local.settings.json) to a secret of at least "
            f"{_MIN_KEY_LENGTH} characters; clients then pass it as ?code=<key> or an {KEY_HEADER} header. "
            "Or serve on 127.0.0.1 (the default)."
        )
    return AccessPolicy(key)


def needs_key(auth_level: Any) -> bool:
    """Whether an HTTP function's auth level asks for a key (everything but ``anonymous``)."""
    level = str(getattr(auth_level, "value", auth_level) or "function").lower()
    return level != "anonymous"


class RequireKey:
    """ASGI middleware: HTTP requests must carry the policy's key, except to ``open_paths`` (exact
    paths relative to where the app is mounted, e.g. ``/openapi.json``)."""

    def __init__(self, app: ASGIApp, policy: AccessPolicy, open_paths: tuple[str, ...] = ()) -> None:
        self.app = app
        self.policy = policy
        self.open_paths = frozenset(open_paths)

    def _is_open(self, scope: Scope) -> bool:
        path, root = str(scope.get("path", "")), str(scope.get("root_path", ""))
        relative = path[len(root) :] if root and path.startswith(root) else path
        return relative.rstrip("/") in self.open_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.policy.requires_key and not self._is_open(scope):
            denied = self.policy.check(HTTPConnection(scope))
            if denied is not None:
                await denied(scope, receive, send)
                return
        await self.app(scope, receive, send)
