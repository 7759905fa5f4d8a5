"""The layer contracts of pyproject.toml ([tool.importlinter]) hold, and they can fail.

import-linter builds the real import graph of the package (imports inside functions and under
TYPE_CHECKING included) and reports each broken contract with the import chain that breaks it.
`make lint` runs the same command; this test keeps the check in the test suite too.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[2]
PYPROJECT = REPO / "pyproject.toml"


def _config() -> dict[str, Any]:
    with PYPROJECT.open("rb") as f:
        config: dict[str, Any] = tomllib.load(f)["tool"]["importlinter"]
    return config


def _contract(contract_id: str) -> dict[str, Any]:
    return next(c for c in _config()["contracts"] if c["id"] == contract_id)


def _lint_imports(cwd: Path, pythonpath: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the `lint-imports` of this interpreter's environment in ``cwd`` (it reads ./pyproject.toml)."""
    exe = Path(sys.executable).with_name("lint-imports")
    if not exe.exists():
        pytest.fail(f"{exe} not found: install the dev extra (.venv/bin/pip install -e '.[dev]')")
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    return subprocess.run(
        [str(exe), "--no-cache"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_contracts_are_the_intended_ones() -> None:
    """A violation is fixed in the code, not by loosening or ignoring the contract."""
    contracts = {c["id"]: c for c in _config()["contracts"]}
    assert set(contracts) == {"layers", "engine-without-functions"}
    for contract in contracts.values():
        assert not contract.get("ignore_imports"), f"{contract['id']}: ignore_imports hides a real edge"
        assert not contract.get("allow_indirect_imports"), f"{contract['id']}: indirect imports count too"
    layers = contracts["layers"]
    assert layers["containers"] == ["durable_azure"]
    assert layers["exhaustive"] is True
    assert [layer.replace(" ", "") for layer in layers["layers"]] == [
        "cli|models|testing",
        "functions",
        "dashboard",
        "worker|client|views",
        "entities|storage|telemetry",
        "orchestration",
        "registry|config|errors",
    ]
    engine = contracts["engine-without-functions"]
    assert set(engine["forbidden_modules"]) == {"azure.functions", "durable_azure.functions"}
    assert {
        "durable_azure.worker",
        "durable_azure.storage",
        "durable_azure.orchestration",
        "durable_azure.entities",
        "durable_azure.client",
    } <= set(engine["source_modules"])


def test_no_import_runs_upward() -> None:
    result = _lint_imports(REPO)
    report = result.stdout + result.stderr
    if result.returncode != 0:
        pytest.fail(
            "import-linter found imports that break the layer contracts in pyproject.toml "
            "([tool.importlinter]); each chain below reads importer -> imported (line):\n\n" + report,
            pytrace=False,
        )
    assert f"Contracts: {len(_config()['contracts'])} kept, 0 broken." in report, report


# ---------------------------------------------------------------------------------------------------
# The same contracts against a throwaway `durable_azure` with one bad import: proof that they bite.


def _skeleton(root: Path) -> Path:
    """A copy of pyproject.toml beside an empty `durable_azure` with every layer of its contract."""
    shutil.copy(PYPROJECT, root / "pyproject.toml")
    package = root / "durable_azure"
    package.mkdir()
    (package / "__init__.py").write_text("")
    for layer in _contract("layers")["layers"]:
        for name in layer.replace(":", "|").split("|"):
            sub = package / name.strip()
            sub.mkdir()
            (sub / "__init__.py").write_text("")
    return package


BAD_IMPORTS = {
    "storage imports worker (upward)": (
        "storage/leases.py",
        "from ..worker import partitions\n",
        ("worker/partitions.py",),
        ["Layers: nothing in durable_azure imports upward BROKEN", "durable_azure.storage.leases -> "],
    ),
    "orchestration reaches views through the package root (indirect, upward)": (
        "orchestration/context.py",
        "from .. import rows\n",
        ("__init__.py:from .views import rows\n", "views/rows.py"),
        [
            "Layers: nothing in durable_azure imports upward BROKEN",
            "durable_azure.orchestration.context -> durable_azure",
        ],
    ),
    "client imports worker (independent siblings)": (
        "client/client.py",
        "from ..worker import worker\n",
        ("worker/worker.py",),
        ["Layers: nothing in durable_azure imports upward BROKEN", "durable_azure.client.client -> "],
    ),
    "registry imports azure.functions": (
        "registry/__init__.py",
        "import azure.functions as func\n",
        (),
        [
            "The engine never imports azure.functions or durable_azure.functions BROKEN",
            "durable_azure.registry -> azure.functions",
        ],
    ),
    "a loose top-level module outside every layer": (
        "loose.py",
        "",
        (),
        ["Layers: nothing in durable_azure imports upward BROKEN", "durable_azure.loose"],
    ),
}


@pytest.mark.parametrize("case", list(BAD_IMPORTS))
def test_contracts_report_a_bad_import(tmp_path: Path, case: str) -> None:
    path, source, others, expected = BAD_IMPORTS[case]
    package = _skeleton(tmp_path)
    for other in others:
        other_path, _, other_source = other.partition(":")
        (package / other_path).write_text(other_source)
    (package / path).write_text(source)

    result = _lint_imports(tmp_path, pythonpath=tmp_path)
    report = result.stdout + result.stderr
    assert result.returncode == 1, report
    for text in expected:
        assert text in report, f"expected {text!r} in the report:\n{report}"
