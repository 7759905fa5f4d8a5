"""Serve a copy of an app directory (optionally with changed host.json settings) for e2e tests."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from serve_support import Api, delete_hub, start_server

HERE = Path(__file__).resolve().parent
DF_SAMPLES = HERE / "df_samples"


def copy_app(source: Path, dest: Path) -> Path:
    """Copy ``source`` to ``dest`` (a host.json with only ``version`` if it has none)."""
    shutil.copytree(source, dest, ignore=shutil.ignore_patterns("__pycache__", "local.settings.json"))
    if not (dest / "host.json").exists():
        (dest / "host.json").write_text(json.dumps({"version": "2.0"}), encoding="utf-8")
    return dest


def set_durable_settings(app_dir: Path, **settings: Any) -> None:
    """Set ``extensions.durableTask`` settings in the app's host.json (as a redeployment would)."""
    path = app_dir / "host.json"
    host = json.loads(path.read_text(encoding="utf-8"))
    host.setdefault("extensions", {}).setdefault("durableTask", {}).update(settings)
    path.write_text(json.dumps(host, indent=2), encoding="utf-8")


@contextmanager
def serve(app_dir: Path, log_dir: Path, hub: str | None = None, *, keep_hub: bool = False) -> Iterator[Api]:
    """Serve ``app_dir`` (on ``hub``, default a fresh one); stop it afterwards and, unless
    ``keep_hub``, delete the hub. Yields the HTTP helper."""
    server = start_server(log_dir, hub=hub, app_dir=app_dir)
    api = Api(server)
    try:
        yield api
    finally:
        api.http.close()
        code = server.stop()
        if not keep_hub:
            delete_hub(server.hub)
        assert code == 0, f"serve exited with {code}:\n{server.log()[-3000:]}"


@contextmanager
def serve_copy(source: Path, workdir: Path, **durable_settings: Any) -> Iterator[Api]:
    """Serve a copy of ``source`` (with ``durable_settings`` in its host.json) on a fresh task hub."""
    app_dir = copy_app(source, workdir / "app")
    if durable_settings:
        set_durable_settings(app_dir, **durable_settings)
    with serve(app_dir, workdir) as api:
        yield api
