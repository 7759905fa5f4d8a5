"""Custom classes (to_json/from_json, as Durable Functions for Python serializes them) through inputs,
outputs, activity results, events, entity state and custom status; the status API and the CLI show
them as their stored envelope and never answer 500. Values JSON cannot carry are refused clearly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from app_copies import HERE, serve_copy
from serve_support import Api

pytestmark = pytest.mark.e2e

ENVELOPE = {"__class__": "Point", "__module__": "function_app"}


def point(x: int, y: int) -> dict[str, Any]:
    return {**ENVELOPE, "__data__": {"x": x, "y": y}}


@pytest.fixture(scope="module")
def compat(azurite: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with serve_copy(HERE / "compat_app", tmp_path_factory.mktemp("custom")) as api:
        yield api


def _statuses_never_500(api: Api, payload: dict[str, Any]) -> None:
    for params in ({}, {"showHistory": "true", "showHistoryOutput": "true"}, {"showInput": "false"}):
        response = api.status(payload, **params)
        assert response.status_code in (200, 202), (params, response.status_code, response.text)
    listing = api.http.get(api.mgmt("instances"), params={"showInput": "true"})
    assert listing.status_code == 200, listing.text


def test_custom_objects_round_trip_everywhere(compat: Api) -> None:
    started = compat.http.post(compat.url("api/points/start"))
    assert started.status_code == 202, started.text
    payload = started.json()

    def waiting() -> dict[str, Any] | None:
        response = compat.status(payload)
        assert response.status_code in (200, 202), response.text
        body: dict[str, Any] = response.json()
        return body if body["customStatus"] == point(1, -1) else None

    running = compat.until(waiting, what="the custom status")
    assert running["input"] == point(1, 2)
    _statuses_never_500(compat, payload)
    moved = compat.http.post(compat.url(f"api/points/{payload['id']}/move"))
    assert moved.status_code == 202, moved.text
    status = compat.wait_done(payload)
    assert status["runtimeStatus"] == "Completed", status
    output = status["output"]
    assert [a["type"] for a in output["arrived"]] == ["Point"] * 4
    assert [a["value"] for a in output["arrived"]] == [[1, 2], [11, 12], [7, 8], [7, 8]]
    assert output["result"] == [point(1, 2), point(11, 12), point(7, 8), point(7, 8)]
    assert status["customStatus"] == {"last": point(7, 8)}
    _statuses_never_500(compat, payload)
    history = compat.history(payload)
    results = [e.get("Result") for e in history if e["EventType"] == "TaskCompleted"]
    assert results == [point(11, 12)]
    page = compat.http.get(compat.url(f"durable/instances/{payload['id']}"))
    assert page.status_code == 200, page.text
    assert '"__class__": "Point"' in page.text  # the envelope, not a repr
    entity = compat.http.get(compat.mgmt(f"entities/Holder/{payload['id']}"))
    assert entity.status_code == 200 and entity.json() == point(7, 8)

    env = {
        **os.environ,
        "AzureWebJobsStorage": "UseDevelopmentStorage=true",
        "DURABLE_AZURE_HUB": compat.server.hub,
    }
    shown = subprocess.run(
        [str(Path(sys.executable).with_name("durable-azure")), "status", "--json", payload["id"]],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["output"]["result"][1] == point(11, 12)


@pytest.mark.parametrize("kind", ["nan", "huge", "set"])
def test_unserializable_orchestrator_output_fails_the_instance_clearly(compat: Api, kind: str) -> None:
    response = compat.http.post(compat.mgmt("orchestrators/bad_output"), json=kind)
    assert response.status_code == 202, response.text
    status = compat.wait_done(response.json())
    assert status["runtimeStatus"] == "Failed"
    assert "SerializationError" in json.dumps(status["output"]), status
    _statuses_never_500(compat, response.json())


@pytest.mark.parametrize("kind", ["nan", "huge", "set"])
def test_unserializable_activity_result_fails_the_activity_clearly(compat: Api, kind: str) -> None:
    response = compat.http.post(compat.mgmt("orchestrators/bad_activity"), json=kind)
    status = compat.wait_done(response.json())
    assert status["runtimeStatus"] == "Completed", status
    assert status["output"]["error_type"] == "SerializationError", status


@pytest.mark.parametrize(
    "body", ['{"a": NaN}', '{"a": Infinity}', '{"a": 1e999}', '{"a": 123456789012345678901234567890}']
)
def test_unrepresentable_start_inputs_are_refused_before_anything_is_written(compat: Api, body: str) -> None:
    prefix = "refused-"
    response = compat.http.post(
        compat.mgmt(f"orchestrators/echo_input/{prefix}{abs(hash(body))}"),
        content=body,
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400, response.text
    assert "Message" in response.json()
    listing = compat.http.get(compat.mgmt("instances"), params={"instanceIdPrefix": prefix})
    assert listing.status_code == 200 and listing.json() == []


@pytest.mark.parametrize(
    "envelope",
    [
        {**ENVELOPE, "__data__": {"x": 1}},  # Point.from_json raises KeyError
        {**ENVELOPE, "__data__": "not a dict"},  # ... TypeError
        {"__class__": "Gone", "__module__": "no_such_module", "__data__": {"x": 1}},  # not importable
    ],
)
def test_envelopes_that_do_not_decode_are_shown_as_stored_never_a_500(
    compat: Api, envelope: dict[str, Any]
) -> None:
    """Anyone can start an instance with an envelope its class cannot read (curl); the instance fails
    in the orchestrator, but its status, history and listing show the envelope as stored."""
    response = compat.http.post(compat.mgmt("orchestrators/wait_event"), json=envelope)
    assert response.status_code == 202, response.text
    payload = response.json()
    raised = compat.http.post(compat.fill(payload["sendEventPostUri"], eventName="Go"), json={"Go": envelope})
    assert raised.status_code == 202, raised.text
    status = compat.wait_done(payload)
    assert status["input"] == envelope
    if envelope["__module__"] == "function_app":  # the orchestrator sees from_json's error at its await
        assert status["runtimeStatus"] == "Failed", status
        assert "Error" in json.dumps(status["output"]), status
    else:  # a class that is not loaded stays the envelope dict
        assert status["output"] == {"type": "dict", "value": {"Go": envelope}}, status
    _statuses_never_500(compat, payload)
    history = compat.history(payload)
    assert history, status
    for page in (f"durable/instances/{payload['id']}", "durable/instances"):
        shown = compat.http.get(compat.url(page))
        assert shown.status_code == 200, (page, shown.status_code)
    restarted = compat.http.post(payload["restartPostUri"])  # the input goes back as stored
    assert restarted.status_code == 202, restarted.text
    assert compat.status(restarted.json()).json()["input"] == envelope
