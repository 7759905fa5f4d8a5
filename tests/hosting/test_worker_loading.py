"""The sample app as the Functions Python worker library sees it: what it indexes, how it installs, and
that its engine starts at load and releases its leases when the process ends."""

from __future__ import annotations

import json
import signal
import subprocess
import uuid
from pathlib import Path

from hosts import delete_hub, host_environment, lease_owners, start_host, wait_until
from worker_venv import WorkerEnv

#: The bindings the stock Functions host knows without the .NET Durable extension (HTTP and timer
#: are built in; the queue trigger comes with the extension bundle named in host.json).
STOCK_BINDINGS = {"httpTrigger", "http", "timerTrigger", "queueTrigger"}


def _index(env: WorkerEnv, tmp_path: Path, hub: str) -> dict[str, list[dict[str, object]]]:
    index = tmp_path / "index.json"
    result = subprocess.run(
        [*env.fake_host(), "--index", str(index), "--index-only"],
        env={**host_environment(env.app_dir, hub), "DURABLE_AZURE_START_ENGINE": "0"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return dict(json.loads(index.read_text()))


def test_the_worker_indexes_only_bindings_the_stock_host_knows(worker_env: WorkerEnv, tmp_path: Path) -> None:
    hub = "ix" + uuid.uuid4().hex[:16]
    functions = _index(worker_env, tmp_path, hub)
    kinds = {str(b["type"]) for bindings in functions.values() for b in bindings}
    assert kinds <= STOCK_BINDINGS, kinds - STOCK_BINDINGS
    # Durable functions are run by the engine: the host never sees them.
    assert not {"hello_cities", "say_hello", "Counter", "fan_out_fan_in"} & set(functions)
    workitems = functions["durable_workitems"]
    assert workitems == [
        {
            "type": "queueTrigger",
            "direction": "IN",
            "name": "msg",
            "queueName": f"{hub}-workitems",
            "connection": "AzureWebJobsStorage",
        }
    ]
    management = functions["durable_management_api"][0]
    assert management["route"] == "durabletask/{*path}" and management["authLevel"] == "FUNCTION"
    assert functions["http_start"][0]["authLevel"] == "FUNCTION"
    assert functions["durable_worker_supervisor"][0]["type"] == "timerTrigger"


def test_the_app_installs_from_its_folder_into_a_fresh_venv(worker_env: WorkerEnv) -> None:
    """`durable-azure package` made the folder deployable: requirements.txt names the wheel in it, and
    `pip install -r requirements.txt` in a fresh venv (worker_venv.build) installed durable-azure from it."""
    requirements = (worker_env.app_dir / "requirements.txt").read_text().splitlines()
    assert f"./wheels/{worker_env.wheel.name}" in requirements
    assert not [line for line in requirements if line.strip().startswith("durable-azure")]
    probe = (
        "import importlib.metadata as m, json, durable_azure; "
        "print(json.dumps([durable_azure.__file__, m.distribution('durable-azure').read_text('direct_url.json')]))"
    )
    out = subprocess.run(
        [str(worker_env.python), "-c", probe], capture_output=True, text=True, check=True, cwd="/"
    ).stdout
    location, direct_url = json.loads(out)
    assert str(worker_env.python.parent.parent) in location  # the venv's copy, not this checkout
    assert json.loads(direct_url)["url"].endswith(f"/wheels/{worker_env.wheel.name}")


def test_the_engine_starts_at_load_and_interpreter_exit_releases_its_leases(
    worker_env: WorkerEnv, tmp_path: Path
) -> None:
    """No timer tick and no request: loading the app starts the engine. When the worker process ends
    normally, its leases are released before the interpreter tears its executors down."""
    hub = "ex" + uuid.uuid4().hex[:16]
    host = start_host(worker_env, worker_env.app_dir, hub, tmp_path, "exit", "--exit-after", "6")
    try:
        wait_until(
            lambda: list(lease_owners(hub).values()).count(host.worker_id) == 4,
            timeout=60,
            what="the engine to take every partition",
        )
        assert host.process.wait(60) == 0, host.log()[-3000:]
        assert set(lease_owners(hub).values()) == {None}, host.log()[-3000:]
        assert "leases released" in host.log()
        assert "cannot schedule new futures" not in host.log()
        assert host.stats()["timer_invocations"] == 0
    finally:
        host.stop(signal.SIGKILL)
        delete_hub(hub)
