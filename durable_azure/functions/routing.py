"""HTTP route templates as the Functions host reads them: ``orders/{id:int}/{name?}``, ``files/{*rest}``.

Matching is case-insensitive; literals beat parameters, and catch-alls come last (ASP.NET's order).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")

_PARAM = re.compile(r"\{([^{}]+)\}")
_CONSTRAINTS = {
    "int": r"-?\d+",
    "long": r"-?\d+",
    "alpha": r"[A-Za-z]+",
    "bool": r"(?i:true|false)",
    "guid": r"[0-9A-Fa-f]{8}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{12}",
    "double": r"-?\d+(?:\.\d+)?",
    "float": r"-?\d+(?:\.\d+)?",
    "decimal": r"-?\d+(?:\.\d+)?",
}


@dataclass
class RouteTemplate:
    """One compiled route template."""

    template: str
    pattern: re.Pattern[str]
    groups: dict[str, str]  # regex group → parameter name
    defaults: dict[str, str] = field(default_factory=dict)
    rank: tuple[int, ...] = ()

    def match(self, path: str) -> dict[str, str] | None:
        """Route values for ``path`` (relative, no leading slash), or ``None``."""
        found = self.pattern.fullmatch(path.strip("/"))
        if found is None:
            return None
        values = dict(self.defaults)
        for group, name in self.groups.items():
            value = found.group(group)
            if value is not None:
                values[name] = value
        return values


def _param(spec: str) -> tuple[str, str, bool, bool, str | None]:
    """``name``, value regex, optional, catch-all, default of one ``{...}``."""
    catch_all = spec.startswith("*")
    spec = spec.lstrip("*")
    default = None
    if "=" in spec:
        spec, default = spec.split("=", 1)
    optional = spec.endswith("?")
    spec = spec.rstrip("?")
    name, *constraints = spec.split(":")
    regex = ".*" if catch_all else "[^/]+"
    for constraint in constraints:
        kind = constraint.split("(")[0].strip().lower()
        if kind in _CONSTRAINTS:
            regex = _CONSTRAINTS[kind]
    if not name.strip():
        raise ValueError(f"Empty parameter name in route segment '{{{spec}}}'.")
    return name.strip(), regex, optional or default is not None, catch_all, default


def compile_route(template: str) -> RouteTemplate:
    """Compile a route template; raises ``ValueError`` for malformed ones."""
    segments = [s for s in template.strip("/").split("/") if s != ""] if template.strip("/") else []
    parts: list[str] = []
    groups: dict[str, str] = {}
    defaults: dict[str, str] = {}
    rank: list[int] = []
    for index, segment in enumerate(segments):
        params = list(_PARAM.finditer(segment))
        sep = "/" if index else ""
        if not params:
            if "{" in segment or "}" in segment:
                raise ValueError(f"Malformed route segment {segment!r} in {template!r}.")
            parts.append(re.escape(sep + segment))
            rank.append(0)
            continue
        whole = len(params) == 1 and params[0].group(0) == segment
        if whole:
            name, regex, optional, catch_all, default = _param(params[0].group(1))
            group = f"p{len(groups)}"
            groups[group] = name
            if default is not None:
                defaults[name] = default
            if catch_all and index != len(segments) - 1:
                raise ValueError(f"A catch-all parameter must be the last segment of {template!r}.")
            body = f"(?P<{group}>{regex})"
            if optional or catch_all:
                parts.append(f"(?:{re.escape(sep)}{body})?")
            else:
                parts.append(re.escape(sep) + body)
            rank.append(4 if catch_all else 3 if optional else 2 if regex != "[^/]+" else 3)
            continue
        pattern, last = re.escape(sep), 0
        for match in params:
            pattern += re.escape(segment[last : match.start()])
            name, regex, _, _, _ = _param(match.group(1))
            group = f"p{len(groups)}"
            groups[group] = name
            pattern += f"(?P<{group}>{regex})"
            last = match.end()
        pattern += re.escape(segment[last:])
        parts.append(pattern)
        rank.append(1)
    return RouteTemplate(
        template=template,
        pattern=re.compile("".join(parts), re.IGNORECASE | re.DOTALL),
        groups=groups,
        defaults=defaults,
        rank=(*rank, 5),
    )


class Router(Generic[T]):
    """Templates with a payload (e.g. the function), tried in precedence order."""

    def __init__(self, entries: Iterable[tuple[str, T]] = ()) -> None:
        self._routes: list[tuple[RouteTemplate, T]] = []
        for template, target in entries:
            self.add(template, target)

    def add(self, template: str, target: T) -> None:
        self._routes.append((compile_route(template), target))
        self._routes.sort(key=lambda item: item[0].rank)

    def match(self, path: str) -> list[tuple[T, dict[str, str]]]:
        """Every route matching ``path``, best first, with its route values."""
        found = []
        for route, target in self._routes:
            values = route.match(path)
            if values is not None:
                found.append((target, values))
        return found
