"""Shared fixtures: a running Azurite and a fresh task hub name per test.

Tests under ``tests/integration`` and ``tests/e2e`` are marked ``azurite`` automatically;
deselect them with ``-m 'not azurite'`` for a fast, storage-free run of ``tests/unit``.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
AZURITE_START = REPO / "azurite-setup" / "start"

#: The connection string tests use; resolves to Azurite on 127.0.0.1:10000-10002.
CONNECTION_STRING = "UseDevelopmentStorage=true"

_AZURITE_DIRS = ("integration", "e2e", "hosting")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    tests_dir = Path(__file__).resolve().parent
    for item in items:
        try:
            rel = Path(item.path).resolve().relative_to(tests_dir)
        except ValueError:
            continue
        if rel.parts and rel.parts[0] in _AZURITE_DIRS:
            item.add_marker(pytest.mark.azurite)
            if rel.parts[0] == "e2e":
                item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def azurite() -> Iterator[str]:
    """Ensure Azurite is up (``azurite-setup/start`` is a no-op when it already is).

    Returns ``UseDevelopmentStorage=true``. Azurite is left running after the session, so that
    repeated runs stay fast; ``make stop`` stops an instance that ``start`` launched.
    """
    proc = subprocess.run(
        [str(AZURITE_START)],
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=600,  # includes a first-time `npm ci`
        check=False,
    )
    if proc.returncode != 0:
        pytest.fail(
            f"azurite-setup/start failed (exit {proc.returncode}):\n{proc.stdout}{proc.stderr}",
            pytrace=False,
        )
    yield CONNECTION_STRING


@pytest.fixture
def hub_name() -> str:
    """A unique, valid task hub name (letters and digits, starts with a letter, 21 chars)."""
    return "t" + uuid.uuid4().hex[:20]
