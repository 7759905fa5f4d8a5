"""``durable-azure poison list|show|retry|delete`` and the poison count of ``hub info``, against Azurite.

The CLI runs as a subprocess, as a user runs it. The poison records are made the way the engine
makes them: a corrupt body received from a control queue (the queue sets it aside) and a decoded
message set aside by the worker's settler with a reason; ``retry`` must put each back exactly.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from durable_azure.orchestration import history as h
from durable_azure.storage.messages import TaskMessage, decode_message
from durable_azure.storage.taskhub import TaskHubStorage
from durable_azure.worker.settle import MessageSettler

_SCRIPT = Path(sys.executable).with_name("durable-azure")
CLI = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "durable_azure.cli.main"]
CORRUPT = "this is {not json"


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)

    def __str__(self) -> str:
        return f"exit {self.code}\n--- stdout\n{self.out}\n--- stderr\n{self.err}"


def run_cli(*args: str, hub: str, cwd: Path, stdin: str | None = None) -> Result:
    env = {k: v for k, v in os.environ.items() if k not in ("AzureWebJobsStorage", "DURABLE_AZURE_HUB")}
    env["COLUMNS"] = "250"
    proc = subprocess.run(
        [*CLI, "--hub", hub, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env=env,
        check=False,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def assert_error(result: Result, code: int, fragment: str) -> None:
    assert result.code == code, str(result)
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and fragment in lines[0], str(result)
    assert "Traceback" not in result.err


@pytest.fixture
async def storage(azurite: str, hub_name: str) -> AsyncIterator[TaskHubStorage]:
    async with TaskHubStorage(azurite, hub_name) as hub:
        try:
            yield hub
        finally:
            await hub.delete()


async def test_poison_commands(storage: TaskHubStorage, hub_name: str, tmp_path: Path) -> None:
    assert_error(run_cli("poison", "list", hub=hub_name, cwd=tmp_path), 3, "does not exist")
    await storage.create_if_not_exists()
    empty = run_cli("poison", "list", hub=hub_name, cwd=tmp_path)
    assert empty.code == 0 and f"No poison messages in task hub '{hub_name}'." in empty.out, str(empty)
    assert run_cli("poison", "list", "--json", hub=hub_name, cwd=tmp_path).json() == []

    # 1. a corrupt body on control-00: the queue sets it aside when it is received
    control_00 = storage.control_queue(0)
    await storage.clients.queues.get_queue_client(control_00.name).send_message(CORRUPT)
    assert await control_00.receive() == []
    # 2. a decoded message the worker gave up on (a large one: its body goes to a blob)
    message = TaskMessage(
        event=h.EventRaised(name="go", input=json.dumps("x" * 40_000), timestamp=datetime.now(timezone.utc)),
        instance_id="order-1",
        execution_id=None,
    )
    home = storage.control_queue_for("order-1")
    received = await home.send(message)
    message = received.message  # as sent (with its sequence number)
    await MessageSettler(storage, max_dequeue_count=3).set_aside(
        received, "instance 'order-1' does not exist"
    )
    assert await home.approximate_count() == 0

    listed = run_cli("poison", "list", "--json", hub=hub_name, cwd=tmp_path)
    assert listed.code == 0, str(listed)
    records = {r["eventType"] or "corrupt": r for r in listed.json()}
    assert set(records) == {"corrupt", "EventRaised"}
    corrupt, raised = records["corrupt"], records["EventRaised"]
    assert corrupt["queue"] == control_00.name and "neither JSON nor base64" in corrupt["reason"]
    assert raised["queue"] == home.name and raised["instanceId"] == "order-1"
    assert raised["id"] == received.message_id and "body" not in raised
    only = run_cli("poison", "list", "--json", "--instance", "order-1", hub=hub_name, cwd=tmp_path)
    assert [r["id"] for r in only.json()] == [raised["id"]]
    table = run_cli("poison", "list", hub=hub_name, cwd=tmp_path)
    assert table.code == 0 and raised["id"] in table.out and corrupt["id"] in table.out, str(table)

    shown = run_cli("poison", "show", raised["id"], "--json", hub=hub_name, cwd=tmp_path)
    assert shown.code == 0 and decode_message(shown.json()["body"]) == message, str(shown)
    text = run_cli("poison", "show", corrupt["id"], hub=hub_name, cwd=tmp_path)
    assert "Reason:" in text.out and CORRUPT in text.out, str(text)
    assert_error(run_cli("poison", "show", "nope", hub=hub_name, cwd=tmp_path), 3, "No poison message 'nope'")

    info = run_cli("hub", "info", "--json", hub=hub_name, cwd=tmp_path)
    assert info.json()["poison"] == 2
    assert "durable-azure poison list" in run_cli("hub", "info", hub=hub_name, cwd=tmp_path).out

    # retry: each goes back to its queue exactly as it was
    again = run_cli("poison", "retry", raised["id"], "--json", hub=hub_name, cwd=tmp_path)
    assert again.json() == {"id": raised["id"], "queue": home.name, "retried": True}, str(again)
    (back,) = await home.receive()
    assert back.message == message
    await home.delete(back)
    retried = run_cli("poison", "retry", corrupt["id"], hub=hub_name, cwd=tmp_path)
    assert retried.code == 0 and f"back on {control_00.name}" in retried.out, str(retried)
    peeked = await storage.clients.queues.get_queue_client(control_00.name).peek_messages()
    assert [m.content for m in peeked] == [CORRUPT]
    assert_error(run_cli("poison", "retry", raised["id"], hub=hub_name, cwd=tmp_path), 3, "No poison message")

    # the corrupt one is set aside again; delete asks first, --yes does not
    assert await control_00.receive() == []
    (record,) = run_cli("poison", "list", "--json", hub=hub_name, cwd=tmp_path).json()
    refused = run_cli("poison", "delete", record["id"], hub=hub_name, cwd=tmp_path, stdin="n\n")
    assert refused.code == 1 and "Aborted." in refused.err, str(refused)
    deleted = run_cli("poison", "delete", record["id"], "--yes", "--json", hub=hub_name, cwd=tmp_path)
    assert deleted.json() == {"id": record["id"], "deleted": True}, str(deleted)
    assert run_cli("poison", "list", "--json", hub=hub_name, cwd=tmp_path).json() == []
