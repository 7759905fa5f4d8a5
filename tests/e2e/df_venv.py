"""A separate venv holding azure-functions-durable 1.7.0, for tests that drive our engine with DF
Python's own code (never a dependency of durable-azure). Same venv and approach as the replay
benchmark (``bench/replay.py``): created on first use in ``bench/.venv-df``, reused afterwards."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DF_VENV = REPO / "bench" / ".venv-df"
DF_REQUIREMENT = "azure-functions-durable==1.7.0"


def _python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _installed(python: Path) -> str | None:
    probe = "import importlib.metadata as m; print(m.version('azure-functions-durable'))"
    done = subprocess.run([str(python), "-c", probe], capture_output=True, text=True, timeout=60)
    return done.stdout.strip() if done.returncode == 0 else None


def df_python() -> Path:
    """The DF venv's python (creating the venv and installing DF 1.7.0 if needed); skips the test
    with the reason when that is impossible (no network, no pip)."""
    python = _python(DF_VENV)
    wanted = DF_REQUIREMENT.split("==")[1]
    try:
        if not python.exists():
            subprocess.run(
                [sys.executable, "-m", "venv", str(DF_VENV)], check=True, capture_output=True, timeout=300
            )
        if _installed(python) != wanted:
            subprocess.run(
                [
                    str(python),
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    DF_REQUIREMENT,
                ],
                check=True,
                capture_output=True,
                timeout=900,
            )
    except (OSError, subprocess.SubprocessError) as error:
        pytest.skip(f"cannot create the azure-functions-durable 1.7.0 venv: {error}")
    if _installed(python) != wanted:
        pytest.skip(f"{DF_VENV} does not hold {DF_REQUIREMENT}")
    return python
