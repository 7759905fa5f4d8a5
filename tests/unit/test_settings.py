"""Engine settings: defaults, host.json keys (extensions.durableTask.storageProvider), validation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from durable_azure.config import Settings, load_settings


def test_defaults_bring_a_dead_workers_work_back_within_about_the_lease_time() -> None:
    settings = Settings()
    assert settings.lease_duration == 30
    assert settings.work_item_visibility_timeout <= settings.lease_duration
    assert settings.control_queue_visibility_timeout <= settings.lease_duration
    assert settings.work_item_renew_interval < settings.work_item_visibility_timeout / 2
    assert settings.max_dequeue_count == 10


def test_host_json_sets_leases_visibility_renewal_and_poison_limit(tmp_path: Path) -> None:
    provider = {
        "leaseInterval": "00:00:45",
        "leaseRenewInterval": "00:00:15",
        "leaseAcquireInterval": 20,
        "controlQueueVisibilityTimeout": "00:01:00",
        "workItemQueueVisibilityTimeout": "00:00:40",
        "workItemQueueRenewInterval": "00:00:05",
        "maxDequeueCount": 4,
    }
    host = {"version": "2.0", "extensions": {"durableTask": {"storageProvider": provider}}}
    (tmp_path / "host.json").write_text(json.dumps(host), encoding="utf-8")
    settings = load_settings(tmp_path)
    assert settings.lease_duration == 45
    assert settings.lease_renew_interval == 15.0
    assert settings.lease_acquire_interval == 20.0
    assert settings.control_queue_visibility_timeout == 60
    assert settings.work_item_visibility_timeout == 40
    assert settings.work_item_renew_interval == 5.0
    assert settings.max_dequeue_count == 4


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"lease_duration": 10}, "15..60"),
        ({"lease_duration": 90}, "15..60"),
        ({"lease_renew_interval": 30}, "shorter than"),
        ({"max_dequeue_count": 0}, "max_dequeue_count"),
        ({"work_item_visibility_timeout": 0}, "work_item_visibility_timeout"),
        ({"work_item_renew_interval": -1}, "work_item_renew_interval"),
    ],
)
def test_impossible_values_are_refused_with_the_setting_named(
    overrides: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        Settings().with_overrides(**overrides)


@pytest.mark.parametrize(
    ("sku", "activities", "orchestrations"),
    [("Dynamic", 10, 5), ("FlexConsumption", 10, 5), ("ElasticPremium", None, None), (None, None, None)],
)
def test_concurrency_defaults_are_durable_functions(
    monkeypatch: pytest.MonkeyPatch, sku: str | None, activities: int | None, orchestrations: int | None
) -> None:
    """DF: Consumption 10 activities / 5 orchestrators; Dedicated, Premium and local: 10 × cores."""
    if sku is None:
        monkeypatch.delenv("WEBSITE_SKU", raising=False)
    else:
        monkeypatch.setenv("WEBSITE_SKU", sku)
    monkeypatch.setattr("os.cpu_count", lambda: 3)
    settings = Settings()
    assert settings.max_concurrent_activities == (activities or 30)
    assert settings.max_concurrent_orchestrations == (orchestrations or 30)
