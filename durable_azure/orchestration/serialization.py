"""JSON payloads, with Durable Functions' convention for custom objects.

A class that defines ``to_json(obj)`` and ``from_json(data)`` (class or static methods) travels as
``{"__class__": name, "__module__": module, "__data__": to_json(obj)}``, exactly as in
Durable Functions for Python. Decoding only resolves classes from modules that are already imported,
so a payload can never make the engine import code.

:func:`dumps` refuses what other Durable Functions readers, or the storage encoders, cannot take
(limits in :mod:`.limits`): ``NaN``/``Infinity``, integers outside a .NET ``long``, strings with lone
surrogates (not valid Unicode, so not UTF-8), and nesting deeper than 64 arrays/objects.
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any

from ..errors import SerializationError
from .limits import MAX_JSON_DEPTH, MAX_JSON_INT, MIN_JSON_INT

_CLASS, _MODULE, _DATA = "__class__", "__module__", "__data__"


def _encode_custom(value: Any) -> Any:
    to_json = getattr(type(value), "to_json", None)
    if callable(to_json):
        cls = type(value)
        return {_CLASS: cls.__name__, _MODULE: cls.__module__, _DATA: to_json(value)}
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def json_default(value: Any) -> Any:
    """``default=`` hook for ``json.dumps`` where decoded values are shown again (status answers,
    the CLI): a custom object becomes the same ``{"__class__", "__module__", "__data__"}`` envelope
    it was stored as; anything else raises ``TypeError`` as ``json.dumps`` would."""
    return _encode_custom(value)


def display_default(value: Any) -> Any:
    """``default=`` hook for text meant for people (CLI, timeline): the envelope for custom objects,
    ``str(value)`` for anything else, so showing a value never fails."""
    try:
        return _encode_custom(value)
    except Exception:
        return str(value)


class _FromJsonFailed(Exception):
    """A class's ``from_json`` raised ``error`` (told apart from JSON the decoder cannot read)."""

    def __init__(self, error: Exception) -> None:
        super().__init__(error)
        self.error = error


def _decode_custom(obj: dict[str, Any]) -> Any:
    if _CLASS in obj and _MODULE in obj and _DATA in obj and len(obj) == 3:
        module = sys.modules.get(obj[_MODULE])
        cls = getattr(module, obj[_CLASS], None) if module else None
        from_json = getattr(cls, "from_json", None)
        if callable(from_json):
            try:
                return from_json(obj[_DATA])
            except Exception as error:
                raise _FromJsonFailed(error) from None
    return obj


_ENCODER = json.JSONEncoder(
    default=_encode_custom, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)
_DECODER = json.JSONDecoder(object_hook=_decode_custom)
_PLAIN_DECODER = json.JSONDecoder()
_encode = _ENCODER.encode

# Checks on the encoded text, on its UTF-8 bytes (which also proves it encodes): C-speed scans
# first; the slower structure walk only runs for texts they flag.
_DIGITS_AS_ZERO = bytes.maketrans(b"0123456789", b"0" * 10)
_INT_DIGITS = len(str(MAX_JSON_INT))  # 19: the shortest digit run that can be out of range
_DIGIT_RUN = b"0" * _INT_DIGITS
_MAX_POSITIVE = str(MAX_JSON_INT).encode()
_MAX_NEGATIVE = str(-MIN_JSON_INT).encode()
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'"[]{}')
_AS_PARENS = bytes.maketrans(b"[{]}", b"(())")
_QUOTED = re.compile(rb'"[^"]*"')


def _problem(what: str, detail: str) -> SerializationError:
    return SerializationError(f"The {what} {detail}")


def _int_error(value: int, what: str) -> SerializationError:
    shown = str(value) if value.bit_length() <= 256 else f"of {value.bit_length():,} bits"
    return _problem(
        what,
        f"holds the integer {shown}, outside the 64-bit range -2**63 .. 2**63-1 that .NET readers "
        "accept; send larger numbers as strings.",
    )


def _int_text(value: int, what: str) -> str:
    if not MIN_JSON_INT <= value <= MAX_JSON_INT:
        raise _int_error(value, what)
    return str(value)


def _unescaped(data: bytes) -> bytes:
    """``data`` without escaped backslashes and quotes: every ``"`` left delimits a string."""
    return data.replace(b"\\\\", b"").replace(b'\\"', b"")


def _in_string(data: bytes, position: int) -> bool:
    return _unescaped(data[:position]).count(b'"') % 2 == 1


def _check_ints(data: bytes, digits: bytes, what: str) -> None:
    """Refuse integer literals outside the 64-bit range (digit runs inside strings are text)."""
    size = len(digits)
    start = digits.find(_DIGIT_RUN)
    while start != -1:
        end = start + _INT_DIGITS
        while end < size and digits[end] == 0x30:
            end += 1
        negative = start > 0 and data[start - 1] == 0x2D
        run = data[start:end]
        if (
            len(run) > _INT_DIGITS or run > (_MAX_NEGATIVE if negative else _MAX_POSITIVE)
        ) and not _in_string(data, start):
            raise _int_error(-int(run) if negative else int(run), what)
        start = digits.find(_DIGIT_RUN, end)


def _check_depth(data: bytes, what: str) -> None:
    """Refuse nesting deeper than MAX_JSON_DEPTH (brackets inside strings are text)."""
    compact = _unescaped(data).translate(None, _NOT_STRUCTURE).replace(b'""', b"")
    if b'"' in compact:
        compact = _QUOTED.sub(b"", compact)
    compact = compact.translate(_AS_PARENS)
    for _ in range(MAX_JSON_DEPTH):  # each pass removes the innermost level
        compact = compact.replace(b"()", b"")
        if not compact:
            return
    depth = deepest = MAX_JSON_DEPTH
    for byte in compact:
        depth += 1 if byte == 0x28 else -1
        deepest = max(deepest, depth)
    raise _depth_error(what, deepest)


def _check_text(text: str, what: str) -> None:
    """Refuse JSON text other readers (or the UTF-8 storage encoders) cannot take."""
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError as e:
        near = text[max(0, e.start - 20) : e.start]
        raise _problem(
            what,
            f"contains a lone surrogate U+{ord(text[e.start]):04X} (after {near!r}), which is not valid "
            "Unicode and cannot be stored as UTF-8. Decode bytes with errors='replace', or send them "
            "base64-encoded.",
        ) from None
    digits = data.translate(_DIGITS_AS_ZERO)
    if _DIGIT_RUN in digits:
        _check_ints(data, digits, what)
    if data.count(b"[") + data.count(b"{") > MAX_JSON_DEPTH:
        _check_depth(data, what)


def _depth_error(what: str, depth: int | None) -> SerializationError:
    nests = f"nests {depth} levels of arrays/objects" if depth else "nests too deeply"
    return _problem(
        what,
        f"{nests}; the limit is {MAX_JSON_DEPTH} (the default maximum depth of .NET JSON readers, "
        "so Durable Functions in any language can read it).",
    )


def dumps(value: Any, *, what: str = "value") -> str | None:
    """Encode ``value`` as JSON text (``None`` stays ``None``); raise :class:`SerializationError`
    for values that are not JSON, or that break the limits in :mod:`.limits`."""
    if value is None:
        return None
    kind = type(value)
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return _int_text(value, what)
    try:
        text = _encode(value)
    except RecursionError:
        raise _depth_error(what, None) from None
    except (TypeError, ValueError) as exc:
        if "Out of range float" in str(exc):
            raise _problem(
                what,
                "contains NaN or Infinity, which JSON cannot carry. Use None, a string, or a finite number.",
            ) from None
        raise SerializationError(
            f"The {what} is not JSON-serializable ({exc}). Pass dicts, lists, strings, numbers, "
            "booleans or None, or give the class to_json(obj) and from_json(data) methods."
        ) from None
    _check_text(text, what)
    return text


def loads(text: str | None) -> Any:
    """Decode JSON text produced by :func:`dumps` (or any JSON); ``None``/empty gives ``None``."""
    if text is None or text == "":
        return None
    try:
        # Custom objects are rare: decode with the fast C path unless the text may hold one.
        decoder = _DECODER if _CLASS in text else _PLAIN_DECODER
        return decoder.decode(text)
    except _FromJsonFailed as failed:  # the class's own error, for the code that asked for the value
        raise failed.error from None
    except ValueError:
        # DTFx stores some values (reasons, plain strings from other SDKs) as bare text.
        return text


def loads_stored(text: str | None) -> Any:
    """:func:`loads` for reading values back (status, history, listings, entity reads, the CLI and
    dashboard): an envelope whose class cannot read it (its ``from_json`` raises) stays the stored
    ``{"__class__", "__module__", "__data__"}`` dict, so showing a value never fails. Code that runs
    on the value (orchestrators, activities, entities) uses :func:`loads` and sees the error."""
    try:
        return loads(text)
    except Exception:  # from_json raised: loads returns bare text for anything it cannot decode
        return _PLAIN_DECODER.decode(text) if text else None
