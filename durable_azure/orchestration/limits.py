"""Input limits: what an instance id, entity id, name, reason or wait time may be.

Every value a worker will later write to storage is checked where a caller supplies it (client
API, orchestrator or entity code), so bad input fails at once with a clear error and nothing is
written; it can never be accepted and then fail forever in the worker. JSON payload limits
(depth, numbers, strings) are enforced by :func:`serialization.dumps`; their values live here too.

The rules come from the DurableTask.AzureStorage layout:

* An instance id is the PartitionKey of its Instances and History rows. Azure Tables refuse
  ``/ \\ # ?`` and control characters in keys and keys over 1 KiB of UTF-16 (Azurite checks the
  same). DTFx escapes ``^ / \\ # ?`` and control characters (``^`` becomes ``^^``); since the other
  four and control characters are refused here, only ``^`` grows, and the key size is
  ``2 * (UTF-16 code units + number of '^')`` bytes.
* Orchestration instance ids follow Durable Functions: 1-256 characters, none of the above, not
  starting with ``@``. 256 characters always fit the key limit.
* Entity instance ids are ``@name@key`` (name lower-cased). Durable Functions refuses the same
  characters in entity names and keys; the length limit is the escaped table key's.
* Blob names built from an id (``{id}/message-…``, ``{key}/history-…``) add under 100 characters to
  at most 512, well inside the blob limit of 1,024.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from ..errors import InvalidInputError, InvalidInstanceIdError, PayloadTooLargeError

if TYPE_CHECKING:
    from .entity_id import EntityId

#: Durable Functions' limit for orchestration instance ids (characters).
MAX_INSTANCE_ID = 256
#: Azure Table PartitionKey/RowKey limit: 1 KiB, counted in UTF-16 (512 code units).
MAX_TABLE_KEY_BYTES = 1024
#: Event, entity operation, function and version names (characters).
MAX_NAME_LENGTH = 1024
#: Terminate/suspend/resume/rewind reasons (characters). A rewind reason is stored in a History
#: column that is never moved to a blob, and 8,192 characters fit its 64 KiB in any script.
MAX_REASON_LENGTH = 8192
#: Custom status: 16 KiB of UTF-8 JSON, as in Durable Functions (the Instances ``CustomStatus``
#: column is never moved to a blob).
MAX_CUSTOM_STATUS_BYTES = 16 * 1024
#: JSON nesting (arrays and objects): the default ``MaxDepth`` of System.Text.Json and of
#: Newtonsoft.Json 13, so .NET Durable Functions code can read every payload we write.
MAX_JSON_DEPTH = 64
#: JSON integers: a .NET ``long``. (JavaScript readers lose precision beyond 2**53.)
MIN_JSON_INT = -(2**63)
MAX_JSON_INT = 2**63 - 1
#: Client waits (``wait_for_completion``, the HTTP wait helper, ``purge --force``), seconds.
MAX_WAIT_SECONDS = 7 * 24 * 3600
MIN_POLL_SECONDS = 0.01
MAX_POLL_SECONDS = 3600.0

_KEY_FORBIDDEN = frozenset("/\\#?")


def _is_control(c: str) -> bool:
    code = ord(c)
    return code <= 0x1F or 0x7F <= code <= 0x9F


def _is_surrogate(c: str) -> bool:
    return 0xD800 <= ord(c) <= 0xDFFF


def _key_character_problem(text: str) -> str | None:
    """Why ``text`` cannot be part of a table key / instance id, or ``None``."""
    for index, c in enumerate(text):
        if c in _KEY_FORBIDDEN:
            return f"it contains {c!r} (at position {index}); '/', '\\', '#' and '?' are not allowed"
        if _is_control(c):
            return f"it contains the control character U+{ord(c):04X} (at position {index})"
        if _is_surrogate(c):
            return f"it contains a lone surrogate U+{ord(c):04X} (at position {index}), which is not valid Unicode"
    return None


def table_key_bytes(instance_id: str) -> int:
    """Size of the id's escaped PartitionKey in bytes of UTF-16, for an id without ``/ \\ # ?``,
    control characters or lone surrogates (the only character DTFx escapes then is ``^``)."""
    units = len(instance_id) + sum(1 for c in instance_id if ord(c) > 0xFFFF)
    return 2 * (units + instance_id.count("^"))


def _key_size_problem(instance_id: str) -> str | None:
    size = table_key_bytes(instance_id)
    if size > MAX_TABLE_KEY_BYTES:
        return (
            f"as an Azure Table key it takes {size:,} bytes (UTF-16, '^' written as '^^'); "
            f"the limit is {MAX_TABLE_KEY_BYTES} bytes"
        )
    return None


def _shown(value: str) -> str:
    return repr(value if len(value) <= 80 else value[:60] + "…" + value[-10:])


def check_instance_id(instance_id: object, *, allow_entity: bool = False) -> str:
    """Return ``instance_id`` if it is a valid orchestration instance id, else raise
    :class:`InvalidInstanceIdError`. With ``allow_entity``, ``@name@key`` entity ids pass under
    the entity rules."""
    if not isinstance(instance_id, str):
        raise InvalidInstanceIdError(
            f"Invalid instance id {instance_id!r}: it must be a string, not {type(instance_id).__name__}."
        )
    problem = None
    if not instance_id:
        problem = "it is empty"
    elif instance_id.startswith("@"):
        if not allow_entity:
            problem = "ids starting with '@' are reserved for entities"
        else:
            problem = _entity_instance_id_problem(instance_id)
    elif len(instance_id) > MAX_INSTANCE_ID:
        problem = f"it is longer than {MAX_INSTANCE_ID} characters ({len(instance_id):,})"
    else:
        problem = _key_character_problem(instance_id)
    if problem:
        raise InvalidInstanceIdError(f"Invalid instance id {_shown(instance_id)}: {problem}.")
    return instance_id


def check_generated_instance_id(instance_id: str) -> str:
    """Return a derived id (a sub-orchestration's ``{parent}:{n}``) if storage can hold it."""
    problem = _key_character_problem(instance_id) or _key_size_problem(instance_id)
    if problem:
        raise InvalidInstanceIdError(f"Invalid instance id {_shown(instance_id)}: {problem}.")
    return instance_id


def check_storable_id(instance_id: object) -> str:
    """Return ``instance_id`` if some stored instance could have it (used before reads and control
    operations on existing instances, which may have been created by other tools); else raise."""
    if not isinstance(instance_id, str) or not instance_id:
        raise InvalidInstanceIdError(f"Invalid instance id {instance_id!r}: it must be a non-empty string.")
    problem = None
    surrogate = next((c for c in instance_id if _is_surrogate(c)), None)
    if surrogate is not None:
        problem = f"it contains a lone surrogate U+{ord(surrogate):04X}, which is not valid Unicode"
    else:
        # Other tools may store ids with characters DTFx escapes: measure the escaped key.
        escaped_extra = sum(1 for c in instance_id if c in _KEY_FORBIDDEN or _is_control(c))
        size = table_key_bytes(instance_id) + 2 * escaped_extra
        if size > MAX_TABLE_KEY_BYTES:
            problem = (
                f"as an Azure Table key it takes {size:,} bytes (UTF-16, escaped); the limit is "
                f"{MAX_TABLE_KEY_BYTES} bytes, so no instance can have this id"
            )
    if problem:
        raise InvalidInstanceIdError(f"Invalid instance id {_shown(instance_id)}: {problem}.")
    return instance_id


def _entity_instance_id_problem(instance_id: str) -> str | None:
    name, sep, key = instance_id[1:].partition("@")
    if not sep or not name:
        return "an entity instance id has the form '@name@key'"
    return _entity_problem(name, key, instance_id)


def _entity_problem(name: str, key: str, instance_id: str) -> str | None:
    if not name:
        return "the entity name is empty"
    problem = _key_character_problem(name)
    if problem:
        return f"the entity name is invalid: {problem}"
    problem = _key_character_problem(key)
    if problem:
        return f"the entity key is invalid: {problem}"
    problem = _key_size_problem(instance_id)
    if problem:
        room = MAX_TABLE_KEY_BYTES // 2 - (len(instance_id) - len(key))
        return f"{problem} (at most {room} ASCII characters of key for entity '{name.lower()}')"
    return None


def check_entity_id(entity_id: EntityId) -> str:
    """Return the entity's instance id (``@name@key``) if storage can hold it, else raise
    :class:`InvalidInstanceIdError`."""
    from .entity_id import EntityId

    if not isinstance(entity_id, EntityId):
        raise TypeError(f"Expected an EntityId, got {type(entity_id).__name__}.")
    instance_id = entity_id.instance_id
    problem = _entity_problem(entity_id.name, entity_id.key, instance_id)
    if problem:
        raise InvalidInstanceIdError(f"Invalid entity id {_shown(instance_id)}: {problem}.")
    return instance_id


def check_name(name: object, what: str, *, allow_empty: bool = False) -> str:
    """Return ``name`` (an event, operation, function or version name) if it is a non-empty string
    of at most :data:`MAX_NAME_LENGTH` characters without control characters, else raise
    :class:`InvalidInputError`."""
    if not isinstance(name, str):
        raise InvalidInputError(f"The {what} must be a string, not {type(name).__name__}.")
    problem = None
    if not name and not allow_empty:
        problem = "it is empty"
    elif len(name) > MAX_NAME_LENGTH:
        problem = f"it is longer than {MAX_NAME_LENGTH} characters ({len(name):,})"
    else:
        for index, c in enumerate(name):
            if _is_control(c):
                problem = f"it contains the control character U+{ord(c):04X} (at position {index})"
                break
            if _is_surrogate(c):
                problem = f"it contains a lone surrogate U+{ord(c):04X} (at position {index})"
                break
    if problem:
        raise InvalidInputError(f"Invalid {what} {_shown(name)}: {problem}.")
    return name


def check_reason(reason: object, what: str = "reason") -> str | None:
    """Return ``reason`` (``None`` or text) if it is at most :data:`MAX_REASON_LENGTH` characters of
    valid Unicode; raise :class:`InvalidInputError` or :class:`PayloadTooLargeError` otherwise."""
    if reason is None:
        return None
    if not isinstance(reason, str):
        raise InvalidInputError(f"The {what} must be a string or None, not {type(reason).__name__}.")
    if len(reason) > MAX_REASON_LENGTH:
        raise PayloadTooLargeError(
            f"The {what} is {len(reason):,} characters; the limit is {MAX_REASON_LENGTH:,}."
        )
    surrogate = next((c for c in reason if _is_surrogate(c)), None) if not reason.isascii() else None
    if surrogate is not None:
        raise InvalidInputError(
            f"The {what} contains a lone surrogate U+{ord(surrogate):04X}, which is not valid Unicode."
        )
    return reason


def _seconds(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidInputError(f"The {what} must be a number of seconds, not {type(value).__name__}.")
    seconds = float(value)
    if not math.isfinite(seconds):
        raise InvalidInputError(f"The {what} must be a finite number of seconds, got {value!r}.")
    return seconds


def check_wait(timeout: object, poll_interval: object) -> tuple[float, float]:
    """Return ``(timeout, poll_interval)`` in seconds if the timeout is finite, greater than 0 and
    at most :data:`MAX_WAIT_SECONDS`, and the interval is between :data:`MIN_POLL_SECONDS` and
    :data:`MAX_POLL_SECONDS`; else raise :class:`InvalidInputError`."""
    seconds = _seconds(timeout, "timeout")
    if seconds <= 0:
        raise InvalidInputError(f"The timeout must be greater than 0 seconds, got {timeout!r}.")
    if seconds > MAX_WAIT_SECONDS:
        raise InvalidInputError(
            f"The timeout must be at most {MAX_WAIT_SECONDS:,} seconds (7 days), got {timeout!r}."
        )
    interval = _seconds(poll_interval, "polling interval")
    if not MIN_POLL_SECONDS <= interval <= MAX_POLL_SECONDS:
        raise InvalidInputError(
            f"The polling interval must be at least {MIN_POLL_SECONDS} and at most "
            f"{MAX_POLL_SECONDS:,.0f} seconds, got {poll_interval!r}."
        )
    return seconds, interval
