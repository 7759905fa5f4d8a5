"""How a process learns it is a Functions host's Python worker, and the host.json check for the
work-item queue trigger (durable_azure/functions/host_env.py)."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import pytest

from durable_azure.functions.host_env import (
    add_workitem_queue_settings,
    check_queue_settings,
    in_functions_host,
)

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def worker_loaded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "azure_functions_runtime", types.ModuleType("azure_functions_runtime"))


def test_not_a_host_without_the_python_worker() -> None:
    assert not in_functions_host({"FUNCTIONS_WORKER_RUNTIME": "python"})  # e.g. durable-azure serve


@pytest.mark.usefixtures("worker_loaded")
def test_a_host_when_the_python_worker_loads_the_app() -> None:
    assert in_functions_host({"FUNCTIONS_WORKER_RUNTIME": "python"})
    assert in_functions_host({})  # a plan that does not pass FUNCTIONS_WORKER_RUNTIME
    assert not in_functions_host({"FUNCTIONS_WORKER_RUNTIME": "node"})
    assert not in_functions_host({"DURABLE_AZURE_START_ENGINE": "0"})


def test_the_setting_decides_outright() -> None:
    assert in_functions_host({"DURABLE_AZURE_START_ENGINE": "true"})
    assert not in_functions_host({"DURABLE_AZURE_START_ENGINE": "off", "FUNCTIONS_WORKER_RUNTIME": "python"})


def test_the_sample_host_json_suits_the_work_item_trigger() -> None:
    assert check_queue_settings(json.loads((REPO / "host.json").read_text()), 10) == []


def test_host_defaults_are_reported() -> None:
    problems = check_queue_settings({"extensions": {}}, 10)
    assert len(problems) == 2
    assert '"base64"' in problems[0] and "none" in problems[0]
    assert "maxDequeueCount is 5" in problems[1]


def test_migrated_host_json_gets_the_work_item_trigger_settings() -> None:
    host_json: dict[str, object] = {"version": "2.0"}
    assert add_workitem_queue_settings(host_json) == [
        'extensions.queues.messageEncoding -> "none"',
        "extensions.queues.maxDequeueCount -> 11",
    ]
    assert check_queue_settings(host_json, 10) == []
    assert add_workitem_queue_settings(host_json) == []  # idempotent
    tuned = {"extensions": {"durableTask": {"storageProvider": {"maxDequeueCount": 20}}}}
    assert add_workitem_queue_settings(tuned)[-1] == "extensions.queues.maxDequeueCount -> 21"
