"""Recycled work items: on by default; host.json ``storageProvider.recycleWorkItems`` and the
environment variable ``DURABLE_AZURE_RECYCLE_WORK_ITEMS`` (which wins) turn them off or on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from durable_azure.config import RECYCLE_ENV, Settings, load_settings


def app_dir(tmp_path: Path, provider: dict[str, object] | None = None) -> Path:
    host = {"version": "2.0", "extensions": {"durableTask": {"storageProvider": provider or {}}}}
    (tmp_path / "host.json").write_text(json.dumps(host))
    return tmp_path


@pytest.fixture(autouse=True)
def no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(RECYCLE_ENV, raising=False)


def test_on_by_default(tmp_path: Path) -> None:
    assert Settings().recycle_work_items is True
    assert load_settings(app_dir(tmp_path)).recycle_work_items is True


@pytest.mark.parametrize("value", [False, "false", "False"])
def test_host_json_turns_it_off(tmp_path: Path, value: object) -> None:
    assert load_settings(app_dir(tmp_path, {"recycleWorkItems": value})).recycle_work_items is False


@pytest.mark.parametrize(
    ("env", "host", "expected"), [("0", True, False), ("off", None, False), ("1", False, True)]
)
def test_the_environment_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, env: str, host: bool | None, expected: bool
) -> None:
    monkeypatch.setenv(RECYCLE_ENV, env)
    provider = {} if host is None else {"recycleWorkItems": host}
    assert load_settings(app_dir(tmp_path, provider)).recycle_work_items is expected
    assert Settings().recycle_work_items is expected


def test_a_bad_value_names_the_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="recycleWorkItems"):
        load_settings(app_dir(tmp_path, {"recycleWorkItems": "maybe"}))
    monkeypatch.setenv(RECYCLE_ENV, "maybe")
    with pytest.raises(ValueError, match=RECYCLE_ENV):
        Settings()
