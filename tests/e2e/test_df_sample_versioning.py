"""azure-functions-durable 1.7.0's ``samples-v2/orchestration_versioning``, import changed only, driven
over HTTP as its README describes: defaultVersion 1.0, an instance waiting for "Continue", a redeploy
with defaultVersion 2.0, then the event; plus versionMatchStrategy/versionFailureStrategy."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from app_copies import DF_SAMPLES, copy_app, serve, set_durable_settings
from serve_support import Api, delete_hub

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SAMPLE = DF_SAMPLES / "samples-v2" / "orchestration_versioning"
WAITING = "Waiting for Continue event..."


def start(api: Api, version: str | None = None) -> dict[str, Any]:
    params = {"version": version} if version else {}
    response = api.http.post(api.url("api/orchestrators/my_orchestrator"), params=params)
    assert response.status_code == 202, response.text
    payload: dict[str, Any] = response.json()
    return payload


def rebased(api: Api, payload: dict[str, Any]) -> dict[str, Any]:
    """The check-status payload of an instance started by an earlier server, with this one's URLs."""
    old = payload["statusQueryGetUri"].split("/runtime/")[0]
    return {k: v.replace(old, api.base) if isinstance(v, str) else v for k, v in payload.items()}


def wait_waiting(api: Api, payload: dict[str, Any]) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        response = api.status(payload)
        assert response.status_code in (200, 202), response.text
        body: dict[str, Any] = response.json()
        return body if body["customStatus"] == WAITING else None

    return api.until(check, what="the orchestration to wait for 'Continue'")


def finish(api: Api, payload: dict[str, Any]) -> dict[str, Any]:
    sent = api.http.post(
        payload["sendEventPostUri"].replace("{eventName}", "Continue"),
        content="null",
        headers={"Content-Type": "application/json"},
    )
    assert sent.status_code == 202, sent.text
    status = api.wait_done(payload)
    assert status["runtimeStatus"] == "Completed", status
    return status


def test_versions_across_a_redeployment(azurite: str, tmp_path: Path) -> None:
    app_dir = copy_app(SAMPLE, tmp_path / "app")
    hub = "e2ever" + uuid.uuid4().hex[:16]  # unique: tmp_path's name is the same in every checkout
    try:
        with serve(app_dir, tmp_path, hub, keep_hub=True) as api:
            plain = start(api)
            waiting = wait_waiting(api, plain)
            assert waiting["version"] == "1.0"
            assert finish(api, plain)["output"] == [
                "Orchestration version: 1.0",
                "Suborchestration version (explicit): 0.9",
                "Suborchestration version (default): 1.0",
                "Hello from A!",
            ]
            in_flight = start(api)
            wait_waiting(api, in_flight)
            children = api.http.get(api.mgmt("instances"), params={"instanceIdPrefix": plain["id"] + ":"})
            assert children.status_code == 200, children.text
            assert sorted(c["version"] for c in children.json()) == ["0.9", "1.0"]

        # Redeploy with defaultVersion 2.0 while `in_flight` waits (README steps 3-7).
        set_durable_settings(app_dir, defaultVersion="2.0")
        with serve(app_dir, tmp_path, hub, keep_hub=True) as api:
            in_flight = rebased(api, in_flight)
            assert finish(api, in_flight)["output"] == [
                "Orchestration version: 1.0",
                "Suborchestration version (explicit): 0.9",
                "Suborchestration version (default): 2.0",
                "Hello from A!",
            ]
            fresh = start(api)
            assert wait_waiting(api, fresh)["version"] == "2.0"
            assert finish(api, fresh)["output"] == [
                "Orchestration version: 2.0",
                "Suborchestration version (explicit): 0.9",
                "Suborchestration version (default): 2.0",
                "Hello from B!",
            ]
            explicit = start(api, "1.5")
            assert wait_waiting(api, explicit)["version"] == "1.5"
            assert finish(api, explicit)["output"][0] == "Orchestration version: 1.5"

            # CurrentOrOlder + Reject (the defaults): a newer instance is not run by this worker.
            newer = start(api, "3.0")
            for _ in range(20):
                response = api.status(newer)
                assert response.status_code == 202, response.text
                assert response.json()["runtimeStatus"] == "Pending"
            page = api.http.get(api.url(f"durable/instances/{newer['id']}"))
            assert page.status_code == 200, page.text
            assert 'id="instance-version">3.0<' in page.text

        # A worker of version 3.0 takes it over.
        set_durable_settings(app_dir, defaultVersion="3.0")
        with serve(app_dir, tmp_path, hub, keep_hub=True) as api:
            newer = rebased(api, newer)
            assert wait_waiting(api, newer)["version"] == "3.0"
            output = finish(api, newer)["output"]
            assert output[0] == "Orchestration version: 3.0" and output[2].endswith("3.0")
    finally:
        delete_hub(hub)


def test_strict_match_with_fail_strategy_fails_other_versions(azurite: str, tmp_path: Path) -> None:
    app_dir = copy_app(SAMPLE, tmp_path / "app")
    set_durable_settings(app_dir, versionMatchStrategy="Strict", versionFailureStrategy="Fail")
    with serve(app_dir, tmp_path) as api:
        older = start(api, "0.5")  # CurrentOrOlder would run it; Strict does not
        status = api.wait_done(older)
        assert status["runtimeStatus"] == "Failed"
        assert "VersionMismatchError" in str(status["output"]) and "Strict" in str(status["output"])
        assert status["version"] == "0.5"
        same = start(api)
        assert wait_waiting(api, same)["version"] == "1.0"
        sent = api.http.post(
            same["sendEventPostUri"].replace("{eventName}", "Continue"),
            content="null",
            headers={"Content-Type": "application/json"},
        )
        assert sent.status_code == 202, sent.text
        # Its version matches, but the sample then starts a sub-orchestration of version 0.9, which
        # a Strict worker fails; the parent sees that failure.
        status = api.wait_done(same)
        assert status["runtimeStatus"] == "Failed", status
        assert "my_sub_orchestrator" in str(status["output"]) and "VersionMismatchError" in str(
            status["output"]
        )
        child = api.http.get(api.mgmt("instances"), params={"instanceIdPrefix": same["id"] + ":"}).json()
        assert [(c["version"], c["runtimeStatus"]) for c in child] == [("0.9", "Failed")]


def test_match_strategy_none_runs_every_version(azurite: str, tmp_path: Path) -> None:
    app_dir = copy_app(SAMPLE, tmp_path / "app")
    set_durable_settings(app_dir, versionMatchStrategy="None")
    with serve(app_dir, tmp_path) as api:
        newer = start(api, "7.0")
        assert wait_waiting(api, newer)["version"] == "7.0"
        assert finish(api, newer)["output"][0] == "Orchestration version: 7.0"

        # The CLI starts with a version (default: the app's defaultVersion) and shows it.
        def cli(*args: str) -> subprocess.CompletedProcess[str]:
            env = {
                **os.environ,
                "AzureWebJobsStorage": "UseDevelopmentStorage=true",
                "DURABLE_AZURE_HUB": api.server.hub,
            }
            command = [str(Path(sys.executable).with_name("durable-azure")), "--app-dir", str(app_dir), *args]
            return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)

        for extra, expected in ((["--version", "4.2"], "4.2"), ([], "1.0")):
            started = cli("start", "my_sub_orchestrator", *extra, "--wait", "--json")
            assert started.returncode == 0, started.stderr
            status = json.loads(started.stdout)
            assert (status["output"], status["version"]) == (expected, expected)
            shown = cli("status", status["instanceId"])
            assert shown.returncode == 0, shown.stderr
            assert re.search(rf"Version\s+{re.escape(expected)}\b", shown.stdout), shown.stdout
