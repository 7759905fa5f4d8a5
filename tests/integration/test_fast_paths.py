"""The storage fast paths send what the Azure SDK sends and answer what it answers (against Azurite).

``bench/verify_fast_paths.py`` runs every scenario twice — through the SDK's own methods and through
the fast paths — and compares the requests on the wire (method, URL, headers, body), the results
and the exceptions. These tests run it (shared key and account SAS) and check that every scenario
matched; a fast path that drifts from the SDK fails here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from durable_azure.storage.clients import StorageClients

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "verify_fast_paths.py"


def _verify(connection: str, *extra: str) -> list[dict[str, object]]:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), *extra],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "AzureWebJobsStorage": connection},
    )
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert lines, done.stderr[-2000:]
    failures = [line for line in lines if not line.get("ok")]
    assert not failures, json.dumps(failures, indent=1)[:4000]
    assert done.returncode == 0, done.stderr[-2000:]
    return lines


@pytest.mark.parametrize("mode", ["shared-key", "sas"])
def test_fast_paths_match_the_sdk_on_the_wire(azurite: str, mode: str) -> None:
    lines = _verify(azurite, *(["--sas"] if mode == "sas" else []))
    scenarios = [line for line in lines if "scenario" in line]
    assert len(scenarios) >= 60  # every queue and table operation the fast paths replace
    assert lines[-1].get("summary") is True and lines[-1].get("failures") == 0


async def test_fast_paths_are_on_for_the_pinned_sdk_versions(azurite: str) -> None:
    async with StorageClients(azurite) as clients:
        assert clients.fast_paths, clients.fast_paths_off_reason
    async with StorageClients(azurite, fast_paths=False) as clients:
        assert not clients.fast_paths
