"""What to emit, from ``host.json`` and the app settings, as the Durable extension reads them.

* ``extensions.durableTask.tracing.traceReplayEvents`` — tracking events of replays (default off);
* ``extensions.durableTask.tracing.traceInputsAndOutputs`` — inputs and outputs in tracking
  events (default off: ``(Redacted N characters)``, as DF writes them);
* ``logging.logLevel`` — the level of the ``Host.Triggers.DurableTask`` category (the most
  specific of ``Host.Triggers.DurableTask``, ``Host.Triggers``, ``Host``, ``default``);
* ``WEBSITE_SITE_NAME`` / ``WEBSITE_SLOT_NAME`` — ``appName`` and ``slotName``.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: The category (logger name) of DF's tracking events, as host.json and Application Insights know it.
TRACKING_CATEGORY = "Host.Triggers.DurableTask"

#: .NET ``LogLevel`` names → :mod:`logging` levels (``None`` turns a category off).
_LEVELS = {
    "trace": logging.DEBUG,
    "debug": logging.DEBUG,
    "information": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
    "none": logging.CRITICAL + 10,
}


def dotnet_level(name: Any, default: int = logging.INFO) -> int:
    """The :mod:`logging` level of a host.json log level name (``"Information"`` → ``INFO``)."""
    return _LEVELS.get(str(name).strip().lower(), default)


def category_level(log_levels: Mapping[str, Any], category: str = TRACKING_CATEGORY) -> int:
    """The level host.json gives ``category``: its most specific prefix, else ``default``."""
    lowered = {str(k).lower(): v for k, v in log_levels.items()}
    parts = category.split(".")
    for end in range(len(parts), 0, -1):
        key = ".".join(parts[:end]).lower()
        if key in lowered:
            return dotnet_level(lowered[key])
    return dotnet_level(lowered.get("default", "Information"))


@dataclass(frozen=True)
class TelemetryOptions:
    """Switches and names every tracking event and span carries."""

    hub_name: str = "TestHubName"
    app_name: str = ""
    slot_name: str = ""
    trace_replay_events: bool = False
    trace_inputs_and_outputs: bool = False
    tracking_level: int = logging.INFO

    @classmethod
    def load(
        cls, app_dir: str | Path | None, hub_name: str, env: Mapping[str, str] | None = None
    ) -> TelemetryOptions:
        """Options for the app in ``app_dir`` (its host.json, when there is one)."""
        env = os.environ if env is None else env
        host: dict[str, Any] = {}
        if app_dir is not None:
            path = Path(app_dir) / "host.json"
            if path.exists():
                host = json.loads(path.read_text(encoding="utf-8"))
        tracing = host.get("extensions", {}).get("durableTask", {}).get("tracing", {}) or {}
        levels = host.get("logging", {}).get("logLevel", {}) or {}
        return cls(
            hub_name=hub_name,
            app_name=env.get("WEBSITE_SITE_NAME", ""),
            slot_name=env.get("WEBSITE_SLOT_NAME", ""),
            trace_replay_events=_flag(tracing.get("traceReplayEvents")),
            trace_inputs_and_outputs=_flag(tracing.get("traceInputsAndOutputs")),
            tracking_level=category_level(levels),
        )


def _flag(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value)
