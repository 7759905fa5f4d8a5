"""Monitoring as Durable Functions does it: tracking events, distributed traces and metrics.

* :mod:`.tracking` — DF's tracking events (``Host.Triggers.DurableTask``, ``prop__*`` dimensions);
* :mod:`.tracing` — OpenTelemetry spans with DurableTask's v2 names and attributes;
* :mod:`.metrics` — episodes, activities, queues, checkpoints, poison messages;
* :mod:`.context` — W3C trace context as DTFx stores it with events and messages;
* :mod:`.episodes` — one orchestration episode's tracking events and ended spans;
* :mod:`.hooks` — what the engine calls (only when :func:`active` is not ``None``);
* :mod:`.asgi` — server spans for an ASGI app (the local host's management API);
* :mod:`.setup` — Application Insights / OTLP / the app's own providers.

OpenTelemetry's API is a dependency; its SDK and exporters are optional extras.
"""

from .hooks import Generation, Telemetry, active, client_event, client_start, install, uninstall
from .options import TRACKING_CATEGORY, TelemetryOptions
from .setup import configure, configure_for_app

__all__ = [
    "TRACKING_CATEGORY",
    "Generation",
    "Telemetry",
    "TelemetryOptions",
    "active",
    "client_event",
    "client_start",
    "configure",
    "configure_for_app",
    "install",
    "uninstall",
]
