"""Orchestration versioning as Durable Functions does it (``host.json`` ``extensions.durableTask``).

``defaultVersion`` stamps new orchestrations (and sub-orchestrations started without a version);
``versionMatchStrategy`` says which instances a worker may run, comparing an instance's version with
the worker's ``defaultVersion``; ``versionFailureStrategy`` says what happens to the others:

* ``None``: run everything; ``Strict``: only the same version (the exact text, as DTFx checks it);
  ``CurrentOrOlder`` (default): the same version or older ones.
* ``Reject`` (default): leave the instance as it is; its messages come back later, for a worker that
  may run it. ``Fail``: fail the instance (``VersionMismatchError``).

Versions compare as Durable Functions documents (DTFx's ``VersioningSettings.CompareVersions``):
two empty (or blank) versions are equal; an empty version is older than any other; two versions
.NET's ``System.Version`` can parse (2 to 4 dot-separated non-negative integers) compare component
by component, a missing component counting as lower than any present one; anything else compares
as case-insensitive text (``OrdinalIgnoreCase``: upper-cased). Without a ``defaultVersion`` no
check is made.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..config import Settings

_SYSTEM_VERSION = re.compile(r"^\s*\d+(\s*\.\s*\d+){1,3}\s*$")
_INT32_MAX = 2**31 - 1


def _system_version(text: str) -> tuple[int, ...] | None:
    if not _SYSTEM_VERSION.match(text):
        return None
    parts = tuple(int(p) for p in text.split("."))
    return parts if all(p <= _INT32_MAX for p in parts) else None


def compare_versions(a: str | None, b: str | None) -> int:
    """-1, 0 or 1 as ``a`` is older than, the same as, or newer than ``b`` (rules: module docstring)."""
    a_empty, b_empty = not (a and a.strip()), not (b and b.strip())  # DTFx: IsNullOrWhiteSpace
    if a_empty and b_empty:
        return 0
    if a_empty:
        return -1
    if b_empty:
        return 1
    assert a is not None and b is not None
    left, right = _system_version(a), _system_version(b)
    if left is not None and right is not None:
        # System.Version: an undefined build/revision is -1, below any defined one.
        padded_left = left + (-1,) * (4 - len(left))
        padded_right = right + (-1,) * (4 - len(right))
        return (padded_left > padded_right) - (padded_left < padded_right)
    ua, ub = a.upper(), b.upper()  # .NET's OrdinalIgnoreCase compares upper-cased text
    return (ua > ub) - (ua < ub)


@dataclass(frozen=True)
class VersionPolicy:
    """A worker's versioning settings."""

    default_version: str = ""
    match_strategy: str = "CurrentOrOlder"
    failure_strategy: str = "Reject"

    def mismatch(self, version: str | None) -> str | None:
        """Why this worker must not run an instance of ``version`` (``None``: it may)."""
        if not self.default_version or self.match_strategy == "None":
            return None
        shown = f"'{version}'" if version else "(none)"
        if self.match_strategy == "Strict" and version != self.default_version:  # DTFx: exact text
            return (
                f"The orchestration version {shown} does not match this worker's version "
                f"'{self.default_version}' (versionMatchStrategy Strict)."
            )
        if self.match_strategy == "CurrentOrOlder" and compare_versions(version, self.default_version) > 0:
            return (
                f"The orchestration version {shown} is newer than this worker's version "
                f"'{self.default_version}' (versionMatchStrategy CurrentOrOlder)."
            )
        return None

    @classmethod
    def of(cls, settings: Settings) -> VersionPolicy:
        return cls(
            settings.default_version, settings.version_match_strategy, settings.version_failure_strategy
        )

    @property
    def rejects(self) -> bool:
        return self.failure_strategy == "Reject"
