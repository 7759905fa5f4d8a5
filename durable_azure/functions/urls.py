"""Management URLs of an instance: the Durable Functions check-status payload (reference §5.3)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

#: Where the management API lives under the local host (and under the Functions host with the .NET extension).
WEBHOOK_BASE_PATH = "/runtime/webhooks/durabletask"
#: The connection name Durable Functions puts in its URLs; it means the app's default storage connection.
DEFAULT_CONNECTION_NAME = "Storage"
#: The origin used when there is no request to take one from (DF's ``DEFAULT_LOCAL_HOST``).
DEFAULT_ORIGIN = "http://localhost:7071"


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
