"""The dashboard in Azure mode: the sample app's ``durable_dashboard`` function, called as the Functions
host calls it (an ``HttpRequest`` with the ``path`` route value), on its own hub in Azurite.

The Functions host checks the function key before the function runs (auth level ``function``, the
same as the management API); the pages then carry the ``code`` they were opened with on every link
and form, so navigation keeps working behind the key.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
from collections.abc import Iterator
from html import unescape
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest

_HERE = Path(__file__).resolve().parent
if str(_HERE) not in sys.path:
    sys.path.insert(0, str(_HERE))
from serve_support import sample_app_in_azure_mode  # noqa: E402

pytestmark = pytest.mark.e2e
HOST = "https://myapp.azurewebsites.net"


@pytest.fixture
def azure_app(azurite: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, dict[str, Any], str]]:
    """The sample app loaded as the Functions host would, with its own hub; stopped and cleaned after."""
    with sample_app_in_azure_mode(monkeypatch, "e2ed") as loaded:
        yield loaded


def _request(method: str, path: str, query: str = "code=KEY", **kwargs: Any) -> func.HttpRequest:
    return func.HttpRequest(
        method=method,
        url=f"{HOST}/api/durable/{path}?{query}",
        route_params={"path": path},
        headers=kwargs.pop("headers", {"host": "myapp.azurewebsites.net"}),
        body=kwargs.pop("body", b""),
    )


def test_dashboard_function_serves_pages_that_keep_the_key(azure_app: Any) -> None:
    _, functions, hub = azure_app
    dashboard = functions["durable_dashboard"]
    assert dashboard.get_trigger().route == "durable/{*path}"
    assert dashboard.get_trigger().auth_level.value.lower() == "function"  # the management API's level
    handler = dashboard.get_user_function()
    starter = functions["http_start"].get_user_function()

    async def drive() -> tuple[str, str, Any]:
        started = await starter(
            func.HttpRequest(
                method="POST",
                url=f"{HOST}/api/orchestrators/hello_cities?code=KEY",
                route_params={"functionName": "hello_cities"},
                headers={"content-type": "application/json"},
                body=b"null",
            )
        )
        instance_id = json.loads(started.get_body())["id"]
        overview = await handler(_request("GET", ""))
        assert overview.status_code == 200, overview.get_body()[:500]
        page = await handler(_request("GET", f"instances/{instance_id}"))
        assert page.status_code == 200
        cookie = page.headers.get("set-cookie", "")
        token = re.search(r"durable_dashboard_csrf=([^;]+)", cookie)
        assert token, cookie
        terminated = await handler(
            _request(
                "POST",
                f"instances/{instance_id}/terminate",
                headers={
                    "host": "myapp.azurewebsites.net",
                    "origin": HOST,
                    "cookie": f"durable_dashboard_csrf={token.group(1)}",
                    "content-type": "application/x-www-form-urlencoded",
                },
                body=f"csrf={token.group(1)}&confirmed=1&reason=azure".encode(),
            )
        )
        return overview.get_body().decode(), page.get_body().decode(), (instance_id, terminated)

    overview, page, (instance_id, terminated) = asyncio.run(drive())
    links = [unescape(h) for h in re.findall(r'\s(?:href|src|action)="([^"]+)"', overview + page)]
    internal = [h for h in links if not h.startswith("data:")]
    assert internal and all(h.startswith("/api/durable/") for h in internal), [
        h for h in internal if not h.startswith("/api/durable/")
    ]
    assert all("code=KEY" in h for h in internal), [h for h in internal if "code=KEY" not in h]
    assert hub in overview
    # The action answered with a redirect to the instance page, still under /api/durable, key kept.
    assert terminated.status_code == 303, terminated.get_body()[:500]
    location = terminated.headers["location"]
    assert location.startswith(f"/api/durable/instances/{instance_id}?code=KEY"), location
