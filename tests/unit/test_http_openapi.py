"""The OpenAPI description of the management API: valid, served, and in step with the real routes."""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from starlette.applications import Starlette
from starlette.routing import Mount, Route

with warnings.catch_warnings():  # Starlette 1.x prefers httpx2; httpx works the same here
    warnings.filterwarnings("ignore", message=".*httpx2.*")
    from starlette.testclient import TestClient

from durable_azure.functions import management_api
from durable_azure.functions.management_api import create_management_app, openapi_document
from durable_azure.functions.targets import AppTargets

SPEC_PATH = Path(management_api.__file__).with_name("openapi.json")
BASE = "/runtime/webhooks/durabletask"


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SPEC_PATH.read_text(encoding="utf-8"))
    return loaded


def test_it_is_a_valid_openapi_document(spec: dict[str, Any]) -> None:
    assert spec["openapi"].startswith("3.0")
    schema = schemathesis.openapi.from_dict(spec)
    labels = {result.ok().label for result in schema.get_all_operations()}  # raises on invalid operations
    assert "POST /orchestrators/{functionName}" in labels and len(labels) == 19


def _route_templates() -> set[str]:
    app = create_management_app(lambda hub, conn: None, targets=lambda: AppTargets.of("H"))  # type: ignore[arg-type, return-value]
    starlette: Starlette = app.app  # type: ignore[attr-defined]  # inside the trailing-slash wrapper
    return {route.path for route in starlette.routes if isinstance(route, Route)}


def test_every_route_is_described_and_every_description_is_a_route(spec: dict[str, Any]) -> None:
    described = set(spec["paths"])
    routes = _route_templates()
    # One route serves the operations the document lists one by one.
    expanded = {r for r in routes if r != "/instances/{instanceId}/{operation}"} | {
        f"/instances/{{instanceId}}/{op}" for op in ("terminate", "suspend", "resume", "rewind", "restart")
    }
    assert described == expanded


def test_query_parameters_match_what_the_handlers_read(spec: dict[str, Any]) -> None:
    source = Path(management_api.__file__).read_text(encoding="utf-8")
    read = set(re.findall(r'query\.(?:get|bool|seconds|datetime|positive_int)\("(\w+)"', source))
    read |= {"runtimeStatus", "code"}  # runtime_statuses(); code_of()
    parameters = spec["components"]["parameters"]
    described = {p["name"] for p in parameters.values() if p["in"] == "query"}
    for operations in spec["paths"].values():
        for operation in operations.values():
            described |= {p["name"] for p in operation["parameters"] if "name" in p and p["in"] == "query"}
    described |= {"code"}  # a security scheme
    assert read <= described, read - described


def test_the_document_is_served_under_the_api_root() -> None:
    app = Starlette(routes=[Mount(BASE, app=create_management_app(lambda hub, conn: None))])  # type: ignore[arg-type, return-value]
    response = TestClient(app).get(f"{BASE}/openapi.json")
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/json")
    assert response.content == openapi_document() == SPEC_PATH.read_bytes()
