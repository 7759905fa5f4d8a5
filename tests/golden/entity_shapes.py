"""The rules DTFx's and the DF extension's entity JSON follows, for checking what we write.

Derived from the sources noted in ``entities_dtfx.json``: member names, their order (Newtonsoft writes
members in declaration order), which are left out at their default, and .NET's DateTime text.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

# Newtonsoft's DateTime: ISO 8601, up to 7 fractional digits with trailing zeros dropped, Z for UTC;
# DateTime.MinValue (Kind Unspecified) without Z.
NET_DATETIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{0,6}[1-9])?Z?$")
ROUND_TRIP_O = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z$")
MIN = "0001-01-01T00:00:00"

REQUEST_ORDER = [
    "op",
    "signal",
    "input",
    "id",
    "parent",
    "parentExecution",
    "due",
    "Timestamp",
    "Predecessor",
    "lockset",
    "pos",
]
SCHEDULER_ORDER = ["exists", "state", "queue", "lockedBy", "suspended", "sorter"]
# durable-azure's own members, after DTFx's (DTFx ignores members it does not know)
SCHEDULER_EXTRAS = ["unconfirmed", "fromInstances"]
SORTER_ORDER = ["LastSentToInstance", "ReceivedFromInstance", "ReceiveHorizon", "SendHorizon"]


def _in_order(keys: list[str], order: list[str], what: str) -> None:
    unknown = [k for k in keys if k not in order]
    assert not unknown, f"{what}: members DTFx does not write: {unknown}"
    positions = [order.index(k) for k in keys]
    assert positions == sorted(positions), f"{what}: members out of DTFx's order: {keys}"


def check_time(text: Any, what: str) -> None:
    assert isinstance(text, str) and NET_DATETIME.match(text), f"{what}: not a .NET DateTime text: {text!r}"


def check_request(data: dict[str, Any], *, client: bool) -> None:
    """A ``RequestMessage`` (DF extension RequestMessage.cs)."""
    _in_order(list(data), REQUEST_ORDER, "RequestMessage")
    assert "op" in data and "id" in data and "Timestamp" in data and "Predecessor" in data
    uuid.UUID(data["id"])
    if "signal" in data:
        assert data["signal"] is True, "signal is written only when true"
    if "input" in data:
        assert isinstance(data["input"], str), "input is a JSON string, left out when null"
    if "pos" in data:
        assert isinstance(data["pos"], int) and data["pos"] != 0, "pos is left out when 0"
    if "lockset" in data:
        assert data["op"] is None and all(set(e) == {"name", "key"} for e in data["lockset"])
    else:
        assert isinstance(data["op"], str)
    check_time(data["Timestamp"], "Timestamp")
    check_time(data["Predecessor"], "Predecessor")
    if "due" in data:
        check_time(data["due"], "due")
    if client:
        assert "parent" not in data and data["Timestamp"] == data["Predecessor"] == MIN, (
            "clients do not stamp"
        )
    else:
        assert data.get("parent") and data["Timestamp"] != MIN, "orchestrations and entities stamp"


def check_response(data: dict[str, Any]) -> None:
    """A ``ResponseMessage``: ``result`` (always), ``exceptionType``/``failureDetails`` only on failure."""
    keys = list(data)
    assert keys[0] == "result" and set(keys) <= {"result", "exceptionType", "failureDetails"}, keys


def check_sorter(data: dict[str, Any]) -> None:
    _in_order(list(data), SORTER_ORDER, "sorter")
    for destination, when in (data.get("LastSentToInstance") or {}).items():
        check_time(when, f"LastSentToInstance[{destination}]")
    for source, buffer in (data.get("ReceivedFromInstance") or {}).items():
        _in_order(list(buffer), ["Last", "ExecutionId", "Buffered"], f"ReceivedFromInstance[{source}]")
        check_time(buffer["Last"], "Last")
        for stamp, request in (buffer.get("Buffered") or {}).items():
            check_time(stamp, "Buffered key")
            check_request(request, client=False)
    for name in ("ReceiveHorizon", "SendHorizon"):
        if name in data:
            check_time(data[name], name)
            assert data[name] != MIN, f"{name} is left out at its default"


def check_scheduler_state(data: dict[str, Any]) -> None:
    """The DF extension's ``SchedulerState`` (DTFx Core's is the same without ``exists``)."""
    keys = list(data)
    dtfx = [k for k in keys if k not in SCHEDULER_EXTRAS]
    assert keys[: len(dtfx)] == dtfx, f"durable-azure's members come after DTFx's: {keys}"
    _in_order(dtfx, SCHEDULER_ORDER, "SchedulerState")
    assert "sorter" in data, "the DF extension always writes sorter"
    if "exists" in data:
        assert data["exists"] is True, "exists is written only when true"
    else:
        assert "state" not in data
    if "state" in data:
        assert isinstance(data["state"], str)
    if "queue" in data:
        assert data["queue"], "an empty queue is left out"
        for request in data["queue"]:
            check_request(request, client="parent" not in request)
    check_sorter(data["sorter"])


def check_entity_status(data: dict[str, Any]) -> None:
    """``EntityStatus``: each member left out at its default (DTFx tests the substring ``entityExists``)."""
    _in_order(list(data), ["entityExists", "queueSize", "lockedBy"], "EntityStatus")
    if "entityExists" in data:
        assert data["entityExists"] is True
    if "queueSize" in data:
        assert isinstance(data["queueSize"], int) and data["queueSize"] > 0
    if "lockedBy" in data:
        assert isinstance(data["lockedBy"], str) and data["lockedBy"]
