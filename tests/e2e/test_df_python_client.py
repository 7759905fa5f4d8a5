"""azure-functions-durable 1.7.0's own DurableOrchestrationClient against our management API.

DF Python encodes start inputs, event payloads and entity operation inputs twice (JSON text sent as
a JSON string); they must arrive with their JSON types intact, while plain JSON bodies (curl) keep
working. The client runs in its own venv (tests/e2e/df_venv.py), never as our dependency.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
from app_copies import HERE, serve_copy
from df_venv import df_python
from serve_support import WEBHOOK, Api

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def compat(azurite: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with serve_copy(HERE / "compat_app", tmp_path_factory.mktemp("df-client")) as api:
        yield api


def test_df_python_client_delivers_json_types_intact(compat: Api) -> None:
    python = df_python()
    done = subprocess.run(
        [str(python), str(HERE / "df_client_script.py"), compat.base, compat.server.hub],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    outputs = result["outputs"]
    assert outputs["dict"] == {"type": "dict", "value": {"a": 1, "b": [1, 2]}, "version": None}
    assert outputs["list"] == {"type": "list", "value": [1, "x", None], "version": None}
    assert outputs["str"] == {"type": "str", "value": "hello", "version": None}
    assert outputs["int"] == {"type": "int", "value": 5, "version": None}
    assert outputs["float"] == {"type": "float", "value": 2.5, "version": None}
    assert result["versioned"] == {"type": "int", "value": 1, "version": "2.5"}
    assert result["event"] == {"type": "dict", "value": {"k": "v", "n": [1, 2]}}
    assert result["text_event"] == {"type": "str", "value": "hello"}  # DF: '"hello"', with quotes
    assert result["entity"] == {"type": "int", "value": 42}


def _run(api: Api, name: str, **kwargs: Any) -> dict[str, Any]:
    response = api.http.post(api.mgmt(f"orchestrators/{name}"), **kwargs)
    assert response.status_code == 202, response.text
    payload: dict[str, Any] = response.json()
    return payload


def test_plain_json_bodies_keep_their_types(compat: Api) -> None:
    """What curl -d sends: the body is the value."""
    cases = [
        ('{"a":1}', {"type": "dict", "value": {"a": 1}}),
        ("[1,2]", {"type": "list", "value": [1, 2]}),
        ('"hello"', {"type": "str", "value": "hello"}),
        ("7", {"type": "int", "value": 7}),
    ]
    for body, expected in cases:
        payload = _run(compat, "echo_input", content=body, headers={"Content-Type": "application/json"})
        status = compat.wait_done(payload)
        assert status["output"] == {**expected, "version": None}, body
    waiting = _run(compat, "wait_event")
    compat.wait_for(waiting, {"Running"})
    sent = compat.http.post(
        waiting["sendEventPostUri"].replace("{eventName}", "Go"),
        content='{"k":[1]}',
        headers={"Content-Type": "application/json"},
    )
    assert sent.status_code == 202, sent.text
    assert compat.wait_done(waiting)["output"] == {"type": "dict", "value": {"k": [1]}}
    # An event that is a JSON string holding digits stays a string, as in Durable Functions.
    digits = _run(compat, "wait_event")
    compat.wait_for(digits, {"Running"})
    sent = compat.http.post(digits["sendEventPostUri"].replace("{eventName}", "Go"), json="1234")
    assert sent.status_code == 202, sent.text
    assert compat.wait_done(digits)["output"] == {"type": "str", "value": "1234"}
    signal = compat.http.post(
        compat.mgmt("entities/Recorder/plain?op=set"),
        content="[3]",
        headers={"Content-Type": "application/json"},
    )
    assert signal.status_code == 202, signal.text

    def state() -> Any:
        got = compat.http.get(compat.mgmt("entities/Recorder/plain"))
        return got.json() if got.status_code == 200 else None

    assert compat.until(state, what="the entity state") == {"type": "list", "value": [3]}


def test_start_version_query_parameter(compat: Api) -> None:
    payload = _run(compat, "echo_input", params={"version": "3.1"}, json=1)
    assert compat.wait_done(payload)["output"]["version"] == "3.1"
    assert WEBHOOK in payload["statusQueryGetUri"]
