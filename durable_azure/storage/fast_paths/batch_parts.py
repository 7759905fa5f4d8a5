"""The operations of a table transaction as ``TableBatchOperations`` writes them, without its request objects.

``TableBatchOperations.add_operation`` builds a full ``azure.core.rest.HttpRequest`` per operation
through the generated request builders and their serializer, only for the transaction envelope to read
back its method, URL, headers and body: about half the client CPU of a history append (issue 14). For
the operations the engine sends (``upsert`` REPLACE or MERGE, ``create``, ``update`` with or without
an ETag, on a non-Cosmos endpoint) this module writes the same four values directly, with the SDK's
own entity serializer (``_add_entity_properties``), key escaping (``_prepare_key``), match-condition
rules and JSON encoder, and the generated builders' header order. Any other operation, keyword or
value makes :func:`build_parts` answer ``None``, and the SDK builds the whole transaction (and raises
its own errors). ``bench/verify_fast_paths.py`` compares the two byte for byte.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from azure.core import MatchConditions
from azure.core.serialization import AzureJSONEncoder
from azure.data.tables import UpdateMode
from azure.data.tables._generated._vendor import quote_etag
from azure.data.tables._serialize import _add_entity_properties, _prepare_key

_Part = tuple[str, str, list[tuple[str, str]], str]  # method, URL, headers, body

#: The table service version the generated request builders stamp on each operation.
_PART_VERSION = "2019-02-02"
_METHOD_BY_MODE = {UpdateMode.REPLACE: "PUT", UpdateMode.MERGE: "PATCH"}


def _keys(entity: Mapping[str, Any], table_url: str) -> str | None:
    pk, rk = entity.get("PartitionKey"), entity.get("RowKey")
    if not isinstance(pk, str) or not isinstance(rk, str):
        return None
    return f"{table_url}(PartitionKey='{quote(_prepare_key(pk), safe='')}',RowKey='{quote(_prepare_key(rk), safe='')}')"


def _body(entity: Mapping[str, Any]) -> str:
    return json.dumps(_add_entity_properties(entity), cls=AzureJSONEncoder)


def _entity_headers(body: str, accept: str, if_match: str | None) -> list[tuple[str, str]]:
    headers = [
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(body))),
        ("x-ms-version", _PART_VERSION),
        ("DataServiceVersion", "3.0"),
        ("Accept", accept),
    ]
    if if_match is not None:
        headers.append(("If-Match", if_match))
    return headers


def _if_match(kwargs: Mapping[str, Any]) -> tuple[bool, str | None]:
    """``(handled here, If-Match)`` of an ``update``, as the SDK derives the header."""
    etag, condition = kwargs.get("etag"), kwargs.get("match_condition")
    if condition is None or condition == MatchConditions.Unconditionally:
        return (not etag), "*"  # the SDK raises for an ETag without a condition
    if condition == MatchConditions.IfNotModified and isinstance(etag, str) and etag:
        return True, quote_etag(etag)
    return False, None


def _part(operation: Any, table_url: str) -> _Part | None:
    if not isinstance(operation, tuple) or len(operation) not in (2, 3):
        return None
    kind, entity = operation[0], operation[1]
    kwargs: Mapping[str, Any] = operation[2] if len(operation) == 3 else {}
    if not isinstance(kind, str) or not isinstance(entity, dict) or not isinstance(kwargs, Mapping):
        return None
    kind = kind.lower()
    url = _keys(entity, table_url)
    if url is None:
        return None
    if kind == "upsert" and set(kwargs) <= {"mode"}:
        method = _METHOD_BY_MODE.get(kwargs.get("mode", UpdateMode.MERGE))
        if method is None:
            return None
        body = _body(entity)
        return method, url, _entity_headers(body, "application/json", None), body
    if kind == "create" and not kwargs:
        body = _body(entity)
        return "POST", table_url, _entity_headers(body, "application/json;odata=minimalmetadata", None), body
    if kind == "update" and set(kwargs) <= {"mode", "etag", "match_condition"}:
        method = _METHOD_BY_MODE.get(kwargs.get("mode", UpdateMode.MERGE))
        handled, if_match = _if_match(kwargs)
        if method is None or not handled:
            return None
        body = _body(entity)
        return method, url, _entity_headers(body, "application/json", if_match), body
    return None


def build_parts(operations: list[Any], endpoint: str, table_name: str) -> list[_Part] | None:
    """Each operation's part as ``TableBatchOperations`` would build it, or ``None`` when one of them
    (or the batch: mixed or missing partition keys) is left to the SDK."""
    table_url = f"{endpoint}/{quote(table_name, safe='')}"
    parts: list[_Part] = []
    partition: str | None = None
    for operation in operations:
        try:
            part = _part(operation, table_url)
        except (TypeError, ValueError):  # a value the SDK refuses: let it raise its own error
            return None
        if part is None:
            return None
        pk = operation[1]["PartitionKey"]
        if partition is None:
            partition = pk
        elif pk != partition:
            return None  # the SDK raises "Partition Keys in the batch must all be the same."
        parts.append(part)
    return parts or None


__all__ = ["build_parts"]
