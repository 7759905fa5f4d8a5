"""The golden fixtures against the rules (no storage): the rules describe what DTFx writes, and our
decoders read DTFx's bytes, including the message text from DTFx's own test suite."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import dtfx_rules as rules
import golden_fixtures as gf

from durable_azure.orchestration.history import ExecutionStarted, TaskCompleted, TimerFired
from durable_azure.storage.messages import decode_message
from durable_azure.storage.naming import dotnet_utf8, fnv1a_32, partition_index

HUB = "GoldenHub"
BLOBS = "http://127.0.0.1:10000/devstoreaccount1"
SCENARIOS = [
    "history_activity_result_waiting.json",
    "history_pending_timer.json",
    "history_large_payloads.json",
    "history_most_event_types.json",
    "history_work_item_waiting.json",
    "history_v1_activity_result_waiting.json",
    "instances_pending_large_input.json",
]

#: test/DurableTask.AzureStorage.Tests/MessageManagerTests.cs GetMessage(), verbatim (trailing CRLFs
#: included), Azure/durabletask@5217032961abf45846f462732a5e2813316e3747.
DTFX_TEST_MESSAGE = (
    '{"$type":"DurableTask.AzureStorage.MessageData","ActivityId":"5406d369-4369-4673-afae-6671a2fa1e57",'
    '"TaskMessage":{"$type":"DurableTask.Core.TaskMessage","Event":{"$type":"DurableTask.Core.History.'
    'ExecutionStartedEvent","OrchestrationInstance":{"$type":"DurableTask.Core.OrchestrationInstance",'
    '"InstanceId":"2.2-34a2c9d4-306e-4467-8470-a8018b2e4f11","ExecutionId":"aae324dcc8f943e490b37ec5e5bbf9da"},'
    '"EventType":0,"ParentInstance":null,"Name":"OrchestrationName","Version":"2.0","Input":"input",'
    '"Tags":{"$type":"System.Collections.Generic.Dictionary`2[[System.String, System.Private.CoreLib],'
    '[System.String, System.Private.CoreLib]]","tag1":"tagValue"},"Correlation":null,"ScheduledStartTime":null,'
    '"Generation":0,"EventId":-1,"IsPlayed":false,"Timestamp":"2023-03-24T20:53:05.9093518Z"},"SequenceNumber":0,'
    '"OrchestrationInstance":{"$type":"DurableTask.Core.OrchestrationInstance","InstanceId":'
    '"2.2-34a2c9d4-306e-4467-8470-a8018b2e4f11","ExecutionId":"aae324dcc8f943e490b37ec5e5bbf9da"}},'
    '"CompressedBlobName":null,"SequenceNumber":40,"Sender":{"InstanceId":"","ExecutionId":""},'
    '"SerializableTraceContext":null}\r\n\r\n'
)


@pytest.mark.parametrize("name", SCENARIOS)
def test_fixture_rows_and_messages_obey_the_rules(name: str) -> None:
    fixture = gf.load(name, HUB, BLOBS)
    if fixture["history"] and fixture.get("layout") != "DT.AS 1.x":
        types = rules.check_history([rules.fixture_entity(r) for r in fixture["history"]])
        assert types[:2] == ["OrchestratorStarted", "ExecutionStarted"]
    status = rules.check_instance_row(rules.fixture_entity(fixture["instance"]), blob_endpoint=BLOBS)
    assert status in ("Running", "Pending")
    for message in fixture["messages"]:
        queue = gf.queue_of(message, HUB, fixture["instance_id"])
        base64_body = bool(message.get("body_base64"))
        rules.check_message(gf.body_of(message), queue=queue, hub=HUB, base64_body=base64_body)
    for content in (fixture.get("blobs") or {}).values():
        if isinstance(content, dict):  # a stored large message: the full envelope
            rules.check_message(
                gf.body_of({"body_json": content}),
                queue=rules.control_queue(HUB, fixture["instance_id"]),
                hub=HUB,
            )


def test_finished_instance_rows_obey_the_rules() -> None:
    fixture = gf.load("instances_finished_rows.json", HUB, BLOBS)
    done, failed = (rules.fixture_entity(r) for r in fixture["rows"])
    assert rules.check_instance_row(done) == "Completed"
    assert rules.check_instance_row(failed) == "Failed"
    rules.check_failed_output(failed, "System.InvalidOperationException", 'The order "42" has no lines.')


def test_the_rules_reject_what_dtfx_would_not_write() -> None:
    fixture = gf.load("history_activity_result_waiting.json", HUB, BLOBS)
    rows = [rules.fixture_entity(r) for r in fixture["history"]]
    rows[2]["EventId"] = (rules.S, "0")  # an id as a string: .NET's typed getter throws
    with pytest.raises(rules.RuleError, match=r"EventId is Edm\.String"):
        rules.check_history(rows)
    rows = [rules.fixture_entity(r) for r in fixture["history"]]
    rows[1]["RowKey"] = (rules.S, "1")
    with pytest.raises(rules.RuleError, match="RowKey should be 0000000000000001"):
        rules.check_history(rows)
    failed = rules.fixture_entity(gf.load("instances_finished_rows.json", HUB, BLOBS)["rows"][1])
    failed["Output"] = (rules.S, '"System.InvalidOperationException: boom"')  # JSON-quoted: not DTFx's text
    with pytest.raises(rules.RuleError, match=r"not FailureDetails\.ToString"):
        rules.check_failed_output(failed, "System.InvalidOperationException", "boom")
    body = gf.body_of(fixture["messages"][0]).replace('"Episode":1,', "")
    with pytest.raises(rules.RuleError, match="needs Episode"):
        rules.check_message(body, queue=rules.control_queue(HUB, "golden-mid-flight"), hub=HUB)


def test_dtfx_test_suite_message_decodes() -> None:
    instance_id = "2.2-34a2c9d4-306e-4467-8470-a8018b2e4f11"
    rules.check_message(DTFX_TEST_MESSAGE, queue=rules.control_queue(HUB, instance_id), hub=HUB)
    message = decode_message(DTFX_TEST_MESSAGE)
    assert not isinstance(message, str)
    event = message.event
    assert isinstance(event, ExecutionStarted)
    assert (event.name, event.version, event.input, event.generation) == (
        "OrchestrationName",
        "2.0",
        "input",
        0,
    )
    assert event.tags == {"tag1": "tagValue"}  # the dictionary's $type is not a tag
    assert (message.instance_id, message.execution_id) == (instance_id, "aae324dcc8f943e490b37ec5e5bbf9da")
    assert message.episode is None and message.sequence_number == 40


def test_fixture_messages_decode_to_the_events_dtfx_meant() -> None:
    waiting = gf.load("history_activity_result_waiting.json", HUB, BLOBS)
    message = decode_message(gf.body_of(waiting["messages"][0]))
    assert not isinstance(message, str) and isinstance(message.event, TaskCompleted)
    assert (message.event.task_scheduled_id, message.event.result, message.episode) == (
        0,
        '"Hello Tokyo!"',
        1,
    )
    assert message.sender_instance_id == "golden-mid-flight"
    timer = decode_message(gf.body_of(gf.load("history_pending_timer.json", HUB, BLOBS)["messages"][0]))
    assert not isinstance(timer, str) and isinstance(timer.event, TimerFired) and timer.event.timer_id == 0
    wrapper = decode_message(gf.body_of(gf.load("history_large_payloads.json", HUB, BLOBS)["messages"][0]))
    assert wrapper == "golden-large/message-3c1d9e2f4a5b4c6d8e7f9a0b1c2d3e4f-TaskCompleted.json.gz"


def test_partition_of_a_lone_surrogate_id_hashes_dotnet_utf8_bytes() -> None:
    # .NET Encoding.UTF8.GetBytes("order-\ud800") = "order-" + EF BF BD (U+FFFD), not "?"
    assert dotnet_utf8("order-\ud800") == b"order-\xef\xbf\xbd"
    expected = rules.fnv1a_32(b"order-\xef\xbf\xbd")
    assert fnv1a_32(dotnet_utf8("order-\ud800")) == expected == 0xA57D035B
    assert partition_index("order-\ud800", 16) == expected % 16 == 11  # "?" would give partition 3
    assert partition_index("order-\ud800", 4) == 3
    # a surrogate pair Python holds as two code units is one character to .NET: 4 UTF-8 bytes
    assert dotnet_utf8("\ud83d\ude00") == "\U0001f600".encode("utf-8")
    assert partition_index("\ud83d\ude00-x", 16) == partition_index("\U0001f600-x", 16)
