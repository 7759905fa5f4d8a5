"""DF tracking events as log records: every template filled, prop__ dimensions, payload redaction, replay filter."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from durable_azure.telemetry.options import TRACKING_CATEGORY, TelemetryOptions
from durable_azure.telemetry.tracking import ACTIVITY, ORCHESTRATOR, Tracker


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def records() -> Iterator[Records]:
    handler = Records()
    logger = logging.getLogger(TRACKING_CATEGORY)
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)


def every_event(tracker: Tracker, is_replay: bool = False) -> None:
    tracker.scheduled("Hop", "i", "Journey", ACTIVITY, is_replay)
    tracker.started("Journey", "i", '"in"', ORCHESTRATOR, is_replay)
    tracker.awaited("Journey", "i", is_replay)
    tracker.listening("Journey", "i", "WaitForExternalEvent:Go", is_replay)
    tracker.external_event_raised("Journey", "i", "Go", '"data"', is_replay)
    tracker.timer_expired("Journey", "i", "2026-01-01T00:00:00Z", is_replay)
    tracker.completed("Journey", "i", '"out"', ORCHESTRATOR, is_replay)
    tracker.failed("Journey", "i", "ValueError: boom", ORCHESTRATOR, is_replay)
    tracker.terminated("Journey", "i", '"stop"')
    tracker.operation("counter", "@counter@a", "add", "op-1", 1.5, "5", "6", None)
    tracker.operation("counter", "@counter@a", "explode", "op-2", 0.5, None, None, "ValueError: x")


def test_every_event_fills_its_template_and_carries_dfs_dimensions(records: Records) -> None:
    every_event(Tracker(TelemetryOptions(hub_name="Hub", app_name="app")))
    assert len(records.records) == 11
    for record in records.records:
        message = record.getMessage()
        assert "{" not in message and "HubName: Hub. AppName: app." in message
        assert record.Category == TRACKING_CATEGORY  # type: ignore[attr-defined]
        assert record.prop__hubName == "Hub" and record.prop__isReplay is False  # type: ignore[attr-defined]
    sequence = [r.prop__sequenceNumber for r in records.records]  # type: ignore[attr-defined]
    assert sequence == sorted(sequence) and len(set(sequence)) == 11
    levels = {r.EventName: r.levelno for r in records.records}  # type: ignore[attr-defined]
    assert levels["FunctionFailed"] == logging.ERROR and levels["FunctionTerminated"] == logging.WARNING
    assert levels["OperationFailed"] == logging.ERROR and levels["FunctionScheduled"] == logging.INFO


def test_payloads_are_redacted_unless_trace_inputs_and_outputs(records: Records) -> None:
    every_event(Tracker(TelemetryOptions()))
    texts = " ".join(r.getMessage() for r in records.records)
    assert '"in"' not in texts and '"out"' not in texts and '"stop"' not in texts
    assert "Input: (Redacted 4 characters)" in texts
    records.records.clear()
    every_event(Tracker(TelemetryOptions(trace_inputs_and_outputs=True)))
    texts = " ".join(r.getMessage() for r in records.records)
    assert 'Input: "in"' in texts and 'Output: "out"' in texts and 'Reason: "stop"' in texts


def test_replay_events_need_trace_replay_events(records: Records) -> None:
    every_event(Tracker(TelemetryOptions()), is_replay=True)
    assert {r.EventName for r in records.records} == {  # type: ignore[attr-defined]
        "FunctionTerminated",  # never a replay event in DF
        "OperationCompleted",
        "OperationFailed",
    }
    records.records.clear()
    every_event(Tracker(TelemetryOptions(trace_replay_events=True)), is_replay=True)
    assert len(records.records) == 11


def test_the_category_level_filters_before_anything_is_formatted(records: Records) -> None:
    every_event(Tracker(TelemetryOptions(tracking_level=logging.WARNING)))
    assert {r.EventName for r in records.records} == {  # type: ignore[attr-defined]
        "FunctionFailed",
        "FunctionTerminated",
        "OperationFailed",
    }
