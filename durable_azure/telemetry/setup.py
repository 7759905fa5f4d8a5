"""Where telemetry goes: Application Insights, an OpenTelemetry collector, or the app's own providers.

:func:`configure` picks, in order:

1. a tracer provider the app (or the Functions Python worker) set up itself — used as is;
2. ``APPLICATIONINSIGHTS_CONNECTION_STRING`` set — the Azure Monitor OpenTelemetry distro
   (``pip install durable-azure[azure-monitor]``): traces, metrics and logs (tracking events) to
   Application Insights;
3. an OTLP endpoint (``--otlp-endpoint`` or ``OTEL_EXPORTER_OTLP_ENDPOINT``) — the OpenTelemetry
   SDK with OTLP/HTTP exporters (``pip install durable-azure[otlp]``);
4. none of these — telemetry stays off and costs nothing.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path

from opentelemetry import trace

from .hooks import Telemetry, active, install
from .options import TRACKING_CATEGORY, TelemetryOptions

log = logging.getLogger(__name__)

CONNECTION_STRING_SETTING = "APPLICATIONINSIGHTS_CONNECTION_STRING"
OTLP_ENDPOINT_SETTING = "OTEL_EXPORTER_OTLP_ENDPOINT"
SERVICE_NAME = "durable-azure"


def _sdk_provider_in_place() -> bool:
    provider = trace.get_tracer_provider()
    return type(provider).__module__.startswith("opentelemetry.sdk")


def configure(
    options: TelemetryOptions,
    *,
    otlp_endpoint: str | None = None,
    env: Mapping[str, str] | None = None,
) -> Telemetry | None:
    """Set up exporters as the environment asks and install the process's telemetry (or leave it off)."""
    env = os.environ if env is None else env
    connection_string = env.get(CONNECTION_STRING_SETTING, "").strip()
    endpoint = (otlp_endpoint or env.get(OTLP_ENDPOINT_SETTING, "")).strip()
    if _sdk_provider_in_place():
        # the app (or the Functions Python worker, PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY) set up
        # OpenTelemetry already: use its providers rather than configuring a second set
        destination = "the app's OpenTelemetry providers"
    elif connection_string:
        if not _azure_monitor(connection_string):
            return None
        destination = "Application Insights"
    elif endpoint:
        if not _otlp(endpoint, env):
            return None
        destination = f"OTLP {endpoint}"
    else:
        return None
    telemetry = install(Telemetry(options))
    log.info(
        "telemetry on: tracking events, traces and metrics go to %s (traceReplayEvents=%s, "
        "traceInputsAndOutputs=%s)",
        destination,
        options.trace_replay_events,
        options.trace_inputs_and_outputs,
    )
    return telemetry


def configure_for_app(
    app_dir: str | Path | None, hub_name: str, *, otlp_endpoint: str | None = None
) -> Telemetry | None:
    """:func:`configure` with the options of the app in ``app_dir`` (its host.json), once per process."""
    current = active()
    if current is not None:
        return current
    return configure(TelemetryOptions.load(app_dir, hub_name), otlp_endpoint=otlp_endpoint)


def _azure_monitor(connection_string: str) -> bool:
    try:
        from azure.monitor.opentelemetry import configure_azure_monitor
    except ImportError:
        log.warning(
            "%s is set but the Azure Monitor distro is not installed: pip install 'durable-azure[azure-monitor]' "
            "(or add it to requirements.txt); telemetry stays off",
            CONNECTION_STRING_SETTING,
        )
        return False
    # Not the Azure SDK's own spans: every queue poll and table write would become a dependency.
    configure_azure_monitor(
        connection_string=connection_string, instrumentation_options={"azure_sdk": {"enabled": False}}
    )
    return True


def _otlp(endpoint: str, env: Mapping[str, str]) -> bool:
    try:
        from opentelemetry import metrics
        from opentelemetry._logs import set_logger_provider
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
        from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        log.warning(
            "an OTLP endpoint is set but the OpenTelemetry SDK/exporter is not installed: "
            "pip install 'durable-azure[otlp]'; telemetry stays off"
        )
        return False
    base = endpoint.rstrip("/")
    resource = Resource.create(
        {"service.name": env.get("OTEL_SERVICE_NAME") or env.get("WEBSITE_SITE_NAME") or SERVICE_NAME}
    )
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{base}/v1/traces")))
    trace.set_tracer_provider(tracer_provider)
    reader = PeriodicExportingMetricReader(OTLPMetricExporter(endpoint=f"{base}/v1/metrics"))
    metrics.set_meter_provider(MeterProvider(resource=resource, metric_readers=[reader]))
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(
        BatchLogRecordProcessor(OTLPLogExporter(endpoint=f"{base}/v1/logs"))
    )
    set_logger_provider(logger_provider)
    logging.getLogger(TRACKING_CATEGORY).addHandler(LoggingHandler(logger_provider=logger_provider))
    return True
