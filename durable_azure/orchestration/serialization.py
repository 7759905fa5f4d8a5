"""JSON payloads, with Durable Functions' convention for custom objects.

A class that defines ``to_json(obj)`` and ``from_json(data)`` (class or static methods) travels as
``{"__class__": name, "__module__": module, "__data__": to_json(obj)}``, exactly as in
azure-functions-durable. Decoding only resolves classes from modules that are already imported,
so a payload can never make the engine import code.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from ..errors import SerializationError

_CLASS, _MODULE, _DATA = "__class__", "__module__", "__data__"


def _encode_custom(value: Any) -> Any:
    to_json = getattr(type(value), "to_json", None)
    if callable(to_json):
        cls = type(value)
        return {_CLASS: cls.__name__, _MODULE: cls.__module__, _DATA: to_json(value)}
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _decode_custom(obj: dict[str, Any]) -> Any:
    if _CLASS in obj and _MODULE in obj and _DATA in obj and len(obj) == 3:
        module = sys.modules.get(obj[_MODULE])
        cls = getattr(module, obj[_CLASS], None) if module else None
        from_json = getattr(cls, "from_json", None)
        if callable(from_json):
            return from_json(obj[_DATA])
    return obj


_ENCODER = json.JSONEncoder(default=_encode_custom, separators=(",", ":"), ensure_ascii=False)
_DECODER = json.JSONDecoder(object_hook=_decode_custom)
_PLAIN_DECODER = json.JSONDecoder()
_encode = _ENCODER.encode


def dumps(value: Any, *, what: str = "value") -> str | None:
    """Encode ``value`` as JSON text (``None`` stays ``None``); raise :class:`SerializationError`."""
    if value is None:
        return None
    kind = type(value)
    if kind is int or kind is bool:
        return "true" if value is True else "false" if value is False else str(value)
    try:
        return _encode(value)
    except (TypeError, ValueError) as exc:
        raise SerializationError(
            f"The {what} is not JSON-serializable ({exc}). Pass dicts, lists, strings, numbers, "
            "booleans or None, or give the class to_json(obj) and from_json(data) methods."
        ) from None


def loads(text: str | None) -> Any:
    """Decode JSON text produced by :func:`dumps` (or any JSON); ``None``/empty gives ``None``."""
    if text is None or text == "":
        return None
    try:
        # Custom objects are rare: decode with the fast C path unless the text may hold one.
        decoder = _DECODER if _CLASS in text else _PLAIN_DECODER
        return decoder.decode(text)
    except ValueError:
        # DTFx stores some values (reasons, plain strings from other SDKs) as bare text.
        return text
