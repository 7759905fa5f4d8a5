"""Who may open the dashboard under ``durable-azure serve``, and what it answers when storage is gone.

The local host's own ASGI app (``LocalHost.asgi()``, as ``serve`` runs it) with a host key set: the
dashboard needs the key like the management API, and pages opened with ``?code=`` carry it on.
Then the dashboard over a storage account nobody listens on: a 503 page, not a 500.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Iterator
from html import unescape
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from durable_azure.client import DurableOrchestrationClient
from durable_azure.dashboard import create_dashboard_app
from durable_azure.functions import runtime
from durable_azure.functions.api_support import storage_unavailable
from durable_azure.functions.host import LocalHost
from durable_azure.storage.taskhub import TaskHubStorage

pytestmark = pytest.mark.e2e
APP_DIR = Path(__file__).resolve().parent / "dashboard_app"
KEY = "k" * 24
# Azurite's well-known development account, at an address nothing listens on.
DEAD = (
    "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
    "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;"
    "BlobEndpoint=http://127.0.0.1:9/devstoreaccount1;QueueEndpoint=http://127.0.0.1:9/devstoreaccount1;"
    "TableEndpoint=http://127.0.0.1:9/devstoreaccount1;"
)


@pytest.fixture
def keyed_host(azurite: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    hub = "dacc" + uuid.uuid4().hex[:12]
    for name, value in {
        "DURABLE_AZURE_HOST_KEY": KEY,
        "DURABLE_AZURE_HUB": hub,
        "AzureWebJobsStorage": azurite,
        "AzureWebJobsScriptRoot": str(APP_DIR),
    }.items():
        monkeypatch.setenv(name, value)
    runtime._settings_for.cache_clear()

    async def hub_storage(create: bool) -> None:
        storage = TaskHubStorage(azurite, hub)
        try:
            await (storage.create_if_not_exists() if create else storage.delete())
        finally:
            await storage.close()

    asyncio.run(hub_storage(True))
    host = LocalHost(APP_DIR)
    try:
        with TestClient(host.asgi(), base_url="http://127.0.0.1:7071") as client:  # runs serve's start-up
            yield client
    finally:
        runtime._settings_for.cache_clear()
        asyncio.run(hub_storage(False))


def test_the_dashboard_needs_the_host_key_and_keeps_it(keyed_host: TestClient) -> None:
    for path in ("/durable/", "/durable/instances", "/durable/static/dashboard.js"):
        assert keyed_host.get(path).status_code == 401, path
    redirect = keyed_host.get(f"/durable?code={KEY}", follow_redirects=False)
    assert redirect.status_code == 307 and redirect.headers["location"] == f"/durable/?code={KEY}"
    page = keyed_host.get(f"/durable/?code={KEY}")
    assert page.status_code == 200
    links = [unescape(h) for h in re.findall(r'\s(?:href|src|action)="([^"]+)"', page.text)]
    internal = [h for h in links if not h.startswith("data:")]
    assert internal and all(f"code={KEY}" in h for h in internal), internal
    refused = keyed_host.post(f"/durable/instances/x/terminate?code={KEY}", data={"confirmed": "1"})
    assert refused.status_code == 403 and "security token" in refused.text  # the cookie, but no token


def test_unreachable_storage_is_a_503_page() -> None:
    storage = TaskHubStorage(DEAD, "deadhub")
    app = create_dashboard_app(lambda: DurableOrchestrationClient(storage), unavailable=storage_unavailable)
    with TestClient(app) as client:
        response = client.get("/instances/some-id")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert "storage account is unavailable" in response.text


def test_a_task_hub_that_does_not_exist_is_a_404_page(azurite: str) -> None:
    storage = TaskHubStorage(azurite, "nohub" + uuid.uuid4().hex[:12])
    app = create_dashboard_app(lambda: DurableOrchestrationClient(storage), unavailable=storage_unavailable)
    with TestClient(app) as client:
        for path in ("/", "/instances", "/instances?sort=id", "/entities"):
            response = client.get(path)
            assert response.status_code == 404, (path, response.text[:300])
            assert "does not exist" in response.text, path
