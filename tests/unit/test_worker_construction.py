"""Building a TaskHubWorker: from Settings directly, or from a connection string and overrides (no storage I/O)."""

from __future__ import annotations

from durable_azure import DFApp
from durable_azure.config import Settings
from durable_azure.registry import DurableRegistry
from durable_azure.worker import TaskHubWorker

CONNECTION = "UseDevelopmentStorage=true"


def orchestrator(context: object) -> None:
    return None


async def test_from_settings_takes_a_plain_registry_and_the_settings_as_given() -> None:
    registry = DurableRegistry(orchestrators={"hello": orchestrator})
    settings = Settings(connection_string=CONNECTION, hub_name="ConstructionHub", partition_count=2)
    worker = TaskHubWorker.from_settings(registry, settings)
    classic = TaskHubWorker(DFApp(), CONNECTION, hub_name="ConstructionHub", partition_count=2)
    try:
        assert worker.registry is registry
        assert worker.settings is settings
        assert worker.storage.partition_count == 2
        # the classic constructor builds the same settings from a connection string and overrides
        assert classic.settings == settings
        assert classic.registry.orchestrators == {}
    finally:
        await worker.stop()
        await classic.stop()
