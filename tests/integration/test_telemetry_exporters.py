"""``durable-azure worker`` exporting for real, to local stand-ins of Application Insights and of an
OpenTelemetry collector: what leaves the process when APPLICATIONINSIGHTS_CONNECTION_STRING or
``--otlp-endpoint`` is set, with no telemetry code in the app."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import telemetry_support as ts
import worker_support as ws
from telemetry_receiver import Receiver

from durable_azure.telemetry import TelemetryOptions

pytestmark = pytest.mark.slow


def start_worker(hub: str, log_path: Path, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    with log_path.open("w", encoding="utf-8") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "durable_azure.cli.main", "worker", "--app-dir", str(ts.APP_DIR), *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            env={
                **os.environ,
                "AzureWebJobsStorage": "UseDevelopmentStorage=true",
                "DURABLE_AZURE_HUB": hub,
                "PYTHONUNBUFFERED": "1",
                **env,
            },
        )


async def run_journey(azurite: str, hub_name: str, log_path: Path, env: dict[str, str], *args: str) -> str:
    """Start the worker, run one Journey from a traced client here, stop the worker (it flushes)."""
    process = start_worker(hub_name, log_path, env, *args)
    capture = ts.Capture(TelemetryOptions(hub_name=hub_name), process="client")  # the start carries a trace
    try:
        async with ws.task_hub(azurite, hub_name, worker=False) as hub:

            async def ready() -> bool:
                if process.poll() is not None:
                    raise AssertionError(f"worker exited:\n{log_path.read_text()}")
                return "worker running" in log_path.read_text()

            await ws.wait_until(ready, timeout=30, what="the worker to start")
            instance_id = await hub.client.start_new("Journey", None, {})
            await ws.completed(hub.client, instance_id, timeout=60)
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=60) == 0, log_path.read_text()
    finally:
        if process.poll() is None:
            process.kill()
        capture.close()
    return instance_id


def props(envelope: dict[str, Any]) -> dict[str, Any]:
    return envelope["data"]["baseData"].get("properties") or {}


async def test_application_insights_receives_tracking_events_requests_dependencies_and_metrics(
    azurite: str, hub_name: str, tmp_path: Path
) -> None:
    pytest.importorskip("azure.monitor.opentelemetry")
    with Receiver() as receiver:
        env = {
            "APPLICATIONINSIGHTS_CONNECTION_STRING": (
                "InstrumentationKey=00000000-0000-0000-0000-000000000000;"
                f"IngestionEndpoint={receiver.url}/;LiveEndpoint={receiver.url}/"
            ),
            "APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL": "true",
            # the distro's default samples 5 spans/s whatever the trace; keep whole traces
            "OTEL_TRACES_SAMPLER": "parentbased_always_on",
            "WEBSITE_SITE_NAME": "telemetry-app",
        }
        instance_id = await run_journey(azurite, hub_name, tmp_path / "worker.log", env)
        envelopes = list(receiver.envelopes)
    kinds = {e["name"].rsplit(".", 1)[-1] for e in envelopes}
    assert {"Message", "Request", "RemoteDependency", "Metric"} <= kinds, kinds
    tracking = [
        e
        for e in envelopes
        if e["name"].endswith("Message") and props(e).get("Category") == "Host.Triggers.DurableTask"
    ]
    completed = [
        e
        for e in tracking
        if props(e).get("prop__functionName") == "Journey" and props(e).get("prop__state") == "Completed"
    ]
    assert len(completed) == 1, [e["data"]["baseData"]["message"] for e in tracking]
    (done,) = completed
    assert props(done)["prop__instanceId"] == instance_id
    assert props(done)["prop__hubName"] == hub_name and props(done)["prop__appName"] == "telemetry-app"
    assert props(done)["prop__isReplay"] in ("False", False)
    assert done["data"]["baseData"]["message"].startswith(
        f"{instance_id}: Function 'Journey (Orchestrator)' completed."
    )
    requests = {e["data"]["baseData"]["name"] for e in envelopes if e["name"].endswith("Request")}
    assert {"orchestration:Journey", "orchestration:Leg", "activity:Hop", "activity:Square"} <= requests
    dependencies = {
        e["data"]["baseData"]["name"] for e in envelopes if e["name"].endswith("RemoteDependency")
    }
    assert {"activity:Hop", "orchestration:Leg"} <= dependencies
    assert not [d for d in dependencies if "queue" in d.lower() or "table" in d.lower()], (
        "no storage SDK spans"
    )
    metrics = {
        m["name"] for e in envelopes if e["name"].endswith("Metric") for m in e["data"]["baseData"]["metrics"]
    }
    assert {"durabletask.orchestration.episodes", "durabletask.activity.duration"} <= metrics
    trace_ids = {e["tags"]["ai.operation.id"] for e in envelopes if e["name"].endswith("Request")}
    assert len(trace_ids) == 1, "the worker's spans are one trace (the client's)"
    # tracking events are correlated with it (operation_Id), so Kusto can join them
    assert done["tags"]["ai.operation.id"] in trace_ids
    assert "secret-input-1" not in str(envelopes)


async def test_otlp_endpoint_receives_traces_metrics_and_logs(
    azurite: str, hub_name: str, tmp_path: Path
) -> None:
    pytest.importorskip("opentelemetry.exporter.otlp.proto.http")
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    with Receiver() as receiver:
        await run_journey(azurite, hub_name, tmp_path / "worker.log", {}, "--otlp-endpoint", receiver.url)
        posts = list(receiver.otlp)
    paths = {path for path, _ in posts}
    assert {"/v1/traces", "/v1/metrics", "/v1/logs"} <= paths, paths
    names: set[str] = set()
    for path, body in posts:
        if path == "/v1/traces":
            request = ExportTraceServiceRequest.FromString(body)
            names |= {s.name for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans}
    assert {"orchestration:Journey", "activity:Hop", "orchestration:Leg"} <= names
    bodies: list[str] = []
    for path, body in posts:
        if path == "/v1/logs":
            request = ExportLogsServiceRequest.FromString(body)
            bodies += [
                r.body.string_value
                for rl in request.resource_logs
                for sl in rl.scope_logs
                for r in sl.log_records
            ]
    assert any("Function 'Journey (Orchestrator)' completed." in b for b in bodies)
