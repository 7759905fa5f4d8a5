"""Management URLs of an instance: the Durable Functions check-status payload (reference §5.3)."""

from __future__ import annotations

import functools
import logging
import os
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

#: Where the management API lives under the local host (and under the Functions host with the .NET extension).
WEBHOOK_BASE_PATH = "/runtime/webhooks/durabletask"
#: The connection name Durable Functions puts in its URLs; it means the app's default storage connection.
DEFAULT_CONNECTION_NAME = "Storage"
#: The origin used when there is no request to take one from (DF's ``DEFAULT_LOCAL_HOST``).
DEFAULT_ORIGIN = "http://localhost:7071"
#: App setting: the public URL the app is reached at (``https://host[:port][/prefix]``), used in
#: management URLs instead of the request's ``Host`` (behind a proxy, or with a custom domain).
PUBLIC_BASE_URL_SETTING = "DURABLE_AZURE_PUBLIC_BASE_URL"
#: Set by Azure App Service / Functions to the app's default host name.
WEBSITE_HOSTNAME_SETTING = "WEBSITE_HOSTNAME"

#: Characters left as they are when a decoded path is put back into a URL (RFC 3986 ``pchar`` + ``/``).
_PATH_SAFE = "/!$&'()*+,;=:@-._~"
#: ... and in a query string (``%`` too: the query is re-encoded from its raw, already encoded form).
_QUERY_SAFE = _PATH_SAFE + "?%"

log = logging.getLogger("durable_azure.http")


def encode_path(path: str) -> str:
    """A decoded URL path, percent-encoded again (each character stands for itself: ``%`` → ``%25``)."""
    return quote(path, safe=_PATH_SAFE)


def encode_query(query: str) -> str:
    """A raw query string made safe for a header: only characters outside URL syntax get encoded."""
    return quote(query, safe=_QUERY_SAFE)


def parse_public_base_url(value: str) -> str:
    """Check a public base URL (``http(s)://host[:port][/path]``, no query or fragment); no trailing slash."""
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise ValueError(
            f"{PUBLIC_BASE_URL_SETTING} must look like https://host[:port][/path], got {value!r}."
        )
    try:
        parts.port  # noqa: B018  (raises for a malformed port)
    except ValueError:
        raise ValueError(f"{PUBLIC_BASE_URL_SETTING} has an invalid port: {value!r}.") from None
    return f"{parts.scheme}://{parts.netloc}{encode_path(parts.path.rstrip('/'))}"


@functools.lru_cache(maxsize=8)
def _checked_public_base(value: str) -> str | None:
    try:
        return parse_public_base_url(value)
    except ValueError as e:
        log.warning("%s; building management URLs from the request instead.", e)
        return None


def public_base_url() -> str | None:
    """Where clients reach the app, if configured: ``DURABLE_AZURE_PUBLIC_BASE_URL``, else
    ``https://<WEBSITE_HOSTNAME>`` when running in Azure (not ``localhost``); ``None`` otherwise."""
    explicit = os.environ.get(PUBLIC_BASE_URL_SETTING, "").strip()
    if explicit:
        return _checked_public_base(explicit)
    host = os.environ.get(WEBSITE_HOSTNAME_SETTING, "").strip()
    if host and not host.lower().startswith(("localhost", "127.0.0.1", "[::1]")):
        return _checked_public_base(f"https://{host}")
    return None


def request_url(request: Any) -> str:
    """The full URL of an ``azure.functions.HttpRequest`` or a Starlette ``Request``."""
    return str(request.url)


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of ``url``."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def code_of(request: Any) -> str | None:
    """The function key a request was authorized with (``?code=`` or ``x-functions-key``), if any."""
    values = parse_qs(urlsplit(request_url(request)).query).get("code")
    if values:
        return values[0]
    headers = getattr(request, "headers", None) or {}
    return headers.get("x-functions-key") or None


def query_suffix(hub: str, connection: str | None, code: str | None = None) -> str:
    """``taskHub=<hub>&connection=<name>[&code=<key>]``, as DF appends to every management URL."""
    query = (
        f"taskHub={quote(hub, safe='')}&connection={quote(connection or DEFAULT_CONNECTION_NAME, safe='')}"
    )
    if code:
        query += f"&code={quote(code, safe='')}"
    return query


def management_payload(
    base_url: str, instance_id: str, query: str, *, include_rewind: bool = True
) -> dict[str, str]:
    """The management URLs of ``instance_id`` under ``base_url`` (the API root, no trailing slash).

    ``include_rewind=False`` gives the exact key set of the HTTP API's own 202 responses.
    """
    base = f"{base_url.rstrip('/')}/instances/{quote(instance_id, safe='')}"
    payload = {
        "id": instance_id,
        "statusQueryGetUri": f"{base}?{query}",
        "sendEventPostUri": f"{base}/raiseEvent/{{eventName}}?{query}",
        "terminatePostUri": f"{base}/terminate?reason={{text}}&{query}",
    }
    if include_rewind:
        payload["rewindPostUri"] = f"{base}/rewind?reason={{text}}&{query}"
    payload["purgeHistoryDeleteUri"] = f"{base}?{query}"
    payload["restartPostUri"] = f"{base}/restart?{query}"
    payload["suspendPostUri"] = f"{base}/suspend?reason={{text}}&{query}"
    payload["resumePostUri"] = f"{base}/resume?reason={{text}}&{query}"
    return payload


def check_status_headers(payload: dict[str, str]) -> dict[str, str]:
    """Headers of a 202 check-status response."""
    return {
        "Content-Type": "application/json; charset=utf-8",
        "Location": payload["statusQueryGetUri"],
        "Retry-After": "10",
    }
