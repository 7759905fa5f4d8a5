"""host.json partition management: ``useTablePartitionManagement``, ``useAppLease``, ``appLeaseOptions``.

Durable Functions reads ``extensions.durableTask.storageProvider.useTablePartitionManagement``
(``AzureStorageOptions``; default **true** from extension 3.x, tag v3.0.0-rc.2, false in 2.x) and
``extensions.durableTask.useAppLease`` / ``appLeaseOptions`` (``DurableTaskOptions``; default true).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from durable_azure.config import Settings, load_settings
from durable_azure.storage.app_lease import app_lease_id, app_name_from_env


def write_host(tmp_path: Path, durable: dict[str, Any]) -> Path:
    (tmp_path / "host.json").write_text(
        json.dumps({"version": "2.0", "extensions": {"durableTask": durable}})
    )
    return tmp_path


def test_defaults_are_durable_functions_3x() -> None:
    settings = Settings()
    assert settings.use_table_partition_management is None  # the hub's own layout; a new hub: the table
    assert settings.use_app_lease is True
    assert (
        settings.app_lease_renew_interval,
        settings.app_lease_acquire_interval,
        settings.app_lease_duration,
    ) == (
        25.0,
        300.0,
        60,
    )


def test_host_json_chooses_the_blob_leases_and_app_lease_options(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WEBSITE_SITE_NAME", raising=False)
    monkeypatch.setenv("DTFX_APP_NAME", "orders-app")
    app_dir = write_host(
        tmp_path,
        {
            "storageProvider": {"useTablePartitionManagement": False, "useLegacyPartitionManagement": True},
            "useAppLease": False,
            "appLeaseOptions": {
                "renewInterval": "00:00:10",
                "acquireInterval": "00:01:00",
                "leaseInterval": "00:00:30",
            },
        },
    )
    settings = load_settings(app_dir)
    assert settings.use_table_partition_management is False and settings.use_app_lease is False
    assert (
        settings.app_lease_renew_interval,
        settings.app_lease_acquire_interval,
        settings.app_lease_duration,
    ) == (
        10.0,
        60.0,
        30,
    )
    assert settings.app_name == "orders-app"


def test_string_flags_and_the_site_name_win(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBSITE_SITE_NAME", "my-function-app")
    monkeypatch.setenv("DTFX_APP_NAME", "ignored")
    settings = load_settings(
        write_host(tmp_path, {"storageProvider": {"useTablePartitionManagement": "true"}})
    )
    assert settings.use_table_partition_management is True
    assert settings.app_name == "my-function-app" == app_name_from_env()
    assert app_lease_id(settings.app_name) == "49d19728-0000-0000-0000-000000000000"


@pytest.mark.parametrize(
    ("durable", "message"),
    [
        (
            {"storageProvider": {"useTablePartitionManagement": True, "useLegacyPartitionManagement": True}},
            "Cannot use both useTablePartitionManagement and useLegacyPartitionManagement",
        ),
        ({"storageProvider": {"useLegacyPartitionManagement": True}}, "Cannot use both"),
        (
            {"storageProvider": {"useTablePartitionManagement": "yes"}},
            "useTablePartitionManagement must be true or false",
        ),
        ({"useAppLease": 3}, "useAppLease must be true or false"),
        ({"appLeaseOptions": {"leaseInterval": "00:02:00"}}, "app_lease_duration"),
    ],
)
def test_bad_values_are_refused_with_the_setting_named(
    tmp_path: Path, durable: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        load_settings(write_host(tmp_path, durable))
