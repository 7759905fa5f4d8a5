"""The engine without the Functions adapter: a hand-filled DurableRegistry, a worker built with
``TaskHubWorker.from_settings``, and a client, against Azurite (the README's embedding example)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import worker_support as ws

import durable_azure as df
from durable_azure.config import Settings
from durable_azure.registry import DurableRegistry


def greet(context: df.DurableOrchestrationContext) -> Any:
    greeting = yield context.call_activity("say_hello", context.get_input())
    return greeting


def say_hello(city: str) -> str:
    return f"Hello {city}!"


async def test_a_worker_from_settings_runs_a_plain_registry(azurite: str, hub_name: str) -> None:
    registry = DurableRegistry(orchestrators={"greet": greet}, activities={"say_hello": say_hello})
    settings = Settings(connection_string=azurite, hub_name=hub_name).with_overrides(**ws.FAST)
    async with ws.task_hub(azurite, hub_name, worker=False):
        worker = df.TaskHubWorker.from_settings(registry, settings)
        assert worker.registry is registry
        assert worker.settings is settings
        async with worker:
            client = df.DurableOrchestrationClient(worker.storage, notify=worker.notify)
            instance_id = await client.start_new("greet", client_input="Lisbon")
            status = await client.wait_for_completion(instance_id, timeout=30)
        assert status.runtime_status == df.OrchestrationRuntimeStatus.Completed
        assert status.output == "Hello Lisbon!"
