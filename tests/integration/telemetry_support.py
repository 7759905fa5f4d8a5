"""OpenTelemetry SDK providers with in-memory exporters, for the telemetry tests (in-process and in workers).

``Capture`` holds a tracer provider (spans), a meter provider (metrics) and a logger provider fed by a
``LoggingHandler`` on DF's tracking category, all exporting to memory, and installs the engine's
telemetry on them. Spans and tracking events are plain dicts (``span_dict``/``event_dict``), so worker
processes can write them to a JSON file and the test can join them with its own by trace id.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from durable_azure import telemetry
from durable_azure.telemetry.tracing import SCOPE

try:
    from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter as _LogExporter
except ImportError:  # older SDKs
    from opentelemetry.sdk._logs.export import InMemoryLogExporter as _LogExporter  # type: ignore[no-redef]

TRACKING = logging.getLogger(telemetry.TRACKING_CATEGORY)


class Capture:
    """In-memory telemetry of this process, installed as the engine's telemetry until ``close``."""

    def __init__(self, options: telemetry.TelemetryOptions, *, process: str = "test") -> None:
        resource = Resource.create({"service.name": "durable-azure-tests", "test.process": process})
        self.spans = InMemorySpanExporter()
        self.tracer_provider = TracerProvider(resource=resource)
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.metric_reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(resource=resource, metric_readers=[self.metric_reader])
        self.logs = _LogExporter()
        self.logger_provider = LoggerProvider(resource=resource)
        self.logger_provider.add_log_record_processor(SimpleLogRecordProcessor(self.logs))
        self.handler = LoggingHandler(logger_provider=self.logger_provider)
        TRACKING.addHandler(self.handler)
        self.telemetry = telemetry.install(
            telemetry.Telemetry(
                options,
                tracer=self.tracer_provider.get_tracer(SCOPE),
                meter=self.meter_provider.get_meter("durable_azure"),
            )
        )

    def close(self) -> None:
        telemetry.uninstall()
        TRACKING.removeHandler(self.handler)
        TRACKING.setLevel(logging.NOTSET)
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()
        self.logger_provider.shutdown()

    def span_dicts(self) -> list[dict[str, Any]]:
        return [span_dict(s) for s in self.spans.get_finished_spans()]

    def events(self) -> list[dict[str, Any]]:
        """Tracking events as exported: ``body`` plus their attributes (customDimensions)."""
        return [event_dict(r) for r in self.logs.get_finished_logs()]

    def metrics(self) -> dict[str, list[Any]]:
        """Data points by metric name."""
        data = self.metric_reader.get_metrics_data()
        points: dict[str, list[Any]] = {}
        for rm in data.resource_metrics if data else []:
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    points.setdefault(metric.name, []).extend(metric.data.data_points)
        return points


def span_dict(span: ReadableSpan) -> dict[str, Any]:
    ctx = span.context
    assert ctx is not None
    return {
        "name": span.name,
        "kind": span.kind.name,
        "trace_id": f"{ctx.trace_id:032x}",
        "span_id": f"{ctx.span_id:016x}",
        "parent_id": f"{span.parent.span_id:016x}" if span.parent is not None else None,
        "attributes": dict(span.attributes or {}),
        "status": span.status.status_code.name,
        "description": span.status.description,
        "start": span.start_time,
        "end": span.end_time,
        "process": span.resource.attributes.get("test.process"),
        "events": [e.name for e in span.events],
    }


def event_dict(record: Any) -> dict[str, Any]:
    inner = getattr(record, "log_record", record)
    return {"body": str(inner.body), **dict(inner.attributes or {})}


def named(spans: Iterable[dict[str, Any]], name: str, kind: str | None = None) -> list[dict[str, Any]]:
    return [s for s in spans if s["name"] == name and (kind is None or s["kind"] == kind)]


APP_DIR = __import__("pathlib").Path(__file__).resolve().parent / "telemetry_app"
_app: Any = None


def telemetry_app() -> Any:
    """The telemetry app's ``DFApp`` (loaded once per process: indexing it twice is not allowed)."""
    global _app
    if _app is None:
        from durable_azure.functions.loader import load_app

        _app = load_app(APP_DIR)
        forget_app_module()
    return _app


def forget_app_module() -> None:
    """Undo what ``load_app`` did here as the Functions host would (the module registered as
    ``function_app``, its folder on sys.path), so other tests importing a ``function_app`` never get this one."""
    import sys

    module = sys.modules.get("function_app")
    if module is not None and str(getattr(module, "__file__", "")).startswith(str(APP_DIR)):
        del sys.modules["function_app"]
    while str(APP_DIR) in sys.path:
        sys.path.remove(str(APP_DIR))
