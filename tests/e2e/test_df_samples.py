"""azure-functions-durable 1.7.0's own samples, served by ``durable-azure serve`` with only the import changed.

The copies live in ``tests/e2e/df_samples/`` (see its README: where they came from and the one-line
change). Each test serves one sample in a subprocess on its own task hub, drives it over HTTP the way
the sample's code intends, and checks the outputs that code produces. Only outside services are
stood in for: the Twilio SMS output binding of ``human_interaction`` (its message is logged, and
the test reads the code from the activity's recorded result), and the backup target of the
fan-in/fan-out samples is Azurite's blob service. No request of these tests may answer 500.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import azure.functions as func
import httpx
import pytest
from azure.storage.blob import BlobServiceClient
from serve_support import Api, Server, delete_hub, start_server

import durable_azure as df

SAMPLES = Path(__file__).resolve().parent / "df_samples"


@pytest.fixture
def serve_sample(azurite: str, tmp_path: Path) -> Iterator[Any]:
    """``serve_sample("samples/function_chaining")`` serves that sample; returns an :class:`Api`."""
    running: list[tuple[Server, Api]] = []
    answered: list[tuple[str, int]] = []

    def record(response: httpx.Response) -> None:
        answered.append((str(response.request.url), response.status_code))

    def serve(sample: str | Path) -> Api:
        server = start_server(tmp_path, app_dir=SAMPLES / sample)
        api = Api(server)
        api.http.event_hooks["response"].append(record)
        running.append((server, api))
        return api

    yield serve
    for server, api in running:
        api.http.close()
        code = server.stop()
        delete_hub(server.hub)
        assert code == 0, f"serve exited with {code}:\n{server.log()[-3000:]}"
    failed = [(url, status) for url, status in answered if status >= 500]
    assert not failed, f"requests answered 5xx: {failed}"


def _log_of(api: Api) -> str:
    return api.server.log()


# ---- samples-v2 (decorators) ---------------------------------------------------------------------


def test_v2_blueprint_on_a_plain_function_app(serve_sample: Any) -> None:
    """A df.Blueprint registered on a plain func.FunctionApp: nothing is "not run locally"."""
    api = serve_sample("samples-v2/blueprint")
    banner = _log_of(api)
    assert "my_orchestrator: orchestrationTrigger" in banner
    assert "say_hello: activityTrigger" in banner
    assert "not run locally" not in banner

    response = api.http.get(api.url("api/startOrchestrator"))
    assert response.status_code == 202, response.text
    status = api.wait_done(response.json())
    assert status["runtimeStatus"] == "Completed", status
    assert status["output"] == ["Hello Tokyo!", "Hello Seattle!", "Hello London!"]

    hello = api.http.get(api.url("api/HttpTrigger"), params={"name": "Ada"})
    assert hello.status_code == 200
    assert hello.text == "Hello, Ada. This HTTP triggered function executed successfully."


def _backup_tree(root: Path) -> dict[str, bytes]:
    """Folders named E2_* holding the files the sample backs up; returns blob name → content."""
    blobs = {}
    for index in range(3):
        folder = root / f"E2_{uuid.uuid4().hex[:12]}"
        folder.mkdir()
        for name, size in (("__init__.py", 10 + index), ("function.json", 100 + index)):
            content = os.urandom(size)
            (folder / name).write_bytes(content)
            blobs[f"{folder.name}_{name}"] = content
    (root / "other").mkdir()
    (root / "other" / "__init__.py").write_text("# not under an E2_ folder: not backed up\n")
    return blobs


def _assert_backed_up(blobs: dict[str, bytes]) -> None:
    service = BlobServiceClient.from_connection_string("UseDevelopmentStorage=true")
    container = service.get_container_client("backups")
    for name, content in blobs.items():
        assert container.download_blob(name).readall() == content, name
        container.delete_blob(name)
    service.close()


@pytest.mark.parametrize("sample", ["samples-v2/fan_in_fan_out", "samples/fan_in_fan_out"])
def test_fan_in_fan_out_backs_up_site_content(serve_sample: Any, tmp_path: Path, sample: str) -> None:
    api = serve_sample(sample)
    root = tmp_path / "site"
    root.mkdir()
    blobs = _backup_tree(root)

    payload = api.start("E2_BackupSiteContent", str(root))
    status = api.wait_done(payload, timeout=60)
    assert status["runtimeStatus"] == "Completed", status
    assert status["output"] == sum(len(content) for content in blobs.values())
    _assert_backed_up(blobs)


def test_fan_in_fan_out_without_input_fails_as_the_sample_says(serve_sample: Any) -> None:
    api = serve_sample("samples/fan_in_fan_out")
    status = api.wait_done(api.start("E2_BackupSiteContent", ""))
    assert status["runtimeStatus"] == "Failed"
    assert "A directory path is required as input" in str(status["output"])


#: Run a sample's tests with its own folder as root: none of this repository's pytest settings or conftests.
_OWN_CONFIG = ["-c", os.devnull, "--rootdir", ".", "--confcutdir", "."]


@pytest.mark.parametrize("sample", ["samples-v2/blueprint", "samples-v2/fan_in_fan_out"])
def test_v2_samples_own_unit_tests_pass(sample: str) -> None:
    """The samples' own pytest tests (their @patch targets moved to durable_azure) pass unchanged."""
    folder = SAMPLES / sample
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "tests", "-q", "-p", "no:cacheprovider", *_OWN_CONFIG],
        cwd=folder,
        env={**os.environ, "PYTHONPATH": str(folder)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert " passed" in result.stdout and "failed" not in result.stdout, result.stdout


# ---- samples (v1: function.json folders) ---------------------------------------------------------


def test_v1_function_chaining(serve_sample: Any) -> None:
    api = serve_sample("samples/function_chaining")
    assert "E1_HelloSequence: orchestrationTrigger" in _log_of(api)
    status = api.wait_done(api.start("E1_HelloSequence"))
    assert status["runtimeStatus"] == "Completed", status
    assert status["output"] == ["Hello Tokyo!", "Hello Seattle!", "Hello London!"]


def test_v1_simple_sub_orchestration(serve_sample: Any) -> None:
    api = serve_sample("samples/simple_sub_orchestration")
    payload = api.start("DurableOrchestrator")
    status = api.wait_done(payload)
    assert status["runtimeStatus"] == "Completed", status
    assert status["output"] == "Hello Seattle!"
    kinds = [event["EventType"] for event in api.history(payload)]
    assert "SubOrchestrationInstanceCompleted" in kinds


def test_v1_counter_entity(serve_sample: Any) -> None:
    """DurableTrigger answers through its `message` http output; RetrieveEntity reads the entity
    with DurableOrchestrationClient(starter).read_entity_state and EntityId from models.utils.entity_utils."""
    api = serve_sample("samples/counter_entity")
    missing = api.http.get(api.url("api/entity/Counter/myCounter"))
    assert (missing.status_code, missing.text) == (404, "Entity not found")

    for expected in (3, 6):  # the orchestration adds 3, then reads the counter
        response = api.http.get(api.url("api/orchestrators/DurableOrchestration"))
        assert response.status_code == 202, response.text
        status = api.wait_done(response.json())
        assert status["runtimeStatus"] == "Completed", status
        assert status["output"] == expected

    entity = api.http.get(api.url("api/entity/Counter/myCounter"))
    assert entity.status_code == 200, entity.text
    assert entity.json() == {"entity": "Counter", "key": "myCounter", "state": 6}


def _challenge_code(api: Api, payload: dict[str, Any]) -> str:
    def recorded() -> str | None:
        for event in api.history(payload):
            if event["EventType"] == "TaskCompleted" and event.get("FunctionName") == "SendSMSChallenge":
                return str(event["Result"])
        return None

    return api.until(recorded, what="the SMS challenge to be sent")


def test_v1_human_interaction_right_code(serve_sample: Any) -> None:
    api = serve_sample("samples/human_interaction")
    payload = api.start("E4_SMSPhoneVerification", "+14255550100")
    code = _challenge_code(api, payload)
    assert f'"body": "Your verification code is {code}", "to": "+14255550100"' in _log_of(api)

    raised = api.http.post(api.fill(payload["sendEventPostUri"], eventName="SmsChallengeResponse"), json=code)
    assert raised.status_code == 202, raised.text
    status = api.wait_done(payload)
    assert status["runtimeStatus"] == "Completed", status
    assert status["output"] is True


def test_v1_human_interaction_three_wrong_codes(serve_sample: Any) -> None:
    api = serve_sample("samples/human_interaction")
    payload = api.start("E4_SMSPhoneVerification", "+14255550100")
    code = _challenge_code(api, payload)
    url = api.fill(payload["sendEventPostUri"], eventName="SmsChallengeResponse")
    for attempt in range(3):
        wrong = f"{code}{attempt}"
        assert api.http.post(url, json=wrong).status_code == 202
    status = api.wait_done(payload)
    assert status["runtimeStatus"] == "Completed", status
    assert status["output"] is False


def test_v1_human_interaction_rejects_a_bad_number(serve_sample: Any) -> None:
    api = serve_sample("samples/human_interaction")
    status = api.wait_done(api.start("E4_SMSPhoneVerification", "4255550100"))
    assert status["runtimeStatus"] == "Failed"
    assert "international dialing prefix" in str(status["output"])


def test_v1_counter_entity_after_migrate_v1(serve_sample: Any, tmp_path: Path) -> None:
    """The app `durable-azure migrate-v1` writes for Azure (function_app.py, no function.json)
    serves the same: the durable functions run, the starter's client binding is filled."""
    app_dir = tmp_path / "counter_entity"
    shutil.copytree(SAMPLES / "samples/counter_entity", app_dir, ignore=shutil.ignore_patterns("__pycache__"))
    migrated = subprocess.run(
        [sys.executable, "-m", "durable_azure.cli.main", "migrate-v1", "--app-dir", str(app_dir)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    assert not list(app_dir.glob("*/function.json"))

    api = serve_sample(app_dir)
    banner = _log_of(api)
    assert "not run locally" not in banner
    assert "DurableOrchestration: orchestrationTrigger" in banner
    response = api.http.post(api.url("api/orchestrators/DurableOrchestration"))
    assert response.status_code == 202, response.text
    status = api.wait_done(response.json())
    assert (status["runtimeStatus"], status["output"]) == ("Completed", 3)
    entity = api.http.get(api.url("api/entity/Counter/myCounter"))
    assert entity.json() == {"entity": "Counter", "key": "myCounter", "state": 3}
    # The management API route enable_azure_hosting adds for Azure answers too.
    listed = api.http.get(api.url(f"api/durabletask/instances/{response.json()['id']}"))
    assert listed.status_code == 200 and listed.json()["runtimeStatus"] == "Completed"


def test_v1_app_under_durable_azure_worker(azurite: str, tmp_path: Path) -> None:
    """`durable-azure worker` runs a v1 app's durable functions (started here through the client)."""
    hub = "e2ev1w" + uuid.uuid4().hex[:12]
    log_path = tmp_path / "worker.log"
    env = {**os.environ, "AzureWebJobsStorage": azurite, "DURABLE_AZURE_HUB": hub, "PYTHONUNBUFFERED": "1"}
    with log_path.open("wb") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "durable_azure.cli.main", "worker"],
            cwd=SAMPLES / "samples/function_chaining",
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    async def run() -> Any:
        async with df.DurableOrchestrationClient.from_connection_string(azurite, hub_name=hub) as client:
            instance_id = await client.start_new("E1_HelloSequence")
            return await client.wait_for_completion(instance_id, timeout=60)

    try:
        status = asyncio.run(run())
    finally:
        worker.send_signal(signal.SIGINT)
        code = worker.wait(30)
        delete_hub(hub)
    assert code == 0, log_path.read_text()
    assert status.runtime_status.value == "Completed", log_path.read_text()[-3000:]
    assert status.output == ["Hello Tokyo!", "Hello Seattle!", "Hello London!"]


def test_v2_blueprint_in_azure_mode(azurite: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """DF's blueprint sample (a plain func.FunctionApp) plus the one line Azure needs,
    ``df.enable_azure_hosting(app)``, driven the way the Functions host drives an app: the host
    indexes no durable trigger, and the engine it starts runs the blueprint's orchestration."""
    from azure.functions.timer import TimerRequest

    from durable_azure.functions import runtime
    from durable_azure.functions.loader import find_app, load_module

    folder = SAMPLES / "samples-v2/blueprint"
    hub = "e2ev2az" + uuid.uuid4().hex[:12]
    monkeypatch.setenv("DURABLE_AZURE_HUB", hub)
    monkeypatch.setenv("AzureWebJobsStorage", azurite)
    monkeypatch.setenv("AzureWebJobsScriptRoot", str(folder))
    monkeypatch.syspath_prepend(str(folder))
    runtime._settings_for.cache_clear()
    app = find_app(load_module(folder))
    hosting = df.enable_azure_hosting(app)
    try:
        functions = {f.get_function_name(): f for f in app.get_functions()}
        assert set(functions) == {
            "start_orchestrator",
            "HttpTrigger",
            "durable_management_api",
            "durable_dashboard",
            "durable_workitems",
            "durable_worker_supervisor",
        }
        functions["durable_worker_supervisor"].get_user_function()(TimerRequest(past_due=False))

        async def drive() -> dict[str, Any]:
            starter = functions["start_orchestrator"].get_user_function()
            api = functions["durable_management_api"].get_user_function()
            request = func.HttpRequest(method="GET", url="http://localhost/api/startOrchestrator", body=b"")
            response = await starter(request)
            assert response.status_code == 202, response.get_body()
            instance_id = json.loads(response.get_body())["id"]

            async def status() -> dict[str, Any] | None:
                answer = await api(
                    func.HttpRequest(
                        method="GET",
                        url=f"http://localhost/api/durabletask/instances/{instance_id}",
                        route_params={"path": f"instances/{instance_id}"},
                        body=b"",
                    )
                )
                assert answer.status_code in (200, 202), answer.get_body()
                return json.loads(answer.get_body()) if answer.status_code == 200 else None

            try:
                for _ in range(300):
                    done = await status()
                    if done is not None:
                        return done
                    await asyncio.sleep(0.1)
                raise AssertionError("the orchestration did not finish in 30 s")
            finally:
                await runtime.close_clients()  # the clients made on this (the "Python worker's") loop

        result = asyncio.run(drive())
        assert result["runtimeStatus"] == "Completed"
        assert result["output"] == ["Hello Tokyo!", "Hello Seattle!", "Hello London!"]
    finally:
        hosting.stop()
        runtime._settings_for.cache_clear()
        for name in ("function_app", "durable_blueprints"):
            sys.modules.pop(name, None)
        delete_hub(hub)
