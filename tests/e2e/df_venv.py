"""A separate venv holding azure-functions-durable 1.7.0, for tests that drive our engine with DF
Python's own code (never a dependency of durable-azure). It is the replay benchmark's venv, made by
the benchmark's own ``ensure_df_venv`` (``bench/replay.py``): ``bench/.venv-df``, created on first use
and reused afterwards."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]


def _replay_benchmark() -> ModuleType:
    """``bench/replay.py`` as a module (``bench/`` holds scripts, not a package)."""
    name = "bench_replay"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, REPO / "bench" / "replay.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def df_python() -> Path:
    """The DF venv's python (creating the venv and installing DF 1.7.0 if needed); skips the test
    with the reason when that is impossible (no network, no pip)."""
    replay = _replay_benchmark()
    try:
        python: Path = replay.ensure_df_venv()
    except replay.DFUnavailableError as error:
        pytest.skip(f"cannot create the azure-functions-durable 1.7.0 venv: {error}")
    return python
