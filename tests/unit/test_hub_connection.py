"""The task hub's storage account: host.json ``storageProvider.connectionName`` (or the older
``connectionStringName``) names the app setting, as in Durable Functions; default ``AzureWebJobsStorage``."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest

import durable_azure as df
from durable_azure.config import load_settings

APP_STORAGE = "DefaultEndpointsProtocol=http;AccountName=appaccount;AccountKey=a2V5;QueueEndpoint=http://127.0.0.1:1/appaccount;"
HUB_STORAGE = "DefaultEndpointsProtocol=http;AccountName=hubaccount;AccountKey=a2V5;QueueEndpoint=http://127.0.0.1:1/hubaccount;"


@pytest.fixture
def app_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("AzureWebJobsStorage", "HubStorage", "AzureWebJobsHubStorage", "DURABLE_AZURE_HUB"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def write_app(folder: Path, provider: dict[str, Any], values: dict[str, str]) -> None:
    host = {"version": "2.0", "extensions": {"durableTask": {"hubName": "HubX", "storageProvider": provider}}}
    (folder / "host.json").write_text(json.dumps(host))
    (folder / "local.settings.json").write_text(json.dumps({"IsEncrypted": False, "Values": values}))


@pytest.mark.parametrize("key", ["connectionName", "connectionStringName"])
def test_the_hub_lives_in_the_account_host_json_names(app_dir: Path, key: str) -> None:
    write_app(app_dir, {key: "HubStorage"}, {"AzureWebJobsStorage": APP_STORAGE, "HubStorage": HUB_STORAGE})
    settings = load_settings(app_dir)
    assert settings.connection_string == HUB_STORAGE
    assert settings.connection_name == "HubStorage"


def test_connection_name_wins_over_connection_string_name(app_dir: Path) -> None:
    write_app(
        app_dir,
        {"connectionName": "HubStorage", "connectionStringName": "AzureWebJobsStorage"},
        {"AzureWebJobsStorage": APP_STORAGE, "HubStorage": HUB_STORAGE},
    )
    assert load_settings(app_dir).connection_string == HUB_STORAGE


def test_the_name_is_resolved_as_the_functions_host_does(app_dir: Path) -> None:
    write_app(app_dir, {"connectionName": "HubStorage"}, {"AzureWebJobsHubStorage": HUB_STORAGE})
    assert load_settings(app_dir).connection_string == HUB_STORAGE


def test_without_a_name_the_hub_lives_in_azure_web_jobs_storage(app_dir: Path) -> None:
    write_app(app_dir, {}, {"AzureWebJobsStorage": APP_STORAGE, "HubStorage": HUB_STORAGE})
    settings = load_settings(app_dir)
    assert settings.connection_string == APP_STORAGE
    assert settings.connection_name == "AzureWebJobsStorage"


def test_a_named_setting_that_is_missing_is_reported(app_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    write_app(app_dir, {"connectionName": "HubStorage"}, {"AzureWebJobsStorage": APP_STORAGE})
    with caplog.at_level(logging.WARNING, logger="durable_azure.config"):
        settings = load_settings(app_dir)
    assert settings.connection_string == "UseDevelopmentStorage=true"
    assert any("'HubStorage'" in r.getMessage() for r in caplog.records), caplog.text


def test_in_azure_the_work_item_trigger_listens_on_the_hubs_account(
    app_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_app(
        app_dir,
        {"connectionName": "HubStorage"},
        {"AzureWebJobsStorage": APP_STORAGE, "HubStorage": HUB_STORAGE},
    )
    monkeypatch.setenv("AzureWebJobsScriptRoot", str(app_dir))
    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
    df.enable_azure_hosting(app)
    (workitems,) = [f for f in app.get_functions() if f.get_function_name() == "durable_workitems"]
    (trigger,) = [b.get_dict_repr() for b in workitems.get_bindings()]
    assert trigger["queueName"] == "hubx-workitems"
    assert trigger["connection"] == "HubStorage"
