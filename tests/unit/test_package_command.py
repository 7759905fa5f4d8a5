"""``durable-azure package``: the requirements line it writes and the source tree it needs (the wheel
build itself, and installing the folder in a fresh venv, are in tests/hosting/worker_venv.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from durable_azure.cli.errors import CliError
from durable_azure.cli.package import point_requirements, source_tree

REPO = Path(__file__).resolve().parents[2]


def test_the_durable_azure_line_is_replaced_and_the_rest_kept(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text(
        "# deployed with the app\nazure-functions\ndurable-azure>=0.1\nrequests==2.*\n"
        "./wheels/durable_azure-0.0.9-py3-none-any.whl\n"
    )
    wheel = tmp_path / "wheels" / "durable_azure-0.1.0-py3-none-any.whl"
    point_requirements(tmp_path, wheel)
    assert (tmp_path / "requirements.txt").read_text().splitlines() == [
        "# deployed with the app",
        "azure-functions",
        "requests==2.*",
        "./wheels/durable_azure-0.1.0-py3-none-any.whl",
    ]


def test_a_missing_requirements_file_is_created(tmp_path: Path) -> None:
    point_requirements(tmp_path, tmp_path / "wheels" / "durable_azure-0.1.0-py3-none-any.whl")
    assert (tmp_path / "requirements.txt").read_text() == "./wheels/durable_azure-0.1.0-py3-none-any.whl\n"


def test_it_needs_the_durable_azure_source_tree(tmp_path: Path) -> None:
    assert source_tree() == REPO  # this checkout
    with pytest.raises(CliError, match="not the durable-azure source tree"):
        source_tree(str(tmp_path))
