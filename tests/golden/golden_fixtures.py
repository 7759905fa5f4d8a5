"""Loading the golden fixtures (``tests/golden/*.json``) into a task hub on Azurite with the plain Azure SDKs.

A fixture holds rows in OData JSON (``Col@odata.type`` annotations, as the Table service carries them),
queue message bodies (raw text, or ``body_json`` serialized compactly in key order), and blobs (text,
gzipped on upload, as DTFx's ``MessageManager.CompressAndUploadAsBytesAsync`` does). Placeholders:
``$HUB``/``$HUBLOWER`` (task hub name), ``$BLOBS`` (blob endpoint), ``$BIG_INPUT_JSON``, ``$BIG_RESULT_JSON``,
``$BIG_REVERSED`` and ``$MID_INPUT_JSON`` (large values, generated so the files stay readable).
"""

from __future__ import annotations

import base64
import gzip
import json
from pathlib import Path
from typing import Any

import dtfx_rules as rules
from azure.core.exceptions import ResourceExistsError

HERE = Path(__file__).resolve().parent

BIG = "".join(chr(ord("a") + i % 26) for i in range(50_000))  # > 60 KiB UTF-16, > 45 KiB UTF-8
MID = "".join(chr(ord("A") + i % 26) for i in range(35_000))  # > 60 KiB UTF-16, < 45 KiB UTF-8


def _values(hub: str, blob_endpoint: str) -> dict[str, Any]:
    return {
        "$BIG_INPUT_JSON": json.dumps(BIG),
        "$BIG_RESULT_JSON": json.dumps(BIG[::-1]),
        "$BIG_REVERSED": BIG[::-1],
        "$MID_INPUT_JSON": json.dumps(MID),
        "$BLOBS": blob_endpoint.rstrip("/"),
        "$HUBLOWER": hub.lower(),
        "$HUB": hub,
    }


def _substitute(value: Any, values: dict[str, Any]) -> Any:
    if isinstance(value, str):
        if value in values:
            return values[value]
        for key, text in values.items():
            if isinstance(text, str) and key in value:
                value = value.replace(key, text)
        return value
    if isinstance(value, list):
        return [_substitute(v, values) for v in value]
    if isinstance(value, dict):
        return {k: _substitute(v, values) for k, v in value.items()}
    return value


def load(name: str, hub: str, blob_endpoint: str) -> dict[str, Any]:
    """The fixture ``name`` with its placeholders filled in for ``hub``."""
    data = json.loads((HERE / name).read_text(encoding="utf-8"))
    return _substitute(data, _values(hub, blob_endpoint))


def body_of(message: dict[str, Any]) -> str:
    """The queue body: raw JSON text (DT.AS 2.x), or base64 of it with ``body_base64`` (DT.AS 1.x)."""
    text = (
        message["body"]
        if "body" in message
        else json.dumps(message["body_json"], separators=(",", ":"), ensure_ascii=False)
    )
    if message.get("body_base64"):
        return base64.b64encode(str(text).encode("utf-8")).decode("ascii")
    return str(text)


def queue_of(message: dict[str, Any], hub: str, instance_id: str) -> str:
    if message["queue"] == "workitems":
        return f"{hub.lower()}-workitems"
    return rules.control_queue(hub, instance_id)


async def store(raw: Any, hub: str, fixture: dict[str, Any]) -> None:
    """Write the fixture's blobs, History rows, Instances row(s) and messages, in DTFx's order
    (blobs, then rows, then messages; the hub's tables and queues exist)."""
    if fixture.get("blobs"):
        container = raw.blobs.get_container_client(f"{hub.lower()}-largemessages")
        try:
            await container.create_container()
        except ResourceExistsError:
            pass
        for blob, content in fixture["blobs"].items():
            text = content if isinstance(content, str) else json.dumps(content, separators=(",", ":"))
            await container.upload_blob(blob, gzip.compress(text.encode("utf-8")), overwrite=True)
    history = raw.tables.get_table_client(f"{hub}History")
    for row in fixture.get("history", []):
        await history.create_entity(rules.sdk_entity(row))
    instances = raw.tables.get_table_client(f"{hub}Instances")
    for row in [fixture["instance"]] if "instance" in fixture else fixture.get("rows", []):
        await instances.create_entity(rules.sdk_entity(row))
    for message in fixture.get("messages", []):
        queue = raw.queues.get_queue_client(queue_of(message, hub, fixture["instance_id"]))
        await queue.send_message(
            body_of(message), visibility_timeout=message.get("visibility_delay") or None, time_to_live=-1
        )
