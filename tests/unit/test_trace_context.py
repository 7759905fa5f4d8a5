"""W3C trace context as DTFx stores it: messages (``$type`` first), History columns, and parsing."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from pathlib import Path

from durable_azure.orchestration.history import (
    EventRaised,
    ExecutionStarted,
    SubOrchestrationInstanceCreated,
    TaskScheduled,
    TraceContext,
)
from durable_azure.storage.event_json import event_from_json_dict, event_to_json_dict
from durable_azure.storage.history_rows import entity_to_event, event_to_entity
from durable_azure.telemetry.context import continued_trace, format_traceparent, parse_traceparent
from durable_azure.telemetry.options import TelemetryOptions, category_level
from durable_azure.telemetry.tracking import TEMPLATES

TRACE = "0af7651916cd43dd8448eb211c80319c"
PARENT = f"00-{TRACE}-b7ad6b7169203331-01"
WHEN = datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=timezone.utc)
FULL = TraceContext(
    trace_parent=PARENT,
    trace_state="congo=t61rcWkgMzE",
    id=f"00-{TRACE}-00f067aa0ba902b7-01",
    span_id="00f067aa0ba902b7",
    activity_start_time=WHEN,
)


def test_a_start_message_carries_dtfx_distributed_trace_context() -> None:
    started = ExecutionStarted(name="Journey", instance_id="i", execution_id="e", trace_context=FULL)
    data = event_to_json_dict(started)
    assert list(data["ParentTraceContext"]) == [
        "$type",
        "TraceParent",
        "TraceState",
        "Id",
        "SpanId",
        "ActivityStartTime",
    ]
    assert data["ParentTraceContext"]["$type"] == "DurableTask.Core.Tracing.DistributedTraceContext"
    assert data["ParentTraceContext"]["TraceParent"] == PARENT
    assert event_from_json_dict(json.loads(json.dumps(data))) == started


def test_work_items_and_events_round_trip_their_trace_context() -> None:
    for event in (
        TaskScheduled(name="Hop", event_id=3, trace_context=TraceContext(trace_parent=PARENT)),
        EventRaised(name="Go", trace_context=TraceContext(trace_parent=PARENT, trace_state="a=b")),
    ):
        assert event_from_json_dict(json.loads(json.dumps(event_to_json_dict(event)))) == event


def test_without_trace_context_messages_stay_as_they_were() -> None:
    data = event_to_json_dict(TaskScheduled(name="Hop", event_id=0))
    assert data["ParentTraceContext"] is None
    assert event_from_json_dict(data).trace_context is None  # type: ignore[attr-defined]


def test_a_malformed_trace_context_never_makes_a_message_unreadable() -> None:
    data = event_to_json_dict(TaskScheduled(name="Hop", event_id=0))
    for bad in ("not an object", {"TraceState": "x"}, {"TraceParent": 5}):
        data["ParentTraceContext"] = bad
        assert event_from_json_dict(data) == TaskScheduled(name="Hop", event_id=0)


def test_history_rows_hold_the_trace_context_as_a_json_column() -> None:
    started = ExecutionStarted(name="Journey", instance_id="i", execution_id="e", trace_context=FULL)
    row = event_to_entity(started, partition_key="i", row_index=1, execution_id="e")
    column = json.loads(row["ParentTraceContext"])
    assert "$type" not in column and column["SpanId"] == "00f067aa0ba902b7"
    assert column["ActivityStartTime"].startswith("2026-01-02T03:04:05.123456")
    assert entity_to_event(row).trace_context == FULL  # type: ignore[attr-defined]

    created = SubOrchestrationInstanceCreated(
        name="Leg", instance_id="c", event_id=5, client_span_id="b7ad6b7169203331"
    )
    row = event_to_entity(created, partition_key="i", row_index=2, execution_id="e")
    assert row["ClientSpanId"] == "b7ad6b7169203331"
    assert entity_to_event(row) == created

    scheduled = TaskScheduled(name="Hop", event_id=0)
    # no trace context: the v2 converter's "null" for a null object (the column is never left out)
    assert (
        event_to_entity(scheduled, partition_key="i", row_index=3, execution_id="e")["ParentTraceContext"]
        == "null"
    )
    row = event_to_entity(scheduled, partition_key="i", row_index=3, execution_id="e") | {
        "ParentTraceContext": "{oops"
    }
    assert entity_to_event(row) == scheduled


def test_traceparent_parsing_follows_w3c() -> None:
    ref = parse_traceparent(PARENT, "k=v")
    assert ref is not None and ref.traceparent == PARENT and ref.trace_state == "k=v"
    assert format_traceparent(1, 2, 1) == "00-00000000000000000000000000000001-0000000000000002-01"
    for bad in (None, "", "00-xyz", f"ff-{TRACE}-b7ad6b7169203331-01", f"00-{'0' * 32}-b7ad6b7169203331-01"):
        assert parse_traceparent(bad) is None


def test_continue_as_new_keeps_the_parent_but_not_the_span() -> None:
    assert continued_trace(FULL) == TraceContext(trace_parent=PARENT, trace_state="congo=t61rcWkgMzE")
    assert continued_trace(None) is None


def test_options_come_from_host_json(tmp_path: Path) -> None:
    (tmp_path / "host.json").write_text(
        json.dumps(
            {
                "logging": {"logLevel": {"default": "Warning", "Host.Triggers": "Error"}},
                "extensions": {
                    "durableTask": {"tracing": {"traceReplayEvents": True, "traceInputsAndOutputs": "true"}}
                },
            }
        )
    )
    options = TelemetryOptions.load(
        tmp_path, "Hub", env={"WEBSITE_SITE_NAME": "app", "WEBSITE_SLOT_NAME": "staging"}
    )
    assert options == TelemetryOptions(
        hub_name="Hub",
        app_name="app",
        slot_name="staging",
        trace_replay_events=True,
        trace_inputs_and_outputs=True,
        tracking_level=logging.ERROR,
    )
    assert TelemetryOptions.load(tmp_path / "none", "Hub", env={}).tracking_level == logging.INFO
    assert category_level({"Host.Triggers.DurableTask": "None"}) > logging.CRITICAL
    assert category_level({"default": "Trace"}) == logging.DEBUG


def test_templates_are_dfs_messages() -> None:
    """A few of EndToEndTraceHelper's templates, verbatim (the README's Kusto queries rely on the names)."""
    assert TEMPLATES["FunctionScheduled"].startswith(
        "{instanceId}: Function '{functionName} ({functionType})' scheduled. Reason: {reason}. IsReplay: {isReplay}."
    )
    assert "received a '{eventName}' event. State: {state}." in TEMPLATES["ExternalEventRaised"]
    assert TEMPLATES["FunctionFailed"].endswith(
        "SequenceNumber: {sequenceNumber}. TaskEventId: {taskEventId}"
    )


def test_without_a_destination_telemetry_stays_off() -> None:
    from durable_azure import telemetry

    assert telemetry.configure(TelemetryOptions(), env={}) is None
    assert telemetry.active() is None
