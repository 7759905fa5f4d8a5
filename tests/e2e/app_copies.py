"""Serve a copy of an app directory (optionally with another host.json) for one test module."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from serve_support import Api, delete_hub, start_server

HERE = Path(__file__).resolve().parent


@contextmanager
def serve_copy(source: Path, workdir: Path, host_json: dict[str, Any] | None = None) -> Iterator[Api]:
    """Copy ``source`` to ``workdir/app`` (``host_json`` replaces its host.json), serve it on a fresh
    task hub, and stop the server and delete the hub afterwards. Yields the HTTP helper."""
    app_dir = workdir / "app"
    shutil.copytree(source, app_dir, ignore=shutil.ignore_patterns("__pycache__"))
    if host_json is not None:
        (app_dir / "host.json").write_text(json.dumps(host_json), encoding="utf-8")
    elif not (app_dir / "host.json").exists():
        (app_dir / "host.json").write_text(json.dumps({"version": "2.0"}), encoding="utf-8")
    server = start_server(workdir, app_dir=app_dir)
    api = Api(server)
    try:
        yield api
    finally:
        api.http.close()
        code = server.stop()
        delete_hub(server.hub)
        assert code == 0, f"serve exited with {code}:\n{server.log()[-3000:]}"
