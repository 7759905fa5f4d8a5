"""The ``durable-azure`` command line against Azurite, invoked as a subprocess, as a user would.

A TaskHubWorker for the small app below runs in this test process (on its own event-loop thread)
against the same task hub, so instances started from the command line make progress. Assertions use
``--json`` output for exact values, and check exit codes and the one-line error messages:
0 ok, 1 failed, 2 usage, 3 not found, 4 conflict.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TypeVar

import pytest

import durable_azure as df
from durable_azure.orchestration.entity_id import EntityId

T = TypeVar("T")

CONNECTION = "UseDevelopmentStorage=true"
#: Azurite's well-known account, spelled out (for local.settings.json).
AZURITE = (
    "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
    "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;"
    "BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;"
    "QueueEndpoint=http://127.0.0.1:10001/devstoreaccount1;"
    "TableEndpoint=http://127.0.0.1:10002/devstoreaccount1;"
)
FAST = {
    "lease_duration": 15,
    "lease_renew_interval": 2,
    "lease_acquire_interval": 1,
    "control_queue_visibility_timeout": 10,
    "work_item_visibility_timeout": 10,
    "max_queue_polling_interval": 0.25,
}
WORKER_ID = "cli-test-worker"
_SCRIPT = Path(sys.executable).with_name("durable-azure")
CLI = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "durable_azure.cli.main"]

# ============================================================================= the app

app = df.DFApp()


@app.activity_trigger(input_name="city")
def SayHello(city: str) -> str:
    return f"Hello {city}!"


@app.activity_trigger(input_name="path")
def FailUntilFile(path: str) -> str:
    if not os.path.exists(path):
        raise RuntimeError(f"flag file {os.path.basename(path)} is missing")
    return "flag found"


@app.activity_trigger(input_name="value")
def Boom(value: Any) -> None:
    raise ValueError("kaboom")


@app.orchestration_trigger(context_name="context")
def Hello(context: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
    results = []
    for city in context.get_input() or ["Tokyo"]:
        results.append((yield context.call_activity("SayHello", city)))
    return results


@app.orchestration_trigger(context_name="context")
def WaitForApproval(context: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
    approval = yield context.wait_for_external_event("Approval")
    return {"approved": approval}


@app.orchestration_trigger(context_name="context")
def Flagged(context: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
    return (yield context.call_activity("FailUntilFile", context.get_input()))


@app.orchestration_trigger(context_name="context")
def Failing(context: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
    yield context.call_activity("Boom", None)


@app.entity_trigger(context_name="context")
def Counter(context: Any) -> None:
    value = context.get_state(lambda: 0)
    if context.operation_name == "add":
        value += context.get_input()
    elif context.operation_name == "reset":
        value = 0
    context.set_state(value)
    context.set_result(value)


# ============================================================================= helpers


class ThreadWorker:
    """A TaskHubWorker (and a client) on an event loop in a background thread of this process."""

    def __init__(self, hub: str) -> None:
        self.hub = hub
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="cli-test-worker", daemon=True)
        self.worker: df.TaskHubWorker | None = None
        self.client: df.DurableOrchestrationClient | None = None

    def run(self, coro: Awaitable[T], timeout: float = 60.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)  # type: ignore[arg-type]

    def start(self) -> None:
        self.thread.start()

        async def begin() -> None:
            self.worker = df.TaskHubWorker(app, CONNECTION, hub_name=self.hub, worker_id=WORKER_ID, **FAST)
            await self.worker.start()
            self.client = df.DurableOrchestrationClient.from_connection_string(CONNECTION, hub_name=self.hub)

        self.run(begin())

    def stop(self) -> None:
        async def end() -> None:
            if self.worker is not None:
                await self.worker.stop()
            if self.client is not None:
                await self.client.storage.delete()
                await self.client.close()

        try:
            self.run(end())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()

    # ---- client shortcuts ---------------------------------------------------------------
    def call(self, fn: Callable[[df.DurableOrchestrationClient], Awaitable[T]]) -> T:
        assert self.client is not None
        return self.run(fn(self.client))

    def status(self, instance_id: str) -> df.DurableOrchestrationStatus:
        return self.call(lambda c: c.get_status(instance_id, show_input=True))

    def wait_for(
        self, instance_id: str, *statuses: str, timeout: float = 30.0
    ) -> df.DurableOrchestrationStatus:
        deadline = time.monotonic() + timeout
        while True:
            status = self.status(instance_id)
            if status and status.runtime_status and status.runtime_status.value in statuses:
                return status
            if time.monotonic() > deadline:
                shown = status.runtime_status.value if status and status.runtime_status else "not found"
                raise AssertionError(
                    f"{instance_id} is {shown}, expected one of {statuses} after {timeout} s"
                )
            time.sleep(0.1)

    def start_new(self, name: str, instance_id: str | None = None, data: Any = None) -> str:
        return self.call(lambda c: c.start_new(name, instance_id, data))


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)

    def __str__(self) -> str:
        return f"exit {self.code}\n--- stdout\n{self.out}\n--- stderr\n{self.err}"


def run_cli(
    *args: str,
    hub: str | None = None,
    stdin: str | None = None,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 120,
) -> Result:
    base = {k: v for k, v in os.environ.items() if k not in ("AzureWebJobsStorage", "DURABLE_AZURE_HUB")}
    base["COLUMNS"] = "200"
    command = [*CLI, *(["--hub", hub] if hub else []), *args]
    proc = subprocess.run(
        command,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env={**base, **(env or {})},
        check=False,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def assert_error(result: Result, code: int, *fragments: str) -> None:
    """Exit ``code``, nothing on stdout, exactly one ``Error: ...`` line on stderr containing ``fragments``."""
    assert result.code == code, str(result)
    assert result.out == "", str(result)
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), str(result)
    assert "Traceback" not in result.err
    for fragment in fragments:
        assert fragment in lines[0], str(result)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty folder to run the CLI in (no host.json, so --hub and defaults are what the test says)."""
    return tmp_path_factory.mktemp("cli-cwd")


@pytest.fixture(scope="module")
def hub(azurite: str) -> str:
    return "cli" + uuid.uuid4().hex[:18]


@pytest.fixture(scope="module")
def bg(hub: str) -> Iterator[ThreadWorker]:
    worker = ThreadWorker(hub)
    worker.start()
    try:
        yield worker
    finally:
        worker.stop()


@pytest.fixture
def cli(hub: str, bg: ThreadWorker, workdir: Path) -> Callable[..., Result]:
    """``cli("status", id, "--json")`` runs the command against the module's hub (worker running)."""

    def invoke(*args: str, **kwargs: Any) -> Result:
        kwargs.setdefault("cwd", workdir)
        return run_cli(*args, hub=hub, **kwargs)

    return invoke


# ============================================================================= help and usage


def _commands() -> list[list[str]]:
    from durable_azure.cli.main import cli as group

    found: list[list[str]] = [[]]
    for name, command in group.commands.items():
        found.append([name])
        for sub in getattr(command, "commands", {}):
            found.append([name, sub])
    return found


@pytest.mark.parametrize("path", _commands(), ids=lambda p: " ".join(p) or "durable-azure")
def test_help_on_every_command(path: list[str], workdir: Path) -> None:
    result = run_cli(*path, "--help", cwd=workdir)
    assert result.code == 0, str(result)
    assert result.out.startswith("Usage: durable-azure"), result.out
    assert result.err == ""


def test_every_issue_command_exists() -> None:
    names = {" ".join(p) for p in _commands()}
    wanted = """hub;hub create;hub info;hub delete;start;status;list;raise;terminate;suspend;resume;rewind;
        restart;purge;signal;entity;history;serve;worker""".replace("\n", "").split(";")
    assert {w.strip() for w in wanted} <= names


def test_unknown_command_and_option_are_usage_errors(workdir: Path) -> None:
    assert_error(run_cli("frobnicate", cwd=workdir), 2, "No such command 'frobnicate'")
    assert_error(run_cli("status", "x", "--bogus", cwd=workdir), 2, "--bogus", "durable-azure status --help")
    assert_error(run_cli("status", cwd=workdir), 2, "Missing argument 'ID'")


def test_malformed_json_input_names_the_option(cli: Callable[..., Result]) -> None:
    assert_error(cli("start", "Hello", "--input", "{bad"), 2, "'--input'", "not valid JSON")
    assert_error(cli("start", "Hello", "--input", "Tokyo"), 2, "'--input'", "quote strings")
    assert_error(cli("raise", "some-id", "Approval", "--data", "[1,"), 2, "'--data'", "not valid JSON")
    assert_error(cli("signal", "Counter", "k", "add", "--input", "nope"), 2, "'--input'", "not valid JSON")


def test_input_from_a_file(cli: Callable[..., Result], bg: ThreadWorker, tmp_path: Path) -> None:
    payload = tmp_path / "cities.json"
    payload.write_text('["Lima", "Oslo"]', encoding="utf-8")
    started = cli("start", "Hello", "--input", f"@{payload}", "--json")
    assert started.code == 0, str(started)
    status = bg.wait_for(started.json()["instanceId"], "Completed")
    assert status.output == ["Hello Lima!", "Hello Oslo!"]
    assert_error(
        cli("start", "Hello", "--input", f"@{tmp_path / 'missing.json'}"), 2, "'--input'", "cannot read"
    )


def test_bad_values_are_usage_errors(cli: Callable[..., Result]) -> None:
    assert_error(cli("list", "--top", "0"), 2, "'--top'")
    assert_error(cli("list", "--status", "Sleeping"), 2, "'--status'", "Running, Pending")
    assert_error(cli("list", "--created-from", "last tuesday"), 2, "'--created-from'", "ISO 8601")
    assert_error(cli("list", "--continuation", "garbage"), 2, "'--continuation'", "not a token")
    assert_error(cli("start", "Hello", "--id", "bad/id"), 2, "bad/id")
    assert_error(cli("entity", "coun@ter", "k"), 2, "'ENTITY'")
    assert_error(run_cli("--hub", "no spaces allowed", "list"), 2, "Invalid task hub name")


def test_input_limits_are_usage_errors(cli: Callable[..., Result]) -> None:
    """Issue 13: values storage cannot hold are refused before anything is sent."""
    assert_error(cli("signal", "Counter", "k" * 600, "add"), 2, "'KEY'", "1024 bytes")
    assert_error(cli("entity", "Counter", "2020/08/07"), 2, "'KEY'", "contains '/'")
    assert_error(cli("signal", "Counter", "k", "op\x01"), 2, "'OP'", "control character")
    assert_error(cli("raise", "some-id", "x" * 1025), 2, "'EVENT'", "1024")
    assert_error(cli("terminate", "some-id", "--reason", "r" * 9000), 2, "'--reason'", "8,192")
    assert_error(cli("start", "Hello", "--input", "[NaN]"), 2, "NaN or Infinity")
    assert_error(cli("start", "Hello", "--input", str(2**64)), 2, "64-bit")
    assert_error(cli("start", "Hello", "--wait", "--timeout", "0"), 2, "'--timeout'")
    assert_error(cli("purge", "--created-to", "now", "--force"), 2, "--force applies to one instance")


# ============================================================================= hub


def test_hub_create_info_delete(hub_name: str, workdir: Path) -> None:
    assert_error(
        run_cli("hub", "info", hub=hub_name, cwd=workdir), 3, f"Task hub '{hub_name}' does not exist"
    )

    created = run_cli("hub", "create", "--json", hub=hub_name, cwd=workdir)
    assert created.code == 0, str(created)
    lower = hub_name.lower()
    assert created.json() == {
        "hub": hub_name,
        "partitionCount": 4,
        "tables": [f"{hub_name}History", f"{hub_name}Instances", f"{hub_name}Partitions"],
        "queues": [f"{lower}-control-0{i}" for i in range(4)] + [f"{lower}-workitems"],
        "containers": [f"{lower}-largemessages", f"{lower}-applease"],
    }
    again = run_cli("hub", "create", hub=hub_name, cwd=workdir)
    assert again.code == 0 and f"Task hub '{hub_name}' is ready (4 partitions)" in again.out

    info = run_cli("hub", "info", "--json", hub=hub_name, cwd=workdir)
    assert info.code == 0, str(info)
    data = info.json()
    assert data["partitionCount"] == 4 and data["instances"] == {} and data["workItems"] == 0
    assert [p["partition"] for p in data["partitions"]] == [f"{lower}-control-0{i}" for i in range(4)]
    assert all(p["owner"] is None and p["messages"] == 0 for p in data["partitions"])
    assert data["partitionLayouts"] == ["table"]  # no taskhub.json: the hub is found by its Partitions table
    table = run_cli("hub", "info", hub=hub_name, cwd=workdir)
    assert table.code == 0 and f"{lower}-control-03" in table.out and "Instances" in table.out

    # refuse without confirmation, delete with it
    refused = run_cli("hub", "delete", hub=hub_name, cwd=workdir, stdin="n\n")
    assert refused.code == 1 and "Aborted." in refused.err, str(refused)
    assert run_cli("hub", "info", hub=hub_name, cwd=workdir).code == 0
    confirmed = run_cli("hub", "delete", hub=hub_name, cwd=workdir, stdin="y\n")
    assert confirmed.code == 0 and f"Deleted task hub '{hub_name}'." in confirmed.out, str(confirmed)
    assert_error(run_cli("hub", "info", hub=hub_name, cwd=workdir), 3, "does not exist")
    assert_error(run_cli("hub", "delete", "--yes", hub=hub_name, cwd=workdir), 3, "does not exist")


def test_hub_create_with_more_partitions_is_remembered(hub_name: str, workdir: Path) -> None:
    created = run_cli("--partitions", "6", "hub", "create", "--json", hub=hub_name, cwd=workdir)
    try:
        assert created.code == 0 and created.json()["partitionCount"] == 6, str(created)
        # later commands read the partition count the hub recorded (its {Hub}Partitions rows)
        info = run_cli("hub", "info", "--json", hub=hub_name, cwd=workdir)
        assert info.json()["partitionCount"] == 6 and len(info.json()["partitions"]) == 6
    finally:
        run_cli("hub", "delete", "--yes", hub=hub_name, cwd=workdir)


def test_hub_info_shows_lease_owners_queue_depths_and_counts(
    cli: Callable[..., Result], bg: ThreadWorker
) -> None:
    instance = bg.start_new("Hello", unique("info"), ["Rome"])
    bg.wait_for(instance, "Completed")
    deadline = time.monotonic() + 30
    while True:
        data = cli("hub", "info", "--json").json()
        owners = [p["owner"] for p in data["partitions"]]
        if all(owner == WORKER_ID for owner in owners) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert owners == [WORKER_ID] * 4
    assert all(p["leased"] for p in data["partitions"])
    assert all(isinstance(p["messages"], int) for p in data["partitions"])
    assert data["instances"].get("Completed", 0) >= 1
    table = cli("hub", "info")
    assert WORKER_ID in table.out and "Completed" in table.out


# ============================================================================= start / status


def test_start_and_status(cli: Callable[..., Result], bg: ThreadWorker) -> None:
    instance = unique("hello")
    started = cli("start", "Hello", "--input", '["Tokyo", "Seattle"]', "--id", instance, "--json")
    assert started.code == 0, str(started)
    assert started.json() == {"instanceId": instance, "name": "Hello"}
    bg.wait_for(instance, "Completed")

    status = cli("status", instance, "--json")
    assert status.code == 0, str(status)
    data = status.json()
    assert data["instanceId"] == instance and data["name"] == "Hello"
    assert data["runtimeStatus"] == "Completed"
    assert data["input"] == ["Tokyo", "Seattle"]
    assert data["output"] == ["Hello Tokyo!", "Hello Seattle!"]
    assert data["executionId"] and data["completedTime"] and data["createdTime"]
    assert "historyEvents" not in data

    with_history = cli("status", instance, "--history", "--json").json()
    kinds = [e["EventType"] for e in with_history["historyEvents"]]
    assert kinds[0] == "ExecutionStarted" and kinds[-1] == "ExecutionCompleted"
    assert kinds.count("TaskCompleted") == 2

    table = cli("status", instance, "--history")
    assert table.code == 0
    for fragment in (
        instance,
        "Completed",
        "Hello Tokyo!",
        "TaskCompleted",
        "SayHello",
        "ExecutionCompleted",
    ):
        assert fragment in table.out, table.out

    plain = cli("start", "Hello")
    assert plain.code == 0 and plain.out.startswith("Started 'Hello' as instance "), str(plain)


def test_status_of_an_unknown_instance(cli: Callable[..., Result], hub: str) -> None:
    result = cli("status", "no-such-instance")
    assert result.code == 3
    assert result.err == f"Error: No instance 'no-such-instance' in task hub '{hub}'.\n"
    assert_error(cli("status", "no-such-instance", "--json"), 3, "No instance 'no-such-instance'")


def test_failed_instance_exits_1(cli: Callable[..., Result], bg: ThreadWorker) -> None:
    waited = cli("start", "Failing", "--wait", "--timeout", "60", "--json")
    assert waited.code == 1, str(waited)
    data = waited.json()
    assert data["runtimeStatus"] == "Failed"
    assert "kaboom" in json.dumps(data["output"])
    status = cli("status", data["instanceId"])
    assert status.code == 1 and "Failed" in status.out


def test_start_wait_prints_the_final_status(cli: Callable[..., Result]) -> None:
    waited = cli("start", "Hello", "--input", '["Paris"]', "--wait", "--json")
    assert waited.code == 0, str(waited)
    assert waited.json()["runtimeStatus"] == "Completed" and waited.json()["output"] == ["Hello Paris!"]


def test_start_with_the_id_of_a_running_instance_is_a_conflict(
    cli: Callable[..., Result], bg: ThreadWorker
) -> None:
    instance = unique("busy")
    assert cli("start", "WaitForApproval", "--id", instance).code == 0
    bg.wait_for(instance, "Running")
    assert_error(cli("start", "WaitForApproval", "--id", instance), 4, instance, "already Running")
    assert cli("terminate", instance).code == 0


# ============================================================================= events and control


def test_raise_event(cli: Callable[..., Result], bg: ThreadWorker) -> None:
    instance = unique("approve")
    assert cli("start", "WaitForApproval", "--id", instance).code == 0
    bg.wait_for(instance, "Running")
    raised = cli("raise", instance, "Approval", "--data", '{"by": "ops"}', "--json")
    assert raised.code == 0, str(raised)
    assert raised.json() == {"instanceId": instance, "event": "Approval", "sent": True}
    status = bg.wait_for(instance, "Completed")
    assert status.output == {"approved": {"by": "ops"}}
    assert_error(cli("raise", instance, "Approval"), 4, "Completed")
    assert_error(cli("raise", "missing-instance", "Approval"), 3, "No instance 'missing-instance'")


def test_terminate(cli: Callable[..., Result], bg: ThreadWorker) -> None:
    instance = unique("term")
    assert cli("start", "WaitForApproval", "--id", instance).code == 0
    bg.wait_for(instance, "Running")
    result = cli("terminate", instance, "--reason", "no longer needed")
    assert result.code == 0 and result.out == f"Terminating instance {instance} (request sent)\n"
    status = bg.wait_for(instance, "Terminated")
    assert status.output == "no longer needed"
    assert_error(cli("terminate", instance), 4, "already Terminated")
    assert_error(cli("terminate", "missing-instance"), 3, "No instance 'missing-instance'")


def test_suspend_and_resume(cli: Callable[..., Result], bg: ThreadWorker) -> None:
    instance = unique("pause")
    assert cli("start", "WaitForApproval", "--id", instance).code == 0
    bg.wait_for(instance, "Running")
    suspended = cli("suspend", instance, "--reason", "maintenance", "--json")
    assert suspended.json() == {"instanceId": instance, "operation": "suspend", "sent": True}
    bg.wait_for(instance, "Suspended")
    assert cli("raise", instance, "Approval", "--data", "true").code == 0
    time.sleep(1.5)
    assert bg.status(instance).runtime_status.value == "Suspended"  # the event waits
    assert cli("resume", instance, "--reason", "done").code == 0
    assert bg.wait_for(instance, "Completed").output == {"approved": True}
    assert_error(cli("suspend", instance), 4, "Completed")
    assert_error(cli("resume", "missing-instance"), 3, "No instance")


def test_rewind(cli: Callable[..., Result], bg: ThreadWorker, tmp_path: Path) -> None:
    flag = tmp_path / "flag"
    instance = unique("rewind")
    assert cli("start", "Flagged", "--id", instance, "--input", json.dumps(str(flag))).code == 0
    bg.wait_for(instance, "Failed")
    assert cli("status", instance).code == 1
    flag.write_text("ok")
    rewound = cli("rewind", instance, "--reason", "flag fixed")
    assert rewound.code == 0, str(rewound)
    assert bg.wait_for(instance, "Completed").output == "flag found"
    assert_error(cli("rewind", instance), 4, "Only Failed instances can be rewound")
    assert_error(cli("rewind", "missing-instance"), 3, "No instance")


def test_restart(cli: Callable[..., Result], bg: ThreadWorker) -> None:
    instance = unique("again")
    bg.start_new("Hello", instance, ["Kyiv"])
    first = bg.wait_for(instance, "Completed")

    renewed = cli("restart", instance, "--json")
    assert renewed.code == 0, str(renewed)
    new_id = renewed.json()["instanceId"]
    assert new_id != instance and renewed.json()["restartedFrom"] == instance
    assert bg.wait_for(new_id, "Completed").output == ["Hello Kyiv!"]

    same = cli("restart", instance, "--same-id")
    assert same.code == 0 and same.out.strip() == f"Restarted {instance} as instance {instance}", str(same)
    deadline = time.monotonic() + 30
    while True:
        again = bg.status(instance)
        if again.execution_id != first.execution_id and again.runtime_status.value == "Completed":
            break
        assert time.monotonic() < deadline, "the same-id restart did not complete"
        time.sleep(0.2)
    assert again.output == ["Hello Kyiv!"]
    assert_error(cli("restart", "missing-instance"), 3, "No instance")


# ============================================================================= list


def test_list_with_paging_and_filters(cli: Callable[..., Result], bg: ThreadWorker) -> None:
    prefix = unique("page") + "-"
    before = datetime.now(timezone.utc)
    ids = [f"{prefix}{i}" for i in range(5)]
    for instance in ids:
        bg.start_new("Hello", instance, ["Bern"])
    for instance in ids:
        bg.wait_for(instance, "Completed")

    first = cli("list", "--prefix", prefix, "--top", "2", "--json")
    assert first.code == 0, str(first)
    page1 = first.json()
    assert [i["instanceId"] for i in page1["instances"]] == ids[:2]
    assert page1["continuationToken"]
    second = cli(
        "list", "--prefix", prefix, "--top", "2", "--continuation", page1["continuationToken"], "--json"
    )
    assert [i["instanceId"] for i in second.json()["instances"]] == ids[2:4]

    everything = cli("list", "--prefix", prefix, "--top", "2", "--all", "--json").json()
    assert [i["instanceId"] for i in everything["instances"]] == ids
    assert everything["continuationToken"] is None
    assert all(i["runtimeStatus"] == "Completed" and i["name"] == "Hello" for i in everything["instances"])

    completed = cli("list", "--prefix", prefix, "--status", "completed", "--all", "--json").json()
    assert len(completed["instances"]) == 5
    running = cli("list", "--prefix", prefix, "--status", "Running", "--status", "Failed", "--json").json()
    assert running == {"instances": [], "continuationToken": None}

    since = cli("list", "--prefix", prefix, "--created-from", before.isoformat(), "--all", "--json").json()
    assert len(since["instances"]) == 5
    old = cli("list", "--prefix", prefix, "--created-to", "1h", "--json").json()
    assert old["instances"] == []

    table = cli("list", "--prefix", prefix, "--top", "2")
    assert table.code == 0 and ids[0] in table.out and ids[1] in table.out and ids[2] not in table.out
    assert "More: add --continuation " in table.out


# ============================================================================= purge


def test_purge_one_instance(cli: Callable[..., Result], bg: ThreadWorker) -> None:
    instance = unique("purge")
    bg.start_new("Hello", instance)
    bg.wait_for(instance, "Completed")
    purged = cli("purge", instance, "--json")
    assert purged.code == 0 and purged.json() == {"instancesDeleted": 1}, str(purged)
    assert_error(cli("status", instance), 3, "No instance")
    assert_error(cli("purge", instance), 3, "No instance")

    running = unique("purge-running")
    assert cli("start", "WaitForApproval", "--id", running).code == 0
    bg.wait_for(running, "Running")
    assert_error(cli("purge", running), 4, "is Running", "--force")
    forced = cli("purge", running, "--force")
    assert forced.code == 0 and forced.out == f"Terminated and purged instance {running}\n", str(forced)
    assert not bg.status(running)


def test_purge_by_time_range(cli: Callable[..., Result], bg: ThreadWorker) -> None:
    start = datetime.now(timezone.utc)
    done = [bg.start_new("Hello", unique("old")) for _ in range(3)]
    failed = bg.start_new("Failing", unique("old-failed"))
    waiting = bg.start_new("WaitForApproval", unique("old-waiting"))
    for instance in done:
        bg.wait_for(instance, "Completed")
    bg.wait_for(failed, "Failed")
    bg.wait_for(waiting, "Running")
    end = datetime.now(timezone.utc) + timedelta(milliseconds=1)

    window = ["--created-from", start.isoformat(), "--created-to", end.isoformat()]
    only_failed = cli("purge", *window, "--status", "Failed", "--json")
    assert only_failed.code == 0 and only_failed.json() == {"instancesDeleted": 1}, str(only_failed)
    assert not bg.status(failed) and bg.status(done[0])

    everything = cli("purge", *window)
    assert everything.code == 0 and "Purged 3 instance(s)" in everything.out, str(everything)
    assert "Purging" in everything.err  # the progress display
    assert not any(bg.status(i) for i in done)
    assert bg.status(waiting).runtime_status.value == "Running"  # running instances are never purged
    assert cli("terminate", waiting).code == 0

    assert_error(cli("purge"), 2, "Give an instance ID")
    assert_error(cli("purge", "some-id", "--created-to", "now"), 2, "not both")
    assert_error(cli("purge", "--created-to", "now", "--status", "Running"), 2, "'--status'", "only finished")


# ============================================================================= entities


def test_signal_and_read_an_entity(cli: Callable[..., Result], bg: ThreadWorker, hub: str) -> None:
    key = unique("k")
    signalled = cli("signal", "Counter", key, "add", "--input", "5", "--json")
    assert signalled.code == 0, str(signalled)
    assert signalled.json() == {"instanceId": f"@counter@{key}", "operation": "add", "sent": True}
    assert cli("signal", "Counter", key, "add", "--input", "3").code == 0

    deadline = time.monotonic() + 30
    while True:
        state = bg.call(lambda c: c.read_entity_state(EntityId("Counter", key)))
        if state.entity_exists and state.entity_state == 8:
            break
        assert time.monotonic() < deadline, f"entity state is {state.entity_state!r}"
        time.sleep(0.2)
    shown = cli("entity", "Counter", key, "--json")
    assert shown.code == 0, str(shown)
    assert shown.json() == {
        "instanceId": f"@counter@{key}",
        "name": "Counter",
        "key": key,
        "exists": True,
        "state": 8,
    }
    assert cli("entity", "Counter", key).out == f"@counter@{key}: 8\n"
    result = cli("entity", "Counter", "nobody")
    assert result.code == 3 and result.err == f"Error: No entity '@counter@nobody' in task hub '{hub}'.\n"


# ============================================================================= history


def test_history_table_json_and_html(cli: Callable[..., Result], bg: ThreadWorker, tmp_path: Path) -> None:
    instance = unique("hist")
    bg.start_new("Hello", instance, ["Quito", "Accra"])
    bg.wait_for(instance, "Completed")

    as_json = cli("history", instance, "--json")
    assert as_json.code == 0, str(as_json)
    data = as_json.json()
    assert data["instanceId"] == instance and data["runtimeStatus"] == "Completed"
    events = data["events"]
    assert [e["sequence"] for e in events] == list(range(len(events)))
    kinds = [e["eventType"] for e in events]
    assert kinds[:2] == ["OrchestratorStarted", "ExecutionStarted"]
    assert kinds.count("TaskScheduled") == 2 and kinds.count("TaskCompleted") == 2
    completions = [e for e in events if e["eventType"] == "TaskCompleted"]
    assert [e["name"] for e in completions] == ["SayHello", "SayHello"]
    assert [e["result"] for e in completions] == ["Hello Quito!", "Hello Accra!"]
    assert all(e["durationMs"] is not None and e["durationMs"] >= 0 for e in completions)
    assert all(e["offsetMs"] >= 0 for e in events if e["eventType"] != "OrchestratorStarted")
    final = next(e for e in events if e["eventType"] == "ExecutionCompleted")
    assert final["status"] == "Completed" and final["result"] == ["Hello Quito!", "Hello Accra!"]

    table = cli("history", instance)
    assert table.code == 0
    header = table.out.splitlines()[0]
    for column in ("#", "Time (UTC)", "Offset", "Event", "Name", "Details", "Duration"):
        assert column in header, header
    assert "SayHello" in table.out and "TaskCompleted" in table.out and "ms" in table.out

    page = tmp_path / "timeline.html"
    wrote = cli("history", instance, "--html", str(page))
    assert wrote.code == 0 and str(page) in wrote.out, str(wrote)
    html = page.read_text(encoding="utf-8")
    assert html.count('data-kind="activity"') == 2 and 'data-kind="orchestration"' in html
    to_stdout = cli("history", instance, "--html", "-")
    assert to_stdout.out.startswith("<!DOCTYPE html>")

    assert_error(cli("history", "missing-instance"), 3, "No instance 'missing-instance'")
    assert_error(cli("history", instance, "--html", str(tmp_path / "no" / "dir.html")), 1, "Cannot write")


# ============================================================================= settings from the app folder


def test_hub_and_connection_from_host_json_and_local_settings(
    bg: ThreadWorker, hub: str, tmp_path: Path
) -> None:
    instance = bg.start_new("Hello", unique("settings"), ["Lagos"])
    bg.wait_for(instance, "Completed")
    (tmp_path / "host.json").write_text(
        json.dumps({"version": "2.0", "extensions": {"durableTask": {"hubName": hub}}})
    )
    (tmp_path / "local.settings.json").write_text(json.dumps({"Values": {"AzureWebJobsStorage": AZURITE}}))

    in_dir = run_cli("status", instance, "--json", cwd=tmp_path)
    assert in_dir.code == 0 and in_dir.json()["output"] == ["Hello Lagos!"], str(in_dir)
    elsewhere = run_cli("--app-dir", str(tmp_path), "status", instance, "--json", cwd=tmp_path.parent)
    assert elsewhere.code == 0, str(elsewhere)
    # --hub wins over host.json
    assert_error(run_cli("--hub", "OtherHub", "status", instance, cwd=tmp_path), 3, "task hub 'OtherHub'")


def test_malformed_host_json_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "host.json").write_text("{not json")
    assert_error(run_cli("list", cwd=tmp_path), 2, "Cannot read the settings")


def test_unreachable_storage_fails_fast(workdir: Path) -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    connection = AZURITE.replace("10000", str(port)).replace("10001", str(port)).replace("10002", str(port))
    began = time.monotonic()
    result = run_cli("--connection", connection, "--hub", "Unreachable", "status", "x", cwd=workdir)
    assert_error(result, 1, "Cannot reach Azure Storage", f"127.0.0.1:{port}", "connection refused")
    assert time.monotonic() - began < 30


# ============================================================================= worker and serve


def _host_available(name: str) -> bool:
    try:
        from durable_azure.functions import host
    except ImportError:
        return False
    return callable(getattr(host, name, None))


FUNCTION_APP = """
import durable_azure as df

app = df.DFApp()


@app.orchestration_trigger(context_name="context")
def Greet(context):
    first = yield context.call_activity("Shout", context.get_input())
    second = yield context.call_activity("Shout", first)
    return second


@app.activity_trigger(input_name="text")
def Shout(text):
    return text.upper() + "!"
"""


def _app_dir(tmp_path: Path, hub: str) -> Path:
    folder = tmp_path / "app"
    folder.mkdir()
    (folder / "function_app.py").write_text(FUNCTION_APP)
    host = {
        "version": "2.0",
        "extensions": {
            "durableTask": {"hubName": hub, "storageProvider": {"maxQueuePollingInterval": "00:00:00.25"}}
        },
    }
    (folder / "host.json").write_text(json.dumps(host))
    (folder / "local.settings.json").write_text(json.dumps({"Values": {"AzureWebJobsStorage": CONNECTION}}))
    return folder


def _stop(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    proc.send_signal(signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    return proc.returncode, out, err


def test_worker_requires_a_function_app(tmp_path: Path) -> None:
    assert_error(
        run_cli("worker", "--app-dir", str(tmp_path), cwd=tmp_path), 2, "no function_app.py", "'--app-dir'"
    )
    assert_error(run_cli("serve", "--app-dir", str(tmp_path), cwd=tmp_path), 2, "no function_app.py")


@pytest.mark.skipif(
    not _host_available("run_worker"), reason="durable_azure.functions.host.run_worker not available"
)
def test_worker_command_runs_the_app(hub_name: str, tmp_path: Path) -> None:
    folder = _app_dir(tmp_path, hub_name)
    proc = subprocess.Popen(
        [*CLI, "worker", "--app-dir", str(folder)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    try:
        waited = run_cli("--app-dir", str(folder), "start", "Greet", "--input", '"hi"', "--wait", "--json")
        assert waited.code == 0, str(waited)
        assert waited.json()["output"] == "HI!!"
    finally:
        code, out, err = _stop(proc)
        run_cli("--app-dir", str(folder), "hub", "delete", "--yes")
    assert code == 0, f"worker exited {code}\n{out}\n{err}"
    assert "Traceback" not in err, err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.skipif(
    not _host_available("run_serve"), reason="durable_azure.functions.host.run_serve not available"
)
def test_serve_command_serves_the_timeline(hub_name: str, tmp_path: Path) -> None:
    folder = _app_dir(tmp_path, hub_name)
    port = _free_port()
    proc = subprocess.Popen(
        [*CLI, "serve", "--app-dir", str(folder), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                assert proc.poll() is None, f"serve exited early: {proc.communicate()}"
                assert time.monotonic() < deadline, "serve did not listen within 60 s"
                time.sleep(0.2)
        waited = run_cli("--app-dir", str(folder), "start", "Greet", "--input", '"yo"', "--wait", "--json")
        assert waited.code == 0 and waited.json()["output"] == "YO!!", str(waited)
        instance = waited.json()["instanceId"]
        with urllib.request.urlopen(
            f"http://127.0.0.1:{port}/durable/instances/{instance}", timeout=30
        ) as reply:
            page = reply.read().decode("utf-8")
        assert page.count('data-kind="activity"') == 2 and "Greet" in page
    finally:
        _stop(proc)
        run_cli("--app-dir", str(folder), "hub", "delete", "--yes")


def test_list_entities_and_delete_one(cli: Callable[..., Result], bg: ThreadWorker, hub: str) -> None:
    key = unique("listed")
    assert cli("signal", "Counter", key, "add", "--input", "4").code == 0

    def listed() -> list[dict[str, Any]]:
        result = cli("entities", "--name", "Counter", "--all", "--json")
        assert result.code == 0, str(result)
        return [e for e in result.json()["entities"] if e["entityId"]["key"] == key]

    deadline = time.monotonic() + 30
    while not listed():
        assert time.monotonic() < deadline, "the entity never appeared in 'entities'"
        time.sleep(0.2)
    (item,) = listed()
    assert item["entityId"] == {"name": "counter", "key": key} and item["state"] == 4

    assert cli("signal", "Counter", key, "delete").code == 0
    deadline = time.monotonic() + 30
    while listed():
        assert time.monotonic() < deadline, "a deleted entity is still listed"
        time.sleep(0.2)
    assert cli("entity", "Counter", key).code == 3
