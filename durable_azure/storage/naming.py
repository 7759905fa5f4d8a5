"""Names and keys of a task hub in the DurableTask.AzureStorage layout.

Everything a user can see in Storage Explorer is named here: tables, queues, containers,
partition routing, table keys, and safe OData literals.
"""

from __future__ import annotations

import re

from ..errors import InvalidHubNameError
from ..orchestration.limits import MAX_INSTANCE_ID as MAX_INSTANCE_ID  # the id limits, re-exported
from ..orchestration.limits import MAX_TABLE_KEY_BYTES as MAX_TABLE_KEY_BYTES
from ..orchestration.limits import check_instance_id

MIN_HUB_NAME = 3
MAX_HUB_NAME = 45
MAX_PARTITIONS = 16

_HUB_RE = re.compile(r"^[A-Za-z][A-Za-z0-9]*$")


def validate_hub_name(name: str) -> str:
    """Return ``name`` if it is a valid task hub name, else raise :class:`InvalidHubNameError`."""
    if (
        not isinstance(name, str)
        or not _HUB_RE.match(name)
        or not (MIN_HUB_NAME <= len(name) <= MAX_HUB_NAME)
    ):
        raise InvalidHubNameError(
            f"Invalid task hub name {name!r}: use {MIN_HUB_NAME}-{MAX_HUB_NAME} ASCII letters and "
            "digits, starting with a letter (it becomes part of table, queue and container names)."
        )
    return name


def validate_instance_id(instance_id: str, *, allow_entity: bool = False) -> str:
    """Return ``instance_id`` if Durable Functions would accept it, else raise
    :class:`InvalidInstanceIdError` (rules and limits: :mod:`durable_azure.orchestration.limits`).

    With ``allow_entity``, ``@name@key`` entity ids are accepted under the entity rules.
    """
    return check_instance_id(instance_id, allow_entity=allow_entity)


def validate_partition_count(count: int) -> int:
    if not isinstance(count, int) or not 1 <= count <= MAX_PARTITIONS:
        raise ValueError(f"partition count must be between 1 and {MAX_PARTITIONS}, got {count!r}")
    return count


def history_table_name(hub: str) -> str:
    return f"{hub}History"


def instances_table_name(hub: str) -> str:
    return f"{hub}Instances"


def control_queue_name(hub: str, index: int) -> str:
    return f"{hub.lower()}-control-{index:02d}"


def workitem_queue_name(hub: str) -> str:
    return f"{hub.lower()}-workitems"


def leases_container_name(hub: str) -> str:
    return f"{hub.lower()}-leases"


def large_messages_container_name(hub: str) -> str:
    return f"{hub.lower()}-largemessages"


def fnv1a_32(data: bytes) -> int:
    """32-bit FNV-1a hash, as DurableTask.AzureStorage's ``Fnv1aHashHelper``."""
    h = 0x811C9DC5
    for b in data:
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return h


def dotnet_utf8(text: str) -> bytes:
    """The bytes .NET's ``Encoding.UTF8.GetBytes`` gives for ``text``.

    .NET strings are UTF-16: a surrogate pair (even one Python holds as two lone surrogates) is one
    character, and every unpaired surrogate becomes U+FFFD (``EF BF BD``), never ``?``.
    """
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        utf16 = text.encode("utf-16-le", "surrogatepass")
        return utf16.decode("utf-16-le", "replace").encode("utf-8")


def partition_index(instance_id: str, partition_count: int) -> int:
    """Control-queue index of an instance: FNV-1a of its UTF-8 id (as .NET encodes it, see
    :func:`dotnet_utf8`) modulo the partition count (DTFx ``Fnv1aHashHelper.ComputeHash``)."""
    return fnv1a_32(dotnet_utf8(instance_id)) % partition_count


def escape_partition_key(instance_id: str) -> str:
    """DTFx ``KeySanitation.EscapePartitionKey``: make any instance id a valid PartitionKey."""
    if not any(c in "^/\\#?" or ord(c) <= 0x1F or 0x7F <= ord(c) <= 0x9F for c in instance_id):
        return instance_id
    out = []
    for c in instance_id:
        if c == "^":
            out.append("^^")
        elif c == "/":
            out.append("^0")
        elif c == "\\":
            out.append("^1")
        elif c == "#":
            out.append("^2")
        elif c == "?":
            out.append("^3")
        elif ord(c) <= 0x1F or 0x7F <= ord(c) <= 0x9F:
            out.append("^" + chr(0xC0 + ord(c)))
        else:
            out.append(c)
    return "".join(out)


def unescape_partition_key(key: str) -> str:
    """Inverse of :func:`escape_partition_key`."""
    if "^" not in key:
        return key
    out = []
    chars = iter(key)
    mapping = {"^": "^", "0": "/", "1": "\\", "2": "#", "3": "?"}
    for c in chars:
        if c != "^":
            out.append(c)
            continue
        nxt = next(chars, "")
        if nxt in mapping:
            out.append(mapping[nxt])
        elif nxt and ord(nxt) >= 0xC0:
            out.append(chr(ord(nxt) - 0xC0))
        else:
            out.append(nxt)
    return "".join(out)


def odata_string(value: str) -> str:
    """An OData string literal: quoted, with embedded single quotes doubled."""
    return "'" + str(value).replace("'", "''") + "'"


def row_key(sequence_number: int) -> str:
    """History RowKey: 16 upper-case hex digits."""
    return f"{sequence_number:016X}"


SENTINEL_ROW_KEY = "sentinel"
