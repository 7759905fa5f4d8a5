"""A task hub in a second storage account, named by host.json ``storageProvider.connectionName``.

The shared Azurite has only ``devstoreaccount1``, and Azurite takes extra accounts
(``AZURITE_ACCOUNTS``) only when it starts; so the second account is ``hubaccount`` on a private
Azurite (its own process and ports, :mod:`private_azurite`) while ``AzureWebJobsStorage`` points at
the shared one, as an app with a separate task-hub account would be set up.
"""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import private_azurite as pa
import worker_support as ws
from azure.data.tables.aio import TableServiceClient

import durable_azure as df
from durable_azure.config import load_settings

HUB_ACCOUNT = "hubaccount"
HUB_KEY = base64.b64encode(b"durable-azure second test account").decode()


def hub_account_connection(storage: pa.PrivateAzurite) -> str:
    return (
        f"DefaultEndpointsProtocol=http;AccountName={HUB_ACCOUNT};AccountKey={HUB_KEY};"
        f"BlobEndpoint=http://127.0.0.1:{storage.blob_port}/{HUB_ACCOUNT};"
        f"QueueEndpoint=http://127.0.0.1:{storage.queue_port}/{HUB_ACCOUNT};"
        f"TableEndpoint=http://127.0.0.1:{storage.table_port}/{HUB_ACCOUNT};"
    )


async def table_names(connection: str) -> set[str]:
    async with TableServiceClient.from_connection_string(connection) as service:
        return {t.name async for t in service.list_tables()}


@pytest.mark.parametrize("key", ["connectionName", "connectionStringName"])
async def test_the_task_hub_lives_in_the_account_host_json_names(
    azurite: str, hub_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, key: str
) -> None:
    monkeypatch.setenv("AZURITE_ACCOUNTS", f"{HUB_ACCOUNT}:{HUB_KEY}")  # read by Azurite at start
    for name in ("AzureWebJobsStorage", "HubStorage", "DURABLE_AZURE_HUB"):
        monkeypatch.delenv(name, raising=False)
    async with pa.running(tmp_path / "azurite") as second:
        app_dir = tmp_path / "app"
        app_dir.mkdir()
        host = {
            "version": "2.0",
            "extensions": {"durableTask": {"hubName": hub_name, "storageProvider": {key: "HubStorage"}}},
        }
        (app_dir / "host.json").write_text(json.dumps(host))
        values = {"AzureWebJobsStorage": ws.AZURITE, "HubStorage": hub_account_connection(second)}
        (app_dir / "local.settings.json").write_text(json.dumps({"IsEncrypted": False, "Values": values}))

        settings = load_settings(app_dir, **ws.FAST)
        assert settings.connection_string == values["HubStorage"]
        worker = df.TaskHubWorker.from_settings(ws.sample_app.app, settings)
        client = ws.client_for(settings.connection_string, settings.hub_name, worker)
        try:
            await client.storage.create_if_not_exists()
            await worker.start()
            instance_id = await client.start_new("HelloCities", "two-accounts")
            status = await ws.completed(client, instance_id)
            assert status.output
        finally:
            await worker.stop()
            await client.close()

        in_hub_account = await table_names(values["HubStorage"])
        in_app_account = await table_names(ws.AZURITE)
        assert {f"{hub_name}History", f"{hub_name}Instances"} <= in_hub_account
        assert not {t for t in in_app_account if t.lower().startswith(hub_name.lower())}
