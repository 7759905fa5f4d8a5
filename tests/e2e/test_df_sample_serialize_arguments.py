"""azure-functions-durable 1.7.0's ``samples/serialize_arguments`` (v1 programming model), import
changed only, driven over HTTP as its README says: a GET of /api/orchestrators/DurableOrchestration
starts it; the orchestrator reads its custom-class input, passes a custom object to an activity and
returns the number. Every status request answers (never 500) and shows the stored envelopes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from app_copies import DF_SAMPLES, serve_copy
from serve_support import Api

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def sample(azurite: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with serve_copy(
        DF_SAMPLES / "samples" / "serialize_arguments", tmp_path_factory.mktemp("serialize")
    ) as api:
        yield api


def envelope_of(value: Any) -> tuple[str, Any]:
    assert isinstance(value, dict) and set(value) == {"__class__", "__module__", "__data__"}, value
    return value["__class__"], value["__data__"]


def test_serialize_arguments_sample(sample: Api) -> None:
    started = sample.http.get(sample.url("api/orchestrators/DurableOrchestration"))
    assert started.status_code == 202, started.text
    payload = started.json()

    def done() -> dict[str, Any] | None:
        response = sample.status(payload)
        assert response.status_code in (200, 202), response.text
        body: dict[str, Any] = response.json()
        return body if body["runtimeStatus"] not in ("Pending", "Running") else None

    status = sample.until(done, what="the sample orchestration to finish")
    assert status["runtimeStatus"] == "Completed", status
    assert status["output"] == 5  # input_.show_number() of SerializableClass(5)
    assert envelope_of(status["input"]) == ("SerializableClass", "5")
    history = sample.status(payload, showHistory="true", showHistoryOutput="true")
    assert history.status_code == 200, history.text
    results = [e["Result"] for e in history.json()["historyEvents"] if e["EventType"] == "TaskCompleted"]
    assert [envelope_of(r) for r in results] == [("SerializableClass", "5")]  # the activity's return
    listing = sample.http.get(sample.mgmt("instances"), params={"showInput": "true"})
    assert listing.status_code == 200, listing.text
