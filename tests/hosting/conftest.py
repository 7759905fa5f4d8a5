"""Hosting tests: the sample app loaded through the Functions Python worker's library, in processes
that stand in for Functions host instances (``fake_host.py``), against Azurite.

The worker venv (``worker_venv.py``) is built once per session: ``durable-azure package``, a fresh
venv, ``pip install -r requirements.txt`` in the app folder, then the worker library from PyPI.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)  # worker_venv, importable under --import-mode=importlib

from worker_venv import WorkerEnv, build  # noqa: E402


@pytest.fixture(scope="session")
def worker_env(azurite: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerEnv]:
    yield build(tmp_path_factory.mktemp("functions-worker"))
