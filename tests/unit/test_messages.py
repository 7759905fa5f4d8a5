"""The DTFx ``MessageData`` queue envelope: shape, every event type, encodings, corrupt bodies."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timezone

import pytest

from durable_azure.errors import CorruptMessageError
from durable_azure.orchestration import history as h
from durable_azure.storage.event_json import event_from_json_dict, event_to_json_dict
from durable_azure.storage.messages import (
    TaskMessage,
    decode_message,
    encode_message,
    encode_wrapper,
    large_message_blob_name,
)
from durable_azure.storage.values import format_timestamp, parse_timestamp

T0 = datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=timezone.utc)
T1 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=timezone.utc)
FD = h.FailureDetails(
    "ValueError", "bad", "trace", inner_failure=h.FailureDetails("KeyError", "k"), is_non_retriable=True
)

EVENTS: list[h.HistoryEvent] = [
    h.ExecutionStarted(
        name="Hello",
        instance_id="order-42",
        execution_id="e1",
        input='{"a":1}',
        version="v1",
        parent=h.ParentInstance("Parent", "p-1", "pe", 3, "pv"),
        tags={"k": "v"},
        generation=2,
        scheduled_start_time=T1,
        timestamp=T0,
    ),
    h.ExecutionStarted(name="Hello", instance_id="i", execution_id="e", timestamp=T0),
    h.ExecutionCompleted(
        event_id=7, orchestration_status=h.OrchestrationStatus.Failed, result="null", failure_details=FD
    ),
    h.ExecutionTerminated(input='"stop"'),
    h.TaskScheduled(event_id=0, name="SayHello", input='["Tokyo"]', version=""),
    h.TaskCompleted(task_scheduled_id=0, result='"Hello Tokyo"', is_played=True),
    h.TaskFailed(task_scheduled_id=1, reason="bad", details="trace", failure_details=FD),
    h.SubOrchestrationInstanceCreated(event_id=2, name="Child", instance_id="c-1", input="1", version="x"),
    h.SubOrchestrationInstanceCompleted(task_scheduled_id=2, result="3"),
    h.SubOrchestrationInstanceFailed(task_scheduled_id=2, reason="r", details="d"),
    h.TimerCreated(event_id=4, fire_at=T1),
    h.TimerFired(timer_id=4, fire_at=T1),
    h.OrchestratorStarted(timestamp=T0),
    h.OrchestratorCompleted(),
    h.EventSent(event_id=5, instance_id="@counter@a", name="add", input="1"),
    h.EventRaised(name="approval", input="true"),
    h.ContinueAsNew(result='{"n":2}'),
    h.GenericEvent(data="rewind"),
    h.HistoryState(state='{"Status":"x"}'),
    h.ExecutionSuspended(reason="pause"),
    h.ExecutionResumed(reason="go"),
    h.ExecutionRewound(reason="again"),
]


def test_every_event_class_is_covered() -> None:
    assert {type(e) for e in EVENTS} == set(h.EVENT_CLASSES.values())


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: type(e).__name__)
def test_event_round_trip(event: h.HistoryEvent) -> None:
    d = event_to_json_dict(event)
    assert next(iter(d)) == "$type"
    assert d["$type"].startswith("DurableTask.Core.History.")
    assert d["EventType"] == int(event.EVENT_TYPE) and type(d["EventType"]) is int
    assert event_from_json_dict(json.loads(json.dumps(d))) == event


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: type(e).__name__)
def test_message_round_trip(event: h.HistoryEvent) -> None:
    msg = TaskMessage(event, "order-42", "e1", episode=3, sender_instance_id="s", sender_execution_id="se")
    assert decode_message(encode_message(msg)) == msg


def test_event_type_names() -> None:
    names = {type(e).__name__: event_to_json_dict(e)["$type"] for e in EVENTS}
    assert names["TaskScheduled"] == "DurableTask.Core.History.TaskScheduledEvent"
    assert names["ExecutionStarted"] == "DurableTask.Core.History.ExecutionStartedEvent"
    assert names["GenericEvent"] == "DurableTask.Core.History.GenericEvent"
    assert names["ContinueAsNew"] == "DurableTask.Core.History.ContinueAsNewEvent"


def test_envelope_shape() -> None:
    event = h.TaskScheduled(event_id=0, name="SayHello", input='["Tokyo"]', timestamp=T0)
    msg = TaskMessage(
        event,
        "order-42",
        "5f0c",
        episode=1,
        sender_instance_id="order-42",
        sender_execution_id="5f0c",
        activity_id="0b6c2f1e-5a7d-4c3b-9e21-7f00a1b2c3d4",
        sequence_number=17,
    )
    text = encode_message(msg)
    assert text.startswith('{"$type":"DurableTask.AzureStorage.MessageData",')
    d = json.loads(text)
    assert list(d) == [
        "$type",
        "ActivityId",
        "TaskMessage",
        "CompressedBlobName",
        "SequenceNumber",
        "Episode",
        "Sender",
        "SerializableTraceContext",
    ]
    assert d["ActivityId"] == "0b6c2f1e-5a7d-4c3b-9e21-7f00a1b2c3d4"
    assert d["CompressedBlobName"] is None and d["SerializableTraceContext"] is None
    assert d["SequenceNumber"] == 17 and d["Episode"] == 1
    assert d["Sender"] == {"InstanceId": "order-42", "ExecutionId": "5f0c"}
    tm = d["TaskMessage"]
    assert list(tm) == [
        "$type",
        "Event",
        "SequenceNumber",
        "OrchestrationInstance",
        "OrchestrationExecutionContext",
    ]
    assert tm["$type"] == "DurableTask.Core.TaskMessage"
    assert tm["OrchestrationInstance"] == {
        "$type": "DurableTask.Core.OrchestrationInstance",
        "InstanceId": "order-42",
        "ExecutionId": "5f0c",
    }
    ev = tm["Event"]
    assert list(ev)[:2] == ["$type", "EventType"]
    assert ev["EventType"] == 4 and ev["Name"] == "SayHello" and ev["Version"] == ""
    assert ev["Input"] == '["Tokyo"]' and ev["EventId"] == 0 and ev["IsPlayed"] is False
    assert ev["Timestamp"] == "2024-01-02T03:04:05.123456Z"
    assert "Tags" in ev and ev["Tags"] is None  # nulls are written out


def test_client_message_has_empty_sender_and_no_episode() -> None:
    msg = TaskMessage(h.EventRaised(name="go", input="1"), "i", None)
    d = json.loads(encode_message(msg))
    assert "Episode" not in d
    assert d["Sender"] == {"InstanceId": "", "ExecutionId": ""}
    assert d["TaskMessage"]["OrchestrationInstance"]["ExecutionId"] is None
    back = decode_message(encode_message(msg))
    assert isinstance(back, TaskMessage) and back.execution_id is None and back.episode is None


def test_nested_objects_carry_type_names() -> None:
    started = event_to_json_dict(EVENTS[0])
    parent = started["ParentInstance"]
    assert next(iter(parent)) == "$type" and parent["$type"] == "DurableTask.Core.ParentInstance"
    assert parent["TaskScheduleId"] == 3 and parent["Name"] == "Parent" and parent["Version"] == "pv"
    assert parent["OrchestrationInstance"] == {
        "$type": "DurableTask.Core.OrchestrationInstance",
        "InstanceId": "p-1",
        "ExecutionId": "pe",
    }
    assert started["OrchestrationInstance"]["InstanceId"] == "order-42"
    assert started["Tags"] == {"k": "v"}
    assert started["Generation"] == 2 and started["ScheduledStartTime"] == "2024-05-01T12:00:00Z"
    fd = event_to_json_dict(EVENTS[2])["FailureDetails"]
    assert next(iter(fd)) == "$type" and fd["$type"] == "DurableTask.Core.FailureDetails"
    assert fd["InnerFailure"]["$type"] == "DurableTask.Core.FailureDetails"
    assert event_to_json_dict(EVENTS[2])["OrchestrationStatus"] == 3
    assert event_to_json_dict(h.ContinueAsNew(result="1"))["OrchestrationStatus"] == 2


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (datetime(2023, 4, 5, 3, 31, 23, 626892, tzinfo=timezone.utc), "2023-04-05T03:31:23.626892Z"),
        (datetime(2023, 4, 5, 3, 31, 23, 500000, tzinfo=timezone.utc), "2023-04-05T03:31:23.5Z"),
        (datetime(2023, 4, 5, 3, 31, 23, tzinfo=timezone.utc), "2023-04-05T03:31:23Z"),
        (datetime(1970, 1, 1, tzinfo=timezone.utc), "1970-01-01T00:00:00Z"),
    ],
)
def test_timestamp_format(value: datetime, text: str) -> None:
    assert format_timestamp(value) == text
    assert parse_timestamp(text) == value


def test_timestamp_parse_variants() -> None:
    assert parse_timestamp("2023-04-05T03:31:23.6268922Z") == datetime(
        2023, 4, 5, 3, 31, 23, 626892, tzinfo=timezone.utc
    )
    assert parse_timestamp("0001-01-01T00:00:00") == datetime(1, 1, 1, tzinfo=timezone.utc)
    assert parse_timestamp("2023-04-05T05:31:23+02:00") == datetime(
        2023, 4, 5, 3, 31, 23, tzinfo=timezone.utc
    )
    assert format_timestamp(datetime(1, 1, 1, tzinfo=timezone.utc)) == "0001-01-01T00:00:00Z"


def test_dotnet_written_message_decodes() -> None:
    """A body as a .NET writer produces it: assembly-qualified-free names, 7 digits, extra members."""
    text = json.dumps(
        {
            "$type": "DurableTask.AzureStorage.MessageData",
            "ActivityId": "0b6c2f1e-5a7d-4c3b-9e21-7f00a1b2c3d4",
            "TaskMessage": {
                "$type": "DurableTask.Core.TaskMessage",
                "Event": {
                    "$type": "DurableTask.Core.History.TaskCompletedEvent, DurableTask.Core",
                    "EventType": 5,
                    "TaskScheduledId": 0,
                    "Result": '"Hello"',
                    "EventId": -1,
                    "IsPlayed": False,
                    "Timestamp": "2023-04-05T03:31:23.6268922Z",
                    "DispatchCount": 0,
                },
                "SequenceNumber": 0,
                "OrchestrationInstance": {
                    "$type": "DurableTask.Core.OrchestrationInstance",
                    "InstanceId": "order-42",
                    "ExecutionId": "5f0c",
                },
                "OrchestrationExecutionContext": {
                    "$type": "DurableTask.Core.OrchestrationExecutionContext",
                    "OrchestrationTags": {},
                },
            },
            "CompressedBlobName": None,
            "SequenceNumber": 17,
            "Episode": 1,
            "Sender": {"InstanceId": "order-42", "ExecutionId": "5f0c"},
            "SerializableTraceContext": None,
        }
    )
    msg = decode_message(text)
    assert isinstance(msg, TaskMessage)
    assert msg.event == h.TaskCompleted(
        task_scheduled_id=0,
        result='"Hello"',
        timestamp=datetime(2023, 4, 5, 3, 31, 23, 626892, tzinfo=timezone.utc),
    )
    assert (msg.instance_id, msg.execution_id, msg.episode, msg.sequence_number) == (
        "order-42",
        "5f0c",
        1,
        17,
    )
    assert (msg.sender_instance_id, msg.sender_execution_id) == ("order-42", "5f0c")


def test_event_type_by_name_and_by_type_name() -> None:
    by_name = {"EventType": "EventRaised", "Name": "x", "Input": None}
    assert event_from_json_dict(by_name) == h.EventRaised(name="x")
    by_type = {
        "$type": "DurableTask.Core.History.TimerFiredEvent",
        "TimerId": 1,
        "FireAt": "2024-05-01T12:00:00Z",
    }
    assert event_from_json_dict(by_type) == h.TimerFired(timer_id=1, fire_at=T1)
    status_by_name = {"EventType": 1, "OrchestrationStatus": "Completed", "Result": "1"}
    assert event_from_json_dict(status_by_name) == h.ExecutionCompleted(
        orchestration_status=h.OrchestrationStatus.Completed, result="1"
    )


def test_missing_optional_fields_use_defaults() -> None:
    ev = event_from_json_dict({"EventType": 4, "Name": "A"})
    assert ev == h.TaskScheduled(name="A")
    assert ev.event_id == -1 and ev.version == "" and ev.input is None


def test_base64_body() -> None:
    msg = TaskMessage(h.EventRaised(name="go", input='"é"'), "i", "e", activity_id="a")
    text = encode_message(msg)
    assert decode_message(base64.b64encode(text.encode("utf-8")).decode("ascii")) == msg


def test_raw_utf8_body_keeps_non_ascii() -> None:
    msg = TaskMessage(h.EventRaised(name="go", input='"日本"'), "i", "e")
    assert "日本" in encode_message(msg)


def test_wrapper_decodes_to_blob_name() -> None:
    msg = TaskMessage(h.TaskScheduled(name="A", input="1"), "order-42", "e", activity_id="0b6c2f1e-5a7d-4c3b")
    blob = large_message_blob_name(msg)
    assert blob == "order-42/message-0b6c2f1e5a7d4c3b-TaskScheduled.json.gz"
    wrapper = encode_wrapper(blob)
    d = json.loads(wrapper)
    assert d == {
        "$type": "DurableTask.AzureStorage.MessageData",
        "ActivityId": "00000000-0000-0000-0000-000000000000",
        "TaskMessage": None,
        "CompressedBlobName": blob,
        "SequenceNumber": 0,
        "SerializableTraceContext": None,
    }
    assert decode_message(wrapper) == blob
    # the full envelope stored in the blob names the blob too, and decodes to the message
    assert decode_message(encode_message(msg, compressed_blob_name=blob)) == msg


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("{not json", "not valid JSON"),
        ("!!!", "neither JSON nor base64"),
        (base64.b64encode(b"\xff\xfe").decode(), "neither JSON nor base64"),
        ("[1,2]", "expected an object"),
        ("{}", "neither TaskMessage nor CompressedBlobName"),
        ('{"TaskMessage":{"OrchestrationInstance":{"InstanceId":"i"}}}', "Event is missing"),
        (
            '{"TaskMessage":{"Event":{"EventType":99},"OrchestrationInstance":{"InstanceId":"i"}}}',
            "unknown event",
        ),
        ('{"TaskMessage":{"Event":{"EventType":2},"OrchestrationInstance":{"InstanceId":"i"}}}', "cannot be"),
        (
            '{"TaskMessage":{"Event":{"EventType":5},"OrchestrationInstance":{"InstanceId":"i"}}}',
            "TaskScheduledId",
        ),
        ('{"TaskMessage":{"Event":{"EventType":15,"Name":"x"},"OrchestrationInstance":{}}}', "InstanceId"),
        (
            '{"TaskMessage":{"Event":{"EventType":11,"TimerId":1,"FireAt":"soon"},"OrchestrationInstance":{"InstanceId":"i"}}}',
            "FireAt",
        ),
        (
            '{"TaskMessage":{"Event":{"EventType":0,"Name":"x"},"OrchestrationInstance":{"InstanceId":"i"}}}',
            "OrchestrationInstance",
        ),
    ],
)
def test_corrupt_bodies(body: str, reason: str) -> None:
    with pytest.raises(CorruptMessageError, match=reason):
        decode_message(body)


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: type(e).__name__)
def test_type_name_first_on_every_object(event: h.HistoryEvent) -> None:
    """Newtonsoft honours ``$type`` only as the first member; only Sender, Tags and State lack one."""
    untyped = {"Sender", "Tags", "State"}

    def walk(obj: object, key: str) -> None:
        if isinstance(obj, dict):
            if key not in untyped:
                assert next(iter(obj)) == "$type", key
            for k, v in obj.items():
                walk(v, k)
        elif isinstance(obj, list):
            for item in obj:
                walk(item, key)

    msg = TaskMessage(event, "i", "e", episode=1, sender_instance_id="s", sender_execution_id="x")
    walk(json.loads(encode_message(msg)), "")
