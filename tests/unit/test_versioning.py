"""Version comparison and the versioning settings, as Durable Functions documents them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from durable_azure.config import Settings, load_settings
from durable_azure.orchestration.versioning import VersionPolicy, compare_versions
from durable_azure.testing import run_orchestrator


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("", "", 0),
        (None, "", 0),
        ("", "1.0", -1),  # empty is older than any version
        ("1.0", None, 1),
        ("1.0", "1.0", 0),
        ("1.2", "1.10", -1),  # System.Version: numeric components, not text
        ("2.0", "10.0", -1),
        ("1.0", "1.0.0", -1),  # an undefined build is lower than a defined one (System.Version)
        ("1.0.1", "1.0.0.5", 1),
        ("v1-release", "V1-RELEASE", 0),  # not System.Version: case-insensitive text
        ("2", "10", 1),  # one component is not System.Version: text
        ("2025-01-01", "2025-02-01", -1),
        ("  ", "", 0),  # DTFx: IsNullOrWhiteSpace is empty
        (" ", "1.0", -1),
        ("v1_beta", "v1a", 1),  # OrdinalIgnoreCase compares upper case: '_' (0x5F) > 'A' (0x41)
        ("v1[x]", "V1Z", 1),
    ],
)
def test_compare_versions(a: str | None, b: str | None, expected: int) -> None:
    assert compare_versions(a, b) == expected
    assert compare_versions(b, a) == -expected


def test_policies() -> None:
    current = VersionPolicy("2.0")
    assert (
        current.mismatch("1.0") is None and current.mismatch("2.0") is None and current.mismatch("") is None
    )
    assert "newer" in (current.mismatch("2.1") or "")
    strict = VersionPolicy("2.0", "Strict", "Fail")
    assert strict.mismatch("2.0") is None
    assert "Strict" in (strict.mismatch("1.0") or "") and not strict.rejects
    assert VersionPolicy("2.0", "None").mismatch("9.0") is None
    assert VersionPolicy("").mismatch("9.0") is None  # no defaultVersion: no check


def test_host_json_versioning_settings(tmp_path: Path) -> None:
    durable = {"defaultVersion": "1.5", "versionMatchStrategy": "strict", "versionFailureStrategy": "FAIL"}
    (tmp_path / "host.json").write_text(json.dumps({"extensions": {"durableTask": durable}}))
    settings = load_settings(tmp_path)
    assert (settings.default_version, settings.version_match_strategy, settings.version_failure_strategy) == (
        "1.5",
        "Strict",
        "Fail",
    )
    (tmp_path / "host.json").write_text(json.dumps({"extensions": {"durableTask": {"defaultVersion": None}}}))
    defaults = load_settings(tmp_path)
    assert VersionPolicy.of(defaults) == VersionPolicy("", "CurrentOrOlder", "Reject")
    with pytest.raises(ValueError, match="versionMatchStrategy"):
        Settings(version_match_strategy="Newest")


def test_context_version_is_the_instance_version_in_every_replay() -> None:
    def orchestrator(context):  # type: ignore[no-untyped-def]
        seen = [context.version]
        yield context.call_activity("a")
        seen.append(context.version)
        yield context.call_activity("a")
        return [*seen, context.version]

    assert run_orchestrator(orchestrator, activities={"a": 1}, version="1.0").output == ["1.0"] * 3
    assert run_orchestrator(orchestrator, activities={"a": 1}).output == [None] * 3


def test_strict_is_the_exact_version_as_in_dtfx() -> None:
    """DTFx's Strict check is ``settings.Version != instance.Version``: exact text, no comparison."""
    strict = VersionPolicy("1.0", "Strict")
    assert strict.mismatch("1.0") is None
    for other in ("V1.0", "1.0.0", "1.00", " 1.0", None, ""):
        assert strict.mismatch(other), other
    assert VersionPolicy("v1", "Strict").mismatch("V1")
