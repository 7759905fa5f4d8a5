"""End-to-end fixtures: the sample function app served by ``durable-azure serve`` in a subprocess.

One server per session on a free port, with its own task hub (``DURABLE_AZURE_HUB``) on Azurite
(``AzureWebJobsStorage=UseDevelopmentStorage=true``). Tests drive it over HTTP only, with httpx,
and wait by polling (never fixed sleeps).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)  # serve_support, importable under --import-mode=importlib

from serve_support import Api, Server, delete_hub, start_server  # noqa: E402


@pytest.fixture(scope="session")
def server(azurite: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = start_server(tmp_path_factory.mktemp("serve"))
    try:
        yield running
    finally:
        code = running.stop()
        delete_hub(running.hub)
        assert code == 0, f"serve exited with {code}:\n{running.log()[-3000:]}"


@pytest.fixture(scope="session")
def api(server: Server) -> Iterator[Api]:
    client = Api(server)
    yield client
    client.http.close()
