"""Cross-site request protection for the dashboard's POSTs.

Two independent checks, both required:

* **double-submit token**: every page sets a random ``durable_dashboard_csrf`` cookie
  (``HttpOnly``, ``SameSite=Strict``, limited to the dashboard's path) and writes the same value
  into each form; a POST must carry a form field equal to the cookie. Another site can make a
  browser send the cookie (not even that, with ``SameSite=Strict``) but cannot read it to forge the
  field.
* **origin**: a POST whose ``Origin`` header (or, without one, ``Sec-Fetch-Site``) says it comes
  from another site is refused before the form is read.
"""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

__all__ = ["COOKIE", "check", "remember", "token_of"]

COOKIE = "durable_dashboard_csrf"


def token_of(request: Request) -> tuple[str, bool]:
    """The request's token and whether it is new (then :func:`remember` must set the cookie)."""
    current = request.cookies.get(COOKIE, "")
    if len(current) >= 32 and current.isascii() and current.replace("-", "").replace("_", "").isalnum():
        return current, False
    return secrets.token_urlsafe(32), True


def remember(response: Response, request: Request, token: str) -> None:
    path = str(request.scope.get("root_path", "")) or "/"
    response.set_cookie(
        COOKIE,
        token,
        path=path,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    if origin is not None:
        if origin == "null":
            return False
        parts = urlsplit(origin)
        host = request.headers.get("host", "")
        forwarded = request.headers.get("x-forwarded-host", "")
        return parts.netloc.lower() in {host.lower(), forwarded.lower()} - {""}
    return request.headers.get("sec-fetch-site", "same-origin") in ("same-origin", "none")


def check(request: Request, form_token: str | None) -> str | None:
    """``None`` if the POST may go on, else why it is refused."""
    if not _same_origin(request):
        return "Refused: this request came from another site (cross-site request)."
    cookie = request.cookies.get(COOKIE)
    if not cookie or not form_token or not hmac.compare_digest(cookie.encode(), form_token.encode()):
        return "Refused: the form's security token is missing or stale. Reload the page and try again."
    return None
