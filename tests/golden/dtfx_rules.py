"""DurableTask.AzureStorage's storage formats as checkable rules: History rows, Instances rows, queue messages.

One place for both directions of the golden tests: the fixtures (rows and messages written as DTFx
writes them) must pass these rules, and so must what our worker writes in the same scenarios.

Sources, all at Azure/durabletask commit ``5217032961abf45846f462732a5e2813316e3747``
(DurableTask.AzureStorage 2.9.1 + 1 commit; ``git describe``: ``durabletask.azurestorage-v2.9.1-1-g52170329``):

* History rows: ``src/DurableTask.AzureStorage/Tracking/TableEntityConverter.cs`` (every ``[DataMember]``
  of the event class and ``HistoryEvent``; enums as names; int/bool/DateTime typed; other types as JSON,
  ``"null"`` for a null object; ``Timestamp`` renamed ``_Timestamp``), ``Tracking/AzureTableTrackingStore.cs``
  (``UpdateStateAsync``: ``RowKey`` = ``X16`` sequence number, ``ExecutionId`` on every row;
  ``UploadHistoryBatch``: the sentinel; ``CompressLargeMessageAsync``/``GetBlobName``: ``{Prop}BlobName``),
  event classes ``src/DurableTask.Core/History/*.cs``.
* Instances rows: ``AzureTableTrackingStore.cs`` (``SetNewExecutionAsync``, ``UpdateStateAsync``,
  ``UpdateStatusForRewindAsync``, ``UpdateStatusForTerminationAsync``), ``OrchestrationInstanceStatus.cs``,
  ``Tracking/TagsSerializer.cs``, ``src/DurableTask.Core/FailureDetails.cs`` (``ToString``).
* Queue messages: ``src/DurableTask.AzureStorage/MessageData.cs``, ``MessageManager.cs``
  (``TypeNameHandling.Objects``, ``GetNewLargeMessageBlobName``), ``src/DurableTask.Core/TaskMessage.cs``,
  and the message text in ``test/DurableTask.AzureStorage.Tests/MessageManagerTests.cs``.

Rows are given as ``{column: (edm_type, value)}`` (:func:`typed_entity` makes that from what the Azure
SDK reads; :func:`fixture_entity` from the OData JSON of a fixture).
"""

from __future__ import annotations

import base64
import json
import re
from datetime import datetime
from typing import Any
from uuid import UUID

from azure.data.tables import EdmType, EntityProperty

S, I32, I64, B, DT = "Edm.String", "Edm.Int32", "Edm.Int64", "Edm.Boolean", "Edm.DateTime"

EVENT_TYPES = [
    "ExecutionStarted", "ExecutionCompleted", "ExecutionFailed", "ExecutionTerminated", "TaskScheduled",
    "TaskCompleted", "TaskFailed", "SubOrchestrationInstanceCreated", "SubOrchestrationInstanceCompleted",
    "SubOrchestrationInstanceFailed", "TimerCreated", "TimerFired", "OrchestratorStarted",
    "OrchestratorCompleted", "EventSent", "EventRaised", "ContinueAsNew", "GenericEvent", "HistoryState",
    "ExecutionSuspended", "ExecutionResumed", "ExecutionRewound",
]  # fmt: skip
STATUSES = [
    "Running",
    "Completed",
    "ContinuedAsNew",
    "Failed",
    "Canceled",
    "Terminated",
    "Pending",
    "Suspended",
]

# Columns DTFx moves to a blob over 60 KiB UTF-16 (``VariableSizeEntityProperties``).
LARGE = ("Name", "Input", "Result", "Output", "Reason", "Details", "Correlation", "FailureDetails", "Tags")
JSON_KEYS = {
    "OrchestrationInstance": {"InstanceId", "ExecutionId"},
    "ParentInstance": {"Name", "OrchestrationInstance", "TaskScheduleId", "Version"},
    "FailureDetails": {
        "ErrorType",
        "ErrorMessage",
        "StackTrace",
        "InnerFailure",
        "IsNonRetriable",
        "Properties",
    },
    "ParentTraceContext": {"TraceParent", "TraceState", "Id", "SpanId", "ActivityStartTime"},
}
JSON_COLUMNS = ("OrchestrationInstance", "ParentInstance", "FailureDetails", "ParentTraceContext", "Tags")
HEX16 = re.compile(r"^[0-9A-F]{16}$")
HEX32 = re.compile(r"^[0-9a-f]{32}$")
GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,7})?Z$")

# ------------------------------------------------------------------------------------------ History

HISTORY_BASE = {"PartitionKey": S, "RowKey": S, "ExecutionId": S, "EventType": S, "EventId": I32,
                "IsPlayed": B, "_Timestamp": DT}  # fmt: skip
_FAILED = ({"TaskScheduledId": I32, "FailureDetails": S}, {"Reason": S, "Details": S})
# event type -> (columns always written, columns written when not null). Every Core version this
# layout has had writes the "always" ones; ClientSpanId, GenerateNewTrace are recent members.
EVENT_COLUMNS: dict[str, tuple[dict[str, str], dict[str, str]]] = {
    "ExecutionStarted": (
        {
            "OrchestrationInstance": S,
            "ParentInstance": S,
            "Tags": S,
            "ParentTraceContext": S,
            "GenerateNewTrace": B,
        },
        {"Name": S, "Version": S, "Input": S, "Correlation": S, "ScheduledStartTime": DT, "Generation": I32},
    ),
    "ExecutionCompleted": ({"OrchestrationStatus": S, "FailureDetails": S}, {"Result": S}),
    "ContinueAsNew": ({"OrchestrationStatus": S, "FailureDetails": S}, {"Result": S}),
    "ExecutionTerminated": ({}, {"Input": S}),
    "TaskScheduled": ({"ParentTraceContext": S, "Tags": S}, {"Name": S, "Version": S, "Input": S}),
    "TaskCompleted": ({"TaskScheduledId": I32}, {"Result": S}),
    "TaskFailed": _FAILED,
    "SubOrchestrationInstanceCreated": (
        {"Tags": S},
        {"Name": S, "Version": S, "InstanceId": S, "Input": S, "ClientSpanId": S},
    ),
    "SubOrchestrationInstanceCompleted": ({"TaskScheduledId": I32}, {"Result": S}),
    "SubOrchestrationInstanceFailed": _FAILED,
    "TimerCreated": ({"FireAt": DT}, {}),
    "TimerFired": ({"TimerId": I32, "FireAt": DT}, {}),
    "OrchestratorStarted": ({}, {}),
    "OrchestratorCompleted": ({}, {}),
    "EventSent": ({}, {"InstanceId": S, "Name": S, "Input": S}),
    "EventRaised": ({"ParentTraceContext": S}, {"Name": S, "Input": S}),
    "GenericEvent": ({}, {"Data": S, "Reason": S}),  # Reason: rows rewritten by the legacy rewind
    "ExecutionSuspended": ({}, {"Reason": S}),
    "ExecutionResumed": ({}, {"Reason": S}),
    "ExecutionRewound": ({"ParentTraceContext": S}, {"Reason": S, "ParentExecutionId": S, "InstanceId": S}),
}
SENTINEL_COLUMNS = {"PartitionKey": S, "RowKey": S, "ExecutionId": S, "IsCheckpointComplete": B}
SENTINEL_OPTIONAL = {"CheckpointCompletedTimestamp": DT}

# ---------------------------------------------------------------------------------------- Instances

INSTANCE_ALWAYS = {"PartitionKey": S, "RowKey": S, "Name": S, "RuntimeStatus": S, "CreatedTime": DT,
                   "LastUpdatedTime": DT, "ExecutionId": S, "Generation": I32, "TaskHubName": S, "Tags": S}  # fmt: skip
INSTANCE_OPTIONAL = {"Version": S, "Input": S, "Output": S, "CustomStatus": S, "CompletedTime": DT,
                     "ScheduledStartTime": DT, "InputBlobName": S, "TagsBlobName": S}  # fmt: skip
FAILURE_TEXT = re.compile(
    r"^[^\s\"{\[][^:\n]*: ", re.S
)  # FailureDetails.ToString(): "{ErrorType}: {ErrorMessage}"

# ------------------------------------------------------------------------------------------- Queues

ENVELOPE_KEYS = ["$type", "ActivityId", "TaskMessage", "CompressedBlobName", "SequenceNumber", "Episode",
                 "Sender", "SerializableTraceContext"]  # fmt: skip
EVENT_MEMBERS: dict[str, list[str]] = {
    # ParentTraceContext/GenerateNewTrace are newer members: MessageManagerTests' 2023 message lacks them
    "ExecutionStarted": ["OrchestrationInstance", "ParentInstance", "Name", "Version", "Input", "Tags",
                         "Correlation", "ScheduledStartTime", "Generation"],
    "ExecutionCompleted": ["OrchestrationStatus", "Result", "FailureDetails"],
    "ExecutionTerminated": ["Input"],
    "TaskScheduled": ["Name", "Version", "Input"],
    "TaskCompleted": ["TaskScheduledId", "Result"],
    "TaskFailed": ["TaskScheduledId", "Reason", "Details", "FailureDetails"],
    "SubOrchestrationInstanceCompleted": ["TaskScheduledId", "Result"],
    "SubOrchestrationInstanceFailed": ["TaskScheduledId", "Reason", "Details", "FailureDetails"],
    "TimerFired": ["TimerId", "FireAt"],
    "EventRaised": ["Name", "Input"],
    "GenericEvent": ["Data"],
    "ExecutionSuspended": ["Reason"],
    "ExecutionResumed": ["Reason"],
}  # fmt: skip
# Events an orchestration sends carry Episode; a client's do not (MessageData.Episode, EmitDefaultValue=false).
CLIENT_EVENTS = {"ExecutionTerminated", "ExecutionSuspended", "ExecutionResumed", "GenericEvent"}


class RuleError(AssertionError):
    """A row or message breaks a DTFx format rule (the message says which and where)."""


def _require(ok: bool, where: str, text: str) -> None:
    if not ok:
        raise RuleError(f"{where}: {text}")


# -------------------------------------------------------------------------------- typed entities


def typed_entity(entity: Any) -> dict[str, tuple[str, Any]]:
    """``{column: (edm, value)}`` of an entity read with azure-data-tables (types as the SDK decodes them)."""
    out: dict[str, tuple[str, Any]] = {}
    for key, value in dict(entity).items():
        if isinstance(value, EntityProperty):
            out[key] = (
                str(value.edm_type.value if hasattr(value.edm_type, "value") else value.edm_type),
                value.value,
            )
        elif isinstance(value, bool):
            out[key] = (B, value)
        elif isinstance(value, int):
            out[key] = (I32, value)
        elif isinstance(value, datetime):
            out[key] = (DT, value)
        elif isinstance(value, float):
            out[key] = ("Edm.Double", value)
        elif isinstance(value, UUID):
            out[key] = ("Edm.Guid", value)
        elif isinstance(value, bytes):
            out[key] = ("Edm.Binary", value)
        else:
            out[key] = (S, value)
    return out


def fixture_entity(data: dict[str, Any]) -> dict[str, tuple[str, Any]]:
    """``{column: (edm, value)}`` of a fixture row in OData JSON (``Col@odata.type`` annotations, as
    the Table service's JSON carries them: DateTime and Int64 annotated, Int32/Boolean/String bare)."""
    out: dict[str, tuple[str, Any]] = {}
    for key, value in data.items():
        if key.endswith("@odata.type") or key.startswith("//"):
            continue
        edm = data.get(f"{key}@odata.type")
        if edm is None:
            edm = B if isinstance(value, bool) else I32 if isinstance(value, int) else S
        out[key] = (edm, value)
    return out


def sdk_entity(data: dict[str, Any]) -> dict[str, Any]:
    """A fixture row (OData JSON) as an azure-data-tables entity, so it is stored with the same Edm types."""
    entity: dict[str, Any] = {}
    for key, (edm, value) in fixture_entity(data).items():
        if edm == DT:
            entity[key] = datetime.fromisoformat(value.replace("Z", "+00:00"))
        elif edm == I64:
            entity[key] = EntityProperty(int(value), EdmType.INT64)
        else:
            entity[key] = value
    return entity


# ------------------------------------------------------------------------------------ History rules


def _check_json_column(where: str, column: str, value: str) -> None:
    try:
        data = json.loads(value)
    except ValueError:
        raise RuleError(f"{where}: {column} is not JSON: {value[:80]!r}") from None
    if data is None:
        return  # v2 writes "null" for a null object
    if column == "Tags":
        _require(
            isinstance(data, dict) and all(isinstance(v, str) for v in data.values()),
            where,
            "Tags is not a JSON object of strings",
        )
        return
    _require(isinstance(data, dict), where, f"{column} is not a JSON object")
    _require(
        set(data) == JSON_KEYS[column],
        where,
        f"{column} has keys {sorted(data)}, DTFx writes {sorted(JSON_KEYS[column])}",
    )


def check_history_row(row: dict[str, tuple[str, Any]], *, index: int, execution_id: str) -> str:
    """A History event row at position ``index`` of execution ``execution_id``; returns its EventType."""
    key = row.get("RowKey", (S, "?"))[1]
    where = f"History row {key}"
    for column, edm in HISTORY_BASE.items():
        _require(column in row, where, f"missing {column}")
        _require(row[column][0] == edm, where, f"{column} is {row[column][0]}, DTFx writes {edm}")
    _require(HEX16.match(key) is not None and int(key, 16) == index, where, f"RowKey should be {index:016X}")
    _require(row["ExecutionId"][1] == execution_id, where, "ExecutionId differs from the sentinel's")
    event_type = row["EventType"][1]
    _require(event_type in EVENT_COLUMNS, where, f"EventType {event_type!r} is not a DTFx event name")
    always, optional = EVENT_COLUMNS[event_type]
    for column in always:
        _require(column in row, where, f"{event_type} row lacks {column}")
    allowed = {**HISTORY_BASE, **always, **optional}
    reason = str(row.get("Reason", (S, ""))[1])
    if reason.startswith("Rewound: "):
        # RewindHistoryAsync replaces the row with EventType GenericEvent and this Reason, keeping the
        # rest of the original row (a SubOrchestrationInstanceCreated row only gains the Reason)
        was = reason.removeprefix("Rewound: ")
        _require(was in EVENT_COLUMNS, where, f"Reason names no event type: {reason!r}")
        allowed = {**allowed, **EVENT_COLUMNS[was][0], **EVENT_COLUMNS[was][1], "Reason": S}
    for column, (edm, value) in row.items():
        if column in ("Timestamp", "odata.etag"):
            continue  # service-maintained
        if column.endswith("BlobName"):
            prop = column[: -len("BlobName")]
            _require(prop in LARGE, where, f"{column}: {prop} is not a column DTFx offloads")
            _require(
                edm == S and row.get(prop, (S, None))[1] == "", where, f"{column} set but {prop} is not ''"
            )
            pattern = rf"^{re.escape(row['PartitionKey'][1])}/history-{key}-{event_type}-[0-9A-F]{{8}}-{prop}\.json\.gz$"
            _require(
                re.match(pattern, value) is not None, where, f"{column} {value!r} is not DTFx's blob name"
            )
            continue
        _require(column in allowed, where, f"unexpected column {column} in a {event_type} row")
        _require(edm == allowed[column], where, f"{column} is {edm}, DTFx writes {allowed[column]}")
        if column in JSON_COLUMNS and not (value == "" and f"{column}BlobName" in row):
            _check_json_column(where, column, value)
    if "OrchestrationStatus" in row:
        _require(row["OrchestrationStatus"][1] in STATUSES, where, "OrchestrationStatus is not an enum name")
    return str(event_type)


def check_sentinel(row: dict[str, tuple[str, Any]]) -> None:
    where = "History sentinel"
    _require(row.get("RowKey", (S, ""))[1] == "sentinel", where, "RowKey is not 'sentinel'")
    for column, edm in SENTINEL_COLUMNS.items():
        _require(column in row and row[column][0] == edm, where, f"{column} missing or not {edm}")
    for column, (edm, _) in row.items():
        if column in ("Timestamp", "odata.etag"):
            continue
        allowed = {**SENTINEL_COLUMNS, **SENTINEL_OPTIONAL}
        _require(column in allowed, where, f"unexpected column {column}")
        _require(edm == allowed[column], where, f"{column} is {edm}, DTFx writes {allowed[column]}")
    if row["IsCheckpointComplete"][1]:
        _require("CheckpointCompletedTimestamp" in row, where, "complete checkpoint without its timestamp")


def check_history(rows: list[dict[str, tuple[str, Any]]]) -> list[str]:
    """A whole History partition (one execution): event rows 0..n-1 then the sentinel. Returns the event types."""
    rows = sorted(rows, key=lambda r: r["RowKey"][1])
    _require(bool(rows) and rows[-1]["RowKey"][1] == "sentinel", "History", "no sentinel row (it sorts last)")
    sentinel = rows[-1]
    check_sentinel(sentinel)
    execution_id = sentinel["ExecutionId"][1]
    types = [check_history_row(r, index=i, execution_id=execution_id) for i, r in enumerate(rows[:-1])]
    partition_keys = {r["PartitionKey"][1] for r in rows}
    _require(len(partition_keys) == 1, "History", f"rows of several partitions: {partition_keys}")
    return types


# ---------------------------------------------------------------------------------- Instances rules


def check_instance_row(row: dict[str, tuple[str, Any]], *, blob_endpoint: str | None = None) -> str:
    """An Instances row; returns its RuntimeStatus."""
    where = f"Instances row {row.get('PartitionKey', (S, '?'))[1]!r}"
    entity = str(row.get("PartitionKey", (S, ""))[1]).startswith("@")
    for column in INSTANCE_ALWAYS:
        # an entity's execution is auto-started without a Generation (Core Entities.AutoStart)
        _require(column in row or (entity and column == "Generation"), where, f"missing {column}")
    for column, (edm, _value) in row.items():
        if column in ("Timestamp", "odata.etag"):
            continue
        allowed = {**INSTANCE_ALWAYS, **INSTANCE_OPTIONAL}
        _require(column in allowed, where, f"unexpected column {column}")
        _require(edm == allowed[column], where, f"{column} is {edm}, DTFx writes {allowed[column]}")
    _require(row["RowKey"][1] == "", where, "RowKey is not ''")
    status = row["RuntimeStatus"][1]
    _require(status in STATUSES, where, f"RuntimeStatus {status!r} is not an enum name")
    _require(HEX32.match(row["ExecutionId"][1]) is not None, where, "ExecutionId is not 32 hex digits")
    tags = row["Tags"][1]
    if not (tags == "" and "TagsBlobName" in row):
        _check_json_column(where, "Tags", tags)
    if status == "Pending":
        _require(
            "CompletedTime" not in row or row["CompletedTime"][1] is None, where, "Pending with CompletedTime"
        )
    if status in ("Completed", "Failed", "Terminated"):
        _require("CompletedTime" in row, where, f"{status} without CompletedTime")
    if status != "Pending":
        _require("CustomStatus" in row, where, "no CustomStatus after a checkpoint (DTFx writes 'null')")
    if "InputBlobName" in row:
        _require(
            row.get("Input", (S, ""))[1] == "" or _is_url(row["Input"][1]),
            where,
            "InputBlobName with an inline Input",
        )
    for column in ("Input", "Output"):
        value = row.get(column, (S, None))[1]
        if _is_url(value) and blob_endpoint is not None:
            _require(
                value.startswith(blob_endpoint.rstrip("/") + "/"),
                where,
                f"{column} URL is not on the blob endpoint",
            )
            _require("-largemessages/" in value, where, f"{column} URL is not in {{hub}}-largemessages")
    return str(status)


def check_failed_output(row: dict[str, tuple[str, Any]], error_type: str, error_message: str) -> None:
    """A Failed row's Output is ``FailureDetails.ToString()``: plain ``{ErrorType}: {ErrorMessage}``."""
    output = row["Output"][1]
    _require(
        output == f"{error_type}: {error_message}",
        "Instances Output",
        f"{output!r} is not FailureDetails.ToString()",
    )
    _require(FAILURE_TEXT.match(output) is not None, "Instances Output", "not in 'Type: message' form")


def _is_url(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(("http://", "https://"))


# ------------------------------------------------------------------------------------ Queue rules


def _check_type_first(value: Any, path: str) -> None:
    """``$type`` is the first property of every object but ``Sender`` (and Tags dictionaries may omit it)."""
    if isinstance(value, list) and value and isinstance(value[0], tuple):
        keys = [k for k, _ in value]
        if not path.endswith((".Sender", ".Tags")):
            _require(keys[:1] == ["$type"], path, f"first property is {keys[:1]}, not $type")
        for key, item in value:
            _check_type_first(item, f"{path}.{key}")


def check_message(
    body: str, *, queue: str, hub: str, partitions: int = 4, base64_body: bool = False
) -> dict[str, Any]:
    """A queue message body as DTFx writes it, on the queue it belongs to; returns the parsed envelope.
    ``base64_body``: the body is base64 of the JSON, as DT.AS 1.x wrote it."""
    text = base64.b64decode(body).decode("utf-8") if base64_body else body.strip()
    _require(text.startswith("{"), "message", "body is not raw JSON (DT.AS v2 writes UTF-8 JSON)")
    _check_type_first(json.loads(text, object_pairs_hook=list), "$")
    data = json.loads(text)
    _require(data["$type"] == "DurableTask.AzureStorage.MessageData", "message", "not a MessageData")
    unknown = set(data) - set(ENVELOPE_KEYS)
    _require(not unknown, "message", f"unexpected envelope properties {sorted(unknown)}")
    _require(isinstance(data.get("SequenceNumber"), int), "message", "SequenceNumber is not an integer")
    _require(GUID.match(str(data.get("ActivityId"))) is not None, "message", "ActivityId is not a GUID")
    task = data.get("TaskMessage")
    if task is None:
        blob = data.get("CompressedBlobName")
        _require(isinstance(blob, str) and re.match(r"^.+/message-[0-9a-f]{32}-[A-Za-z]+\.json\.gz$", blob) is not None,
                 "wrapper", f"CompressedBlobName {blob!r} is not DTFx's large-message blob name")  # fmt: skip
        _require(
            "Episode" not in data and "Sender" not in data,
            "wrapper",
            "a wrapper carries no Episode or Sender",
        )
        return data
    _require(task["$type"] == "DurableTask.Core.TaskMessage", "message", "TaskMessage $type")
    event = task["Event"]
    name = str(event["$type"]).removeprefix("DurableTask.Core.History.")
    event_type = name if name == "GenericEvent" else name.removesuffix("Event")
    _require(
        event_type in EVENT_MEMBERS, "message", f"event class {event['$type']!r} is not one a queue carries"
    )
    _require(
        event["EventType"] == EVENT_TYPES.index(event_type), "message", "EventType is not the enum's integer"
    )
    for member in (*EVENT_MEMBERS[event_type], "EventId", "IsPlayed", "Timestamp"):
        _require(member in event, "message", f"{event_type} lacks {member} (Newtonsoft writes every member)")
    _require(ISO_UTC.match(event["Timestamp"]) is not None, "message", f"Timestamp {event['Timestamp']!r}")
    instance = task["OrchestrationInstance"]
    _require(
        instance["$type"] == "DurableTask.Core.OrchestrationInstance",
        "message",
        "OrchestrationInstance $type",
    )
    _require(bool(instance.get("InstanceId")), "message", "no target InstanceId")
    execution_id = instance.get("ExecutionId")
    _require(
        execution_id is None or HEX32.match(execution_id) is not None, "message", "ExecutionId is not 32 hex"
    )
    if event_type == "ExecutionStarted":
        _require(
            execution_id is not None and isinstance(event.get("Generation"), int),
            "message",
            "a start needs ExecutionId and Generation",
        )
    sender = data.get("Sender")
    _require(
        isinstance(sender, dict) and set(sender) == {"InstanceId", "ExecutionId"},
        "message",
        "Sender must be {InstanceId, ExecutionId}",
    )
    if "Episode" in data:
        _require(
            isinstance(data["Episode"], int) and data["Episode"] >= 1,
            "message",
            "Episode is not a positive int",
        )
    if event_type in CLIENT_EVENTS or (
        event_type == "ExecutionStarted" and event.get("ParentInstance") is None
    ):
        _require("Episode" not in data, "message", f"a client's {event_type} carries no Episode")
    elif event_type in ("TaskScheduled", "TaskCompleted", "TaskFailed", "TimerFired"):
        _require(
            "Episode" in data and sender["InstanceId"] == instance["InstanceId"],
            "message",
            f"{event_type} needs Episode and Sender = the orchestration",
        )
    expected = (
        f"{hub.lower()}-workitems"
        if event_type == "TaskScheduled"
        else control_queue(hub, instance["InstanceId"], partitions)
    )
    _require(
        queue == expected,
        "message",
        f"{event_type} for {instance['InstanceId']!r} belongs on {expected}, not {queue}",
    )
    return data


def fnv1a_32(data: bytes) -> int:
    """FNV-1a 32 (``Fnv1aHashHelper``), written here from the spec rather than imported from the engine."""
    value = 2166136261
    for byte in data:
        value = ((value ^ byte) * 16777619) % 2**32
    return value


def control_queue(hub: str, instance_id: str, partitions: int = 4) -> str:
    data = instance_id.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace").encode("utf-8")
    return f"{hub.lower()}-control-{fnv1a_32(data) % partitions:02d}"
