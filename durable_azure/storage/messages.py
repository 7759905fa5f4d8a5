"""Queue message bodies: the DurableTask.AzureStorage ``MessageData`` envelope around a ``TaskMessage``.

A body is the Newtonsoft JSON of ``DurableTask.AzureStorage.MessageData`` wrapping a
``DurableTask.Core.TaskMessage`` whose ``Event`` is a history event (encoded by
:mod:`durable_azure.storage.event_json`); ``$type`` comes first in every object except ``Sender``.

**Body encoding**: we *write* raw UTF-8 JSON text (the DT.AS v2 default, readable by DT.AS v2 and
v1 >= 1.17.4). We *read* raw JSON and base64-encoded JSON (what DT.AS v1 wrote): a body that
does not start with ``{`` is base64-decoded first.

A body larger than 45 KiB (UTF-8) is stored gzipped in a blob and the queue carries a wrapper
whose ``CompressedBlobName`` names it; :func:`decode_message` returns that name for a wrapper
(:mod:`durable_azure.storage.queues` downloads the blob and decodes the full envelope in it).
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from ..errors import CorruptMessageError
from ..orchestration.history import HistoryEvent
from .event_json import as_int, as_object, as_str, event_from_json_dict, event_to_json_dict, instance_json
from .values import to_json

__all__ = [
    "TaskMessage",
    "decode_message",
    "encode_message",
    "encode_wrapper",
    "large_message_blob_name",
    "message_to_json_dict",
    "next_sequence_number",
]

MESSAGE_DATA_TYPE = "DurableTask.AzureStorage.MessageData"
TASK_MESSAGE_TYPE = "DurableTask.Core.TaskMessage"
EMPTY_ACTIVITY_ID = "00000000-0000-0000-0000-000000000000"


@dataclass(frozen=True, slots=True)
class TaskMessage:
    """One event addressed to one orchestration instance (DTFx ``TaskMessage`` + ``MessageData``)."""

    event: HistoryEvent
    instance_id: str
    execution_id: str | None  # None = "the current execution" (client-sent events)
    episode: int | None = None
    sender_instance_id: str = ""
    sender_execution_id: str = ""
    activity_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    sequence_number: int = 0  # MessageData.SequenceNumber; 0 = assigned when sent


_sequence = itertools.count(1)


def next_sequence_number() -> int:
    """A per-process increasing number (DTFx's static ``MessageData`` counter)."""
    return next(_sequence)


# ---------------------------------------------------------------------------------- envelope


def message_to_json_dict(msg: TaskMessage, *, compressed_blob_name: str | None = None) -> dict[str, Any]:
    """The ``MessageData`` envelope of a message as a JSON-ready dict."""
    out: dict[str, Any] = {
        "$type": MESSAGE_DATA_TYPE,
        "ActivityId": msg.activity_id,
        "TaskMessage": {
            "$type": TASK_MESSAGE_TYPE,
            "Event": event_to_json_dict(msg.event),
            "SequenceNumber": 0,
            "OrchestrationInstance": instance_json(msg.instance_id, msg.execution_id),
            "OrchestrationExecutionContext": None,
        },
        "CompressedBlobName": compressed_blob_name,
        "SequenceNumber": msg.sequence_number,
    }
    if msg.episode is not None:
        out["Episode"] = msg.episode
    out["Sender"] = {"InstanceId": msg.sender_instance_id, "ExecutionId": msg.sender_execution_id}
    out["SerializableTraceContext"] = None
    return out


def encode_message(msg: TaskMessage, *, compressed_blob_name: str | None = None) -> str:
    """The JSON text of a message (``compressed_blob_name`` is set in the copy stored in a blob)."""
    return to_json(message_to_json_dict(msg, compressed_blob_name=compressed_blob_name))


def encode_wrapper(blob_name: str) -> str:
    """The small queue body that points at a large message stored in ``blob_name``."""
    return to_json(
        {
            "$type": MESSAGE_DATA_TYPE,
            "ActivityId": EMPTY_ACTIVITY_ID,
            "TaskMessage": None,
            "CompressedBlobName": blob_name,
            "SequenceNumber": 0,
            "SerializableTraceContext": None,
        }
    )


def large_message_blob_name(msg: TaskMessage) -> str:
    """DTFx ``GetNewLargeMessageBlobName``: ``{instanceId}/message-{activityId:N}-{EventType}.json.gz``."""
    return f"{msg.instance_id}/message-{msg.activity_id.replace('-', '')}-{msg.event.EVENT_TYPE.name}.json.gz"


def _parse_body(text: str) -> Any:
    body = text.lstrip("\ufeff \t\r\n")
    if body[:1] not in ("{", "[", '"'):  # base64 never starts with these
        try:
            body = base64.b64decode(body, validate=True).decode("utf-8-sig")
        except (binascii.Error, ValueError):
            raise CorruptMessageError("body is neither JSON nor base64-encoded JSON") from None
    try:
        return json.loads(body)
    except ValueError as e:
        raise CorruptMessageError(f"body is not valid JSON: {e}") from None


def decode_message(text: str) -> TaskMessage | str:
    """Parse a queue body (raw or base64 JSON).

    Returns the ``CompressedBlobName`` for a large-message wrapper, else the :class:`TaskMessage`.
    Raises :class:`CorruptMessageError` saying what is wrong.
    """
    data = _parse_body(text)
    if not isinstance(data, dict):
        raise CorruptMessageError(f"body is a JSON {type(data).__name__}, expected an object")
    task = data.get("TaskMessage")
    if task is None:
        blob = data.get("CompressedBlobName")
        if isinstance(blob, str) and blob:
            return blob
        raise CorruptMessageError("body has neither TaskMessage nor CompressedBlobName")
    task = as_object(task, "TaskMessage")
    if task.get("Event") is None:
        raise CorruptMessageError("TaskMessage.Event is missing")
    event = event_from_json_dict(task["Event"])
    inst = as_object(task.get("OrchestrationInstance"), "TaskMessage.OrchestrationInstance")
    instance_id = inst.get("InstanceId")
    if not instance_id:
        raise CorruptMessageError("TaskMessage.OrchestrationInstance.InstanceId is missing")
    execution_id = inst.get("ExecutionId")
    sender = data.get("Sender") or {}
    episode = data.get("Episode")
    return TaskMessage(
        event=event,
        instance_id=as_str(instance_id, "InstanceId"),
        execution_id=as_str(execution_id, "ExecutionId") if execution_id else None,
        episode=as_int(episode, "Episode") if episode is not None else None,
        sender_instance_id=str(as_object(sender, "Sender").get("InstanceId") or ""),
        sender_execution_id=str(sender.get("ExecutionId") or ""),
        activity_id=str(data.get("ActivityId") or EMPTY_ACTIVITY_ID),
        sequence_number=as_int(data.get("SequenceNumber") or 0, "SequenceNumber"),
    )
