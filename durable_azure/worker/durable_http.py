"""The built-in activity behind ``context.call_http``: send one durable HTTP request.

Requests go through azure-core's async pipeline on its aiohttp transport (already our storage
transport), with redirects followed as .NET's ``HttpClient`` does and no retries (a durable HTTP
call is retried only when the orchestrator asks). Like the Durable extension's ``HttpActivity``:
a request with content and no ``Content-Type`` is sent as ``text/plain``; a token source adds
``Authorization: Bearer``; any HTTP status is a result; a host that cannot be reached (or that does
not answer within :data:`REQUEST_TIMEOUT_SECONDS`) fails the activity with :class:`DurableHttpError`.

Tokens for :class:`~durable_azure.orchestration.durable_http.ManagedIdentityTokenSource` come from
azure-identity's ``DefaultAzureCredential`` (imported on first use: ``pip install
'durable-azure[identity]'``), or from the provider installed with :func:`set_token_provider`.
"""

from __future__ import annotations

import asyncio
import codecs
import inspect
from collections.abc import Awaitable, Callable
from email.message import Message
from typing import Any

from azure.core.exceptions import AzureError
from azure.core.pipeline import AsyncPipeline, PipelineResponse
from azure.core.pipeline.policies import AsyncRedirectPolicy
from azure.core.pipeline.transport import AioHttpTransport
from azure.core.rest import HttpRequest

from ..errors import DurableHttpError
from ..orchestration.durable_http import HTTP_ACTIVITY_NAME, DurableHttpRequest

#: Seconds to connect and to wait for an answer (.NET ``HttpClient``'s default timeout is 100 s).
REQUEST_TIMEOUT_SECONDS = 100.0

#: ``provider(scope) -> token`` (or an awaitable of it).
TokenProvider = Callable[[str], "str | Awaitable[str]"]
_provider: TokenProvider | None = None


def set_token_provider(provider: TokenProvider | None) -> None:
    """Use ``provider(scope)`` for managed-identity tokens in this process (``None``: azure-identity)."""
    global _provider
    _provider = provider


def token_scope(resource: str) -> str:
    """The scope asked for: as the Durable extension maps the management and Graph resources, and
    ``/.default`` appended to any other resource that has no scope."""
    bare = resource.rstrip("/")
    if bare in ("https://management.core.windows.net", "https://graph.microsoft.com"):
        return bare + "/.default"
    return resource if resource.endswith("/.default") else bare + "/.default"


async def _default_token(scope: str) -> str:
    try:
        from azure.identity.aio import DefaultAzureCredential
    except ImportError:
        raise DurableHttpError(
            "ManagedIdentityTokenSource needs azure-identity: pip install 'durable-azure[identity]' "
            "(or install a provider with durable_azure.worker.durable_http.set_token_provider)."
        ) from None
    async with DefaultAzureCredential() as credential:
        return str((await credential.get_token(scope)).token)


async def _token(source: dict[str, Any]) -> str:
    resource = source.get("resource")
    if not isinstance(resource, str) or not resource:
        raise DurableHttpError(f"The token source {source!r} names no resource.")
    scope = token_scope(resource)
    try:
        if _provider is None:
            token: Any = await _default_token(scope)
        else:
            token = _provider(scope)
            token = await token if inspect.isawaitable(token) else token
    except DurableHttpError:
        raise
    except Exception as error:
        raise DurableHttpError(
            f"Could not get a token for {scope}: {type(error).__name__}: {error}"
        ) from error
    if not isinstance(token, str) or not token:  # never send "Bearer None"
        raise DurableHttpError(f"Could not get a token for {scope}: the token provider gave {token!r}.")
    return token


class _RedirectsAsDotNet(AsyncRedirectPolicy):  # type: ignore[type-arg]
    """Redirects as .NET's ``HttpClient`` (the extension's) follows them: a ``POST`` answered 300,
    301 or 302, and anything but ``HEAD`` answered 303, continues as a ``GET`` without content
    (azure-core stops at a 301/302 to a ``POST`` and keeps the content on a 303)."""

    @staticmethod
    def _becomes_get(response: PipelineResponse[Any, Any]) -> bool:
        status, method = response.http_response.status_code, response.http_request.method
        return bool((status in (300, 301, 302) and method == "POST") or (status == 303 and method != "HEAD"))

    def get_redirect_location(self, response: PipelineResponse[Any, Any]) -> Any:
        if self._becomes_get(response):  # azure-core leaves a POST's 301/302 alone
            return response.http_response.headers.get("location")
        return super().get_redirect_location(response)

    def increment(
        self, settings: dict[str, Any], response: PipelineResponse[Any, Any], redirect_location: str
    ) -> bool:
        becomes_get = self._becomes_get(response)
        remaining = bool(super().increment(settings, response, redirect_location))
        if becomes_get:
            old = response.http_request
            headers = {
                k: v for k, v in old.headers.items() if k.lower() not in ("content-type", "content-length")
            }
            response.http_request = HttpRequest("GET", old.url, headers=headers)
        return remaining


def _decode(body: bytes, content_type: str | None) -> str:
    """The body as .NET's ``ReadAsStringAsync`` reads it: a byte-order mark, else the ``charset``,
    else UTF-8; bytes that do not decode become U+FFFD (never an error)."""
    for bom, encoding in (
        (codecs.BOM_UTF8, "utf-8"),
        (codecs.BOM_UTF16_LE, "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be"),
    ):
        if body.startswith(bom):
            return body[len(bom) :].decode(encoding, errors="replace")
    encoding = "utf-8"
    if content_type:
        parsed = Message()
        parsed["content-type"] = content_type
        charset = parsed.get_content_charset()
        if charset:
            try:
                encoding = codecs.lookup(charset).name
            except LookupError:
                pass
    return body.decode(encoding, errors="replace")


def _response_headers(response: Any) -> dict[str, str | list[str]]:
    """Response headers as the extension records them: one value as a string, several as an array."""
    raw = getattr(response.internal_response, "headers", None)
    if raw is None or not hasattr(raw, "getall"):
        return dict(response.headers.items())
    headers: dict[str, str | list[str]] = {}
    seen: set[str] = set()
    for key in raw:
        if key.lower() in seen:
            continue
        seen.add(key.lower())
        values = [str(v) for v in raw.getall(key)]
        headers[key] = values[0] if len(values) == 1 else values
    return headers


async def send(request: DurableHttpRequest) -> dict[str, Any]:
    """Send ``request``; the Durable extension's ``DurableHttpResponse`` JSON."""
    headers = dict(request.headers)
    if request.content is not None and not any(k.lower() == "content-type" for k in headers):
        headers["Content-Type"] = "text/plain"
    if request.token_source:
        headers["Authorization"] = f"Bearer {await _token(request.token_source)}"
    outgoing = HttpRequest(
        request.method,
        request.uri,
        headers=headers,
        content=request.content.encode("utf-8") if request.content is not None else None,
    )
    pipeline: AsyncPipeline[Any, Any] = AsyncPipeline(
        transport=AioHttpTransport(), policies=[_RedirectsAsDotNet()]
    )
    limit = REQUEST_TIMEOUT_SECONDS
    try:
        async with pipeline:
            # The whole exchange is bounded, as by HttpClient.Timeout (aiohttp's are per read).
            result = await asyncio.wait_for(
                pipeline.run(outgoing, connection_timeout=limit, read_timeout=limit), limit
            )
            response = result.http_response
            # Loaded by run() (stream=False); read() again would re-read an empty body and fail.
            content = _decode(response.body(), response.headers.get("content-type"))
            response_headers = _response_headers(response)
    except AzureError as error:
        raise DurableHttpError(
            f"The durable HTTP request {request.method} {request.uri} failed: {error.message}"
        ) from None
    except ValueError as error:  # a URL that cannot be parsed (a polled Location, say)
        raise DurableHttpError(
            f"The durable HTTP request {request.method} {request.uri} failed: {error}"
        ) from None
    except asyncio.TimeoutError:
        raise DurableHttpError(
            f"The durable HTTP request {request.method} {request.uri} failed: it did not answer "
            f"within {limit:g} s."
        ) from None
    return {"statusCode": response.status_code, "headers": response_headers, "content": content}


async def http_activity(argument: Any) -> dict[str, Any]:
    """The ``BuiltIn::HttpActivity`` activity: its input is ``[request]``."""
    return await send(DurableHttpRequest.from_json(argument))


#: Activities every worker runs without registration.
BUILTIN_ACTIVITIES: dict[str, Callable[[Any], Awaitable[Any]]] = {HTTP_ACTIVITY_NAME: http_activity}
