"""Durable HTTP (``context.call_http``) as Durable Functions records it.

Each request is an activity named ``BuiltIn::HttpActivity`` whose input is ``[request]`` (the
Durable extension's ``DurableHttpRequest`` JSON) and whose result is a ``DurableHttpResponse``
(``{"statusCode", "headers", "content"}``), so history shows the calls exactly as Durable Functions
does. A ``202 Accepted`` with a ``Location`` header is polled, as the extension does: a durable timer
(``Retry-After`` seconds, else 30 s), then a ``GET`` of the location with the same headers (without
``x-functions-key``) and token source, until another status arrives. The worker runs the requests
(:mod:`durable_azure.worker.durable_http`); this module is pure.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import urljoin, urlsplit

from ..errors import InvalidInputError
from .tasks import CompoundTask, TaskBase, TimerSource, TimerTask

#: The activity name Durable Functions records for durable HTTP requests.
HTTP_ACTIVITY_NAME = "BuiltIn::HttpActivity"
#: Seconds between polls of a 202 without ``Retry-After`` (the extension's
#: ``DefaultAsyncRequestSleepTimeMilliseconds``).
DEFAULT_POLL_SECONDS = 30.0
#: The longest ``Retry-After`` honoured: a week (a larger one would overflow the timer's date).
MAX_POLL_DELAY_SECONDS = 7 * 24 * 3600
_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE"})


class TokenSource:
    """Where a durable HTTP request gets an OAuth bearer token (as in Durable Functions)."""

    def to_json(self) -> dict[str, Any]:
        raise NotImplementedError


class ManagedIdentityTokenSource(TokenSource):
    """A token for ``resource`` from the app's Azure identity (managed identity in Azure).

    The worker asks azure-identity's ``DefaultAzureCredential`` for it (``pip install
    'durable-azure[identity]'``); tests and other hosts can install their own provider with
    :func:`durable_azure.worker.durable_http.set_token_provider`.
    """

    def __init__(self, resource: str) -> None:
        if not isinstance(resource, str) or not resource:
            raise InvalidInputError("ManagedIdentityTokenSource needs the resource (a URL) as a string.")
        self._resource = resource
        self._kind = "AzureManagedIdentity"

    @property
    def resource(self) -> str:
        return self._resource

    def to_json(self) -> dict[str, Any]:
        return {"resource": self._resource, "kind": self._kind}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ManagedIdentityTokenSource) and other.resource == self.resource

    def __hash__(self) -> int:
        return hash(self._resource)


@dataclass(frozen=True)
class DurableHttpRequest:
    """One durable HTTP request (the Durable extension's ``DurableHttpRequest``)."""

    method: str
    uri: str
    content: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    token_source: dict[str, Any] | None = None  # the token source's JSON
    asynchronous_pattern_enabled: bool = True

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "uri": self.uri,
            "headers": dict(self.headers),
            "content": self.content,
            "tokenSource": self.token_source,
            "asynchronousPatternEnabled": self.asynchronous_pattern_enabled,
        }

    @classmethod
    def from_json(cls, data: Any) -> DurableHttpRequest:
        """From the activity input: ``[request]`` (as recorded) or the request object itself."""
        if isinstance(data, list) and len(data) == 1:
            data = data[0]
        if not isinstance(data, dict):
            raise InvalidInputError(f"Not a durable HTTP request: {data!r:.200}")
        headers = data.get("headers") or {}
        return cls(
            method=str(data.get("method") or "GET"),
            uri=str(data.get("uri") or ""),
            content=data.get("content"),
            headers={str(k): _one_value(v) for k, v in headers.items()},
            token_source=data.get("tokenSource"),
            asynchronous_pattern_enabled=bool(data.get("asynchronousPatternEnabled", True)),
        )

    def poll(self, location: str) -> DurableHttpRequest:
        """The GET of a 202's ``Location`` (same headers but ``x-functions-key``, same token source).

        A relative ``Location`` (RFC 9110 allows one) is resolved against this request's URL."""
        headers = {k: v for k, v in self.headers.items() if k.lower() != "x-functions-key"}
        try:
            uri = urljoin(self.uri, location)
        except ValueError:  # not a URL (say "http://[::1"): the poll fails with a clear error instead
            uri = location
        return DurableHttpRequest("GET", uri, None, headers, self.token_source, True)


def _one_value(value: Any) -> str:
    """A header value: DF writes one value as a string and several as an array."""
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def header(response: dict[str, Any], name: str) -> str | None:
    """A response header, looked up case-insensitively."""
    headers = response.get("headers") or {}
    for key, value in headers.items():
        if str(key).lower() == name.lower():
            return _one_value(value)
    return None


def check_request(method: Any, uri: Any, headers: Any) -> tuple[str, str, dict[str, str]]:
    """``(METHOD, uri, headers)`` checked before anything is recorded (else :class:`InvalidInputError`)."""
    if not isinstance(method, str) or method.upper() not in _METHODS:
        raise InvalidInputError(
            f"call_http: unsupported HTTP method {method!r}; use one of {sorted(_METHODS)}."
        )
    if not isinstance(uri, str):
        raise InvalidInputError(f"call_http: the uri must be a string, not {type(uri).__name__}.")
    try:
        parts = urlsplit(uri)
    except ValueError:  # "http://[::1"
        raise InvalidInputError(f"call_http: {uri!r} is not an absolute http:// or https:// URL.") from None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidInputError(f"call_http: {uri!r} is not an absolute http:// or https:// URL.")
    if headers is None:
        headers = {}
    if not isinstance(headers, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
    ):
        raise InvalidInputError("call_http: headers must be a dict of strings to strings.")
    return method.upper(), uri, dict(headers)


def _poll_delay(response: dict[str, Any]) -> float:
    """``Retry-After`` seconds (ASCII digits; at most :data:`MAX_POLL_DELAY_SECONDS`), else 30 s.
    Whatever a server sends, this never raises: it runs inside the replay."""
    retry_after = (header(response, "Retry-After") or "").strip()
    if retry_after.isascii() and retry_after.isdigit():
        return float(min(int(retry_after), MAX_POLL_DELAY_SECONDS))
    return DEFAULT_POLL_SECONDS


class DurableHttpTask(CompoundTask):
    """``call_http``'s task: the request, then (for 202 + Location) durable timers and polls."""

    __slots__ = ("_next", "_request", "_schedule", "_timers")

    def __init__(
        self,
        timers: TimerSource,
        request: DurableHttpRequest,
        schedule: Callable[[DurableHttpRequest], TaskBase],
    ) -> None:
        super().__init__([])
        self._timers = timers
        self._request = request
        self._schedule = schedule
        self._next: DurableHttpRequest | None = None
        self._send(request)

    def _send(self, request: DurableHttpRequest) -> None:
        task = self._schedule(request)
        self.children.append(task)
        task._add_parent(self)

    def _child_done(self, child: TaskBase) -> None:
        if self.is_completed:
            return
        if isinstance(child, TimerTask):
            assert self._next is not None
            self._send(self._next)
            return
        if child.is_faulted:
            self._fail(child.result)
            return
        response = child.result
        if (
            self._request.asynchronous_pattern_enabled
            and isinstance(response, dict)
            and response.get("statusCode") == 202
        ):
            location = header(response, "Location")
            if location:
                self._next = self._request.poll(location)
                timer = self._timers.create_timer(self._timers.now + timedelta(seconds=_poll_delay(response)))
                self.children.append(timer)
                timer._add_parent(self)
                return
        self._succeed(response)
