"""What the engine leaves in storage, read back with the plain Azure SDKs: the DurableTask.AzureStorage layout.

Reference: shared/reference/azure-storage-layout.md §0–§4 and §12. Edm types are checked through the
azure-data-tables deserializer: an un-annotated JSON integer comes back as ``int`` (Edm.Int32), an
``Edm.Int64`` as an ``EntityProperty``, an ``Edm.DateTime`` as a ``datetime``, a string as ``str``.
"""

from __future__ import annotations

import gzip
import json
import re
import sys
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

from azure.data.tables import EntityProperty

sys.path.insert(0, str(Path(__file__).resolve().parent))

import worker_support as ws

FIXED_ID = "layout-order-42"
HEX16 = re.compile(r"^[0-9A-F]{16}$")
HEX32 = re.compile(r"^[0-9a-f]{32}$")
GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
HELLO_EVENT_TYPES = [
    "OrchestratorStarted",
    "ExecutionStarted",
    "TaskScheduled",
    "OrchestratorCompleted",
    *(["OrchestratorStarted", "TaskCompleted", "TaskScheduled", "OrchestratorCompleted"] * 2),
    "OrchestratorStarted",
    "TaskCompleted",
    "ExecutionCompleted",
    "OrchestratorCompleted",
]


def is_int32(value: Any) -> bool:
    return type(value) is int and -(2**31) <= value < 2**31


def is_datetime(value: Any) -> bool:
    return isinstance(value, datetime)


def ordered(text: str) -> Any:
    """JSON with objects as lists of (key, value) pairs, so property order can be checked."""
    return json.loads(text, object_pairs_hook=list)


def check_type_first(pairs: list[tuple[str, Any]], path: str = "$") -> None:
    """Every object (but ``Sender`` and ``Tags``) has ``$type`` as its first property."""
    if pairs and pairs[0][0] != "$type":
        raise AssertionError(f"{path}: first property is {pairs[0][0]!r}, not $type")
    for key, value in pairs:
        if (
            isinstance(value, list)
            and value
            and isinstance(value[0], tuple)
            and key not in ("Sender", "Tags")
        ):
            check_type_first(value, f"{path}.{key}")


def test_fnv1a_reference_vectors() -> None:
    # the helper the layout test routes with is checked against the published FNV-1a 32 vectors
    assert ws.fnv1a_32("") == 0x811C9DC5
    assert ws.fnv1a_32("a") == 0xE40C292C
    assert ws.fnv1a_32("foobar") == 0xBF9CF968


async def test_layout_after_hello_cities(azurite: str, hub_name: str) -> None:
    hub = "Lay" + hub_name[1:]  # mixed case: tables keep it, queues and containers are lower-cased
    low = hub.lower()
    partition = ws.fnv1a_32(FIXED_ID) % 4
    async with ws.task_hub(azurite, hub, worker=False) as env:
        raw = env.raw

        # ---- the start message, before any worker runs: FNV routing and the envelope
        await env.client.start_new("HelloCities", FIXED_ID, ws.sample_app.CITIES)
        for index in range(4):
            bodies = await raw.peek(f"{low}-control-{index:02d}")
            assert len(bodies) == (1 if index == partition else 0), (index, partition)
        body = (await raw.peek(f"{low}-control-{partition:02d}"))[0]
        assert body.startswith('{"$type":"DurableTask.AzureStorage.MessageData"')
        check_type_first(ordered(body))
        envelope = json.loads(body)
        assert GUID.match(envelope["ActivityId"])
        assert envelope["CompressedBlobName"] is None
        assert isinstance(envelope["SequenceNumber"], int)
        assert envelope["Sender"] == {"InstanceId": "", "ExecutionId": ""}
        message = envelope["TaskMessage"]
        assert message["$type"] == "DurableTask.Core.TaskMessage"
        event = message["Event"]
        assert event["$type"] == "DurableTask.Core.History.ExecutionStartedEvent"
        assert type(event["EventType"]) is int and event["EventType"] == 0
        assert event["EventId"] == -1
        assert event["Name"] == "HelloCities"
        assert event["OrchestrationInstance"]["InstanceId"] == FIXED_ID
        start_execution_id = message["OrchestrationInstance"]["ExecutionId"]
        assert HEX32.match(start_execution_id)
        assert event["OrchestrationInstance"]["ExecutionId"] == start_execution_id
        assert event["Generation"] == 0
        assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,7})?Z$", event["Timestamp"])

        pending = (await raw.rows(f"{hub}Instances", f"PartitionKey eq '{FIXED_ID}'"))[0]
        assert pending["RuntimeStatus"] == "Pending"
        assert pending["ExecutionId"] == start_execution_id

        # ---- run it, plus one instance with a large input
        big_id = "layout-big"
        big_input = (
            "y" * 50_000
        )  # 100,000 UTF-16 bytes (> 61,440); the start message body is over 46,080 bytes
        await env.client.start_new("Noop", big_id, big_input)
        await env.start_worker()
        status = await ws.completed(env.client, FIXED_ID)
        assert status.output == ws.sample_app.HELLO_CITIES_OUTPUT
        await ws.completed(env.client, big_id)

        # ---- resource names
        tables = {t.name async for t in raw.tables.list_tables()}
        assert {f"{hub}History", f"{hub}Instances"} <= tables
        assert f"{low}History" not in tables or hub == low
        queues = {q.name async for q in raw.queues.list_queues(name_starts_with=f"{low}-")}
        assert {f"{low}-control-0{i}" for i in range(4)} | {f"{low}-workitems"} <= queues
        containers = {c.name async for c in raw.blobs.list_containers(name_starts_with=low)}
        assert {f"{low}-applease", f"{low}-largemessages"} <= containers
        # partition ownership: the {Hub}Partitions table, DF 3.x's default (blob leases: test_leases.py)
        assert f"{hub}Partitions" in tables
        partitions = await raw.rows(f"{hub}Partitions")
        assert sorted(r["RowKey"] for r in partitions) == [f"{low}-control-0{i}" for i in range(4)]
        assert all(r["PartitionKey"] == "" and isinstance(r["IsDraining"], bool) for r in partitions)
        assert all(is_datetime(r["ExpiresAt"]) and r["CurrentOwner"] for r in partitions)

        # ---- History rows
        rows = await raw.history_rows(hub, FIXED_ID)
        sentinel = rows[-1]
        assert sentinel["RowKey"] == "sentinel"
        assert sentinel["ExecutionId"] == start_execution_id == status.execution_id
        assert sentinel["IsCheckpointComplete"] is True
        assert is_datetime(sentinel["CheckpointCompletedTimestamp"])
        assert "EventType" not in sentinel

        events = rows[:-1]
        assert [r["EventType"] for r in events] == HELLO_EVENT_TYPES
        for index, row in enumerate(events):
            assert row["PartitionKey"] == FIXED_ID
            assert HEX16.match(row["RowKey"]) and int(row["RowKey"], 16) == index
            assert row["ExecutionId"] == start_execution_id
            assert is_int32(row["EventId"]), row
            assert is_datetime(row["_Timestamp"]), row
            assert type(row["IsPlayed"]) is bool
            for column, value in row.items():
                assert not isinstance(value, EntityProperty), f"{column} is stored as {value.edm_type}"
        by_type: dict[str, list[Any]] = {}
        for row in events:
            by_type.setdefault(row["EventType"], []).append(row)
        assert [r["EventId"] for r in by_type["TaskScheduled"]] == [0, 1, 2]
        assert [r["Name"] for r in by_type["TaskScheduled"]] == ["SayHello"] * 3
        assert [json.loads(r["Input"]) for r in by_type["TaskScheduled"]] == ws.sample_app.CITIES
        assert [r["TaskScheduledId"] for r in by_type["TaskCompleted"]] == [0, 1, 2]
        assert all(is_int32(r["TaskScheduledId"]) for r in by_type["TaskCompleted"])
        assert [
            json.loads(r["Result"]) for r in by_type["TaskCompleted"]
        ] == ws.sample_app.HELLO_CITIES_OUTPUT
        assert all(r["EventId"] == -1 for r in by_type["OrchestratorStarted"] + by_type["TaskCompleted"])
        started = by_type["ExecutionStarted"][0]
        assert started["Name"] == "HelloCities"
        assert json.loads(started["Input"]) == ws.sample_app.CITIES
        assert json.loads(started["OrchestrationInstance"]) == {
            "InstanceId": FIXED_ID,
            "ExecutionId": start_execution_id,
        }
        assert is_int32(started["Generation"]) and started["Generation"] == 0
        finished = by_type["ExecutionCompleted"][0]
        assert finished["OrchestrationStatus"] == "Completed"
        assert json.loads(finished["Result"]) == ws.sample_app.HELLO_CITIES_OUTPUT

        # ---- the Instances row
        row = (await raw.rows(f"{hub}Instances", f"PartitionKey eq '{FIXED_ID}'"))[0]
        assert row["RowKey"] == ""
        assert row["Name"] == "HelloCities" and row["Version"] == ""
        assert row["RuntimeStatus"] == "Completed"
        for column in ("CreatedTime", "LastUpdatedTime", "CompletedTime"):
            assert is_datetime(row[column]), column
        assert row["CompletedTime"] >= row["CreatedTime"]
        for column in ("Input", "Output", "CustomStatus", "ExecutionId", "TaskHubName"):
            assert type(row[column]) is str, column
        assert json.loads(row["Output"]) == ws.sample_app.HELLO_CITIES_OUTPUT
        assert json.loads(row["Input"]) == ws.sample_app.CITIES
        assert row["CustomStatus"] == "null"
        assert row["ExecutionId"] == start_execution_id
        assert row["TaskHubName"] == hub
        assert is_int32(row["Generation"]) and row["Generation"] == 0
        assert not any(isinstance(v, EntityProperty) for v in row.values())

        # ---- large values: blobs in {hub}-largemessages, DTFx names and references
        blobs = await raw.blob_names(f"{low}-largemessages")
        start_blobs = [
            b
            for b in blobs
            if re.fullmatch(rf"{big_id}/message-[0-9a-f]{{32}}-ExecutionStarted\.json\.gz", b)
        ]
        assert len(start_blobs) == 1, blobs
        big_rows = {r["EventType"]: r for r in await raw.current_history_rows(hub, big_id)}
        big_started = big_rows["ExecutionStarted"]
        assert big_started["Input"] == ""
        assert re.fullmatch(
            rf"{big_id}/history-{big_started['RowKey']}-ExecutionStarted-[0-9A-F]{{8}}-Input\.json\.gz",
            big_started["InputBlobName"],
        )
        assert big_started["InputBlobName"] in blobs
        container = raw.blobs.get_container_client(f"{low}-largemessages")
        stored = await (await container.download_blob(big_started["InputBlobName"])).readall()
        assert json.loads(gzip.decompress(stored).decode("utf-8")) == big_input
        wrapper = json.loads(gzip.decompress(await (await container.download_blob(start_blobs[0])).readall()))
        assert wrapper["CompressedBlobName"] == start_blobs[0]
        assert wrapper["TaskMessage"]["Event"]["Input"] == json.dumps(big_input)
        big_row = (await raw.rows(f"{hub}Instances", f"PartitionKey eq '{big_id}'"))[0]
        assert big_row["Input"].startswith(f"http://127.0.0.1:10000/devstoreaccount1/{low}-largemessages/")


async def test_large_start_message_is_a_wrapper_on_the_queue(azurite: str, hub_name: str) -> None:
    async with ws.task_hub(azurite, hub_name, worker=False) as env:
        instance_id = f"wrapped-{uuid.uuid4().hex[:6]}"
        await env.client.start_new("Noop", instance_id, "z" * 50_000)
        queue = f"{hub_name}-control-{ws.fnv1a_32(instance_id) % 4:02d}"
        body = (await env.raw.peek(queue))[0]
        check_type_first(ordered(body))
        wrapper = json.loads(body)
        assert wrapper["TaskMessage"] is None
        assert wrapper["ActivityId"] == "00000000-0000-0000-0000-000000000000"
        assert re.fullmatch(
            rf"{instance_id}/message-[0-9a-f]{{32}}-ExecutionStarted\.json\.gz", wrapper["CompressedBlobName"]
        )
        assert len(body.encode("utf-8")) < 1024


async def test_layout_of_timer_failure_and_sub_orchestration_rows(azurite: str, hub_name: str) -> None:
    async with ws.task_hub(azurite, hub_name) as env:
        await env.client.start_new("ShortTimer", "layout-timer", 1)
        await env.client.start_new("ParentOfFailingChild", "layout-parent", False)
        await ws.completed(env.client, "layout-timer")
        assert (
            await env.client.wait_for_completion("layout-parent", timeout=30)
        ).runtime_status.value == "Failed"

        timer_rows = {r["EventType"]: r for r in await env.raw.current_history_rows(hub_name, "layout-timer")}
        created, fired = timer_rows["TimerCreated"], timer_rows["TimerFired"]
        assert is_int32(created["EventId"]) and created["EventId"] == 0
        assert is_datetime(created["FireAt"]) and is_datetime(fired["FireAt"])
        assert fired["FireAt"] == created["FireAt"]
        assert is_int32(fired["TimerId"]) and fired["TimerId"] == 0

        child_rows = {
            r["EventType"]: r for r in await env.raw.current_history_rows(hub_name, "layout-parent:0")
        }
        activity_done = child_rows["TaskCompleted"]  # the child's activity succeeded ...
        assert is_int32(activity_done["TaskScheduledId"])
        child_end = child_rows["ExecutionCompleted"]  # ... then the child raised
        assert child_end["OrchestrationStatus"] == "Failed"
        details = ordered(child_end["FailureDetails"])
        assert [k for k, _ in details][:3] == ["ErrorType", "ErrorMessage", "StackTrace"]
        assert dict(details)["ErrorType"] == "KeyError"
        started = child_rows["ExecutionStarted"]
        parent = json.loads(started["ParentInstance"])
        assert parent["Name"] == "ParentOfFailingChild" and parent["TaskScheduleId"] == 0
        assert parent["OrchestrationInstance"]["InstanceId"] == "layout-parent"

        parent_rows = {
            r["EventType"]: r for r in await env.raw.current_history_rows(hub_name, "layout-parent")
        }
        sub_created = parent_rows["SubOrchestrationInstanceCreated"]
        assert sub_created["Name"] == "FailingChild" and sub_created["InstanceId"] == "layout-parent:0"
        assert is_int32(sub_created["EventId"]) and sub_created["EventId"] == 0
        sub_failed = parent_rows["SubOrchestrationInstanceFailed"]
        assert is_int32(sub_failed["TaskScheduledId"]) and sub_failed["TaskScheduledId"] == 0
        assert isinstance(sub_failed["Reason"], str) and isinstance(sub_failed["Details"], str)
        failure = json.loads(sub_failed["FailureDetails"])
        assert {"ErrorType", "ErrorMessage", "StackTrace", "InnerFailure", "IsNonRetriable"} <= set(failure)
        assert failure["ErrorType"] == "KeyError"
        instance = (await env.raw.rows(f"{hub_name}Instances", "PartitionKey eq 'layout-parent'"))[0]
        assert instance["RuntimeStatus"] == "Failed"
        assert "SubOrchestrationFailedError" in instance["Output"]
