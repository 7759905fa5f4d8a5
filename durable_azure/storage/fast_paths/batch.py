"""Table transactions (``submit_transaction``): the operations as the SDK builds them, one multipart
request, the answer split per operation."""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from wsgiref.handlers import format_date_time

from azure.core.exceptions import HttpResponseError
from azure.core.pipeline.transport import HttpRequest as LegacyHttpRequest

from durable_azure.storage.fast_paths.batch_parts import build_parts
from durable_azure.storage.fast_paths.pipeline import FastPipeline
from durable_azure.storage.fast_paths.sdk import sdk_internals

if TYPE_CHECKING:
    from azure.data.tables.aio import TableClient

_CRLF = "\r\n"

_Part = tuple[str, str, list[tuple[str, str]], str]  # method, URL, headers, body


def _serialize_part(part: _Part, date: str) -> str:
    """One batch operation as azure-core serializes it (``METHOD url HTTP/1.1``, the request's headers,
    the date headers of the SDK's batch ``StorageHeadersPolicy``, a blank line, the JSON body)."""
    method, url, headers, body = part
    lines = [f"{method} {url} HTTP/1.1"]
    lines.extend(f"{k}: {v}" for k, v in headers)
    lines.append(f"x-ms-date: {date}")
    lines.append(f"Date: {date}")
    return _CRLF.join(lines) + _CRLF + _CRLF + body


def _sdk_part(request: Any) -> _Part:
    """A part built by the SDK's ``TableBatchOperations`` (an ``azure.core.rest.HttpRequest``)."""
    headers = [(k, v) for k, v in request.headers.items() if k not in ("Host", "Accept-Encoding")]
    body = request.content
    if isinstance(body, bytes):
        body = body.decode("latin-1")
    return request.method, request.url, headers, body or ""


def _split_multipart(body: bytes, content_type: str) -> list[bytes] | None:
    """The parts of a ``multipart/mixed`` body; ``None`` when it is not one."""
    marker = "boundary="
    if not content_type.startswith("multipart/mixed") or marker not in content_type:
        return None
    boundary = content_type.split(marker, 1)[1].split(";", 1)[0].strip().strip('"').encode()
    delimiter = b"--" + boundary
    pieces = body.split(delimiter)
    if len(pieces) < 3:
        return None
    parts = []
    for piece in pieces[1:]:
        if piece.startswith(b"--"):
            break
        parts.append(piece.strip(b"\r\n"))
    return parts


def _part_headers_and_payload(part: bytes) -> tuple[dict[str, str], bytes]:
    head, _, payload = part.partition(b"\r\n\r\n")
    headers = {}
    for line in head.decode("latin-1").split("\r\n"):
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return headers, payload


def _parse_batch_response(body: bytes, content_type: str) -> list[tuple[int, bytes, str | None]] | None:
    """``(status, raw HTTP response, ETag)`` per operation of a transaction answer; ``None`` if the
    answer is not the expected ``batch > changeset > application/http`` nesting."""
    outer = _split_multipart(body, content_type)
    if not outer:
        return None
    answers: list[tuple[int, bytes, str | None]] = []
    for part in outer:
        headers, payload = _part_headers_and_payload(part)
        inner_type = headers.get("content-type", "")
        if inner_type.startswith("multipart/mixed"):
            inner = _split_multipart(payload, inner_type)
            if inner is None:
                return None
            for http_part in inner:
                part_headers, http = _part_headers_and_payload(http_part)
                if not part_headers.get("content-type", "").startswith("application/http"):
                    return None
                answers.append(_http_answer(http))
        elif inner_type.startswith("application/http"):
            answers.append(_http_answer(payload))
        else:
            return None
    return answers


def _http_answer(http: bytes) -> tuple[int, bytes, str | None]:
    """Status and ETag of one ``HTTP/1.1 <status> ...`` response inside a transaction answer."""
    head = http.partition(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")
    status_line = head[0].split(" ")
    status = int(status_line[1]) if len(status_line) > 1 and status_line[1].isdigit() else 0
    etag = None
    for line in head[1:]:
        name, sep, value = line.partition(":")
        if sep and name.strip().lower() == "etag":
            etag = value.strip()
            break
    return status, http, etag


def _sdk_parts(sdk: Any, client: TableClient, endpoint: str, operations: Any) -> list[_Part]:
    batch = sdk.TableBatchOperations(
        config=client._client._config,
        endpoint=endpoint,
        table_name=client.table_name,
        is_cosmos_endpoint=client._cosmos_endpoint,
    )
    try:
        for operation in operations:
            batch.add_operation(operation)
    except TypeError as exc:
        raise TypeError(
            "The value of 'operations' must be an iterator or async iterator "
            "of Tuples. Please check documentation for correct Tuple format."
        ) from exc
    return [_sdk_part(r) for r in batch.requests]


async def submit_transaction(
    client: TableClient, fast: FastPipeline, operations: list[Any], kwargs: dict[str, Any]
) -> list[Mapping[str, Any]]:
    """One transaction of 1-100 operations through ``fast``, answered and failing as the SDK's
    ``submit_transaction``."""
    sdk = sdk_internals()
    endpoint = f"{client.scheme}://{client._primary_hostname}"
    # The operations the engine sends are written as the SDK's TableBatchOperations writes them
    # (batch_parts.py); any other goes through TableBatchOperations itself (its request builders,
    # entity serializer, ETag and partition checks, and errors). The envelope is written here.
    direct = (
        None
        if client._cosmos_endpoint or not isinstance(operations, list)
        else build_parts(operations, endpoint, client.table_name)
    )
    parts = direct if direct is not None else _sdk_parts(sdk, client, endpoint, operations)
    date = format_date_time(time.time())
    changeset = f"changeset_{uuid.uuid4()}"
    boundary = f"batch_{uuid.uuid4()}"
    chunks = [f"--{boundary}\r\nContent-Type: multipart/mixed; boundary={changeset}\r\n\r\n"]
    for index, part in enumerate(parts):
        chunks.append(
            f"--{changeset}\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n"
            f"Content-ID: {index}\r\n\r\n{_serialize_part(part, date)}\r\n"
        )
    chunks.append(f"--{changeset}--\r\n\r\n--{boundary}--\r\n")
    request = LegacyHttpRequest(
        "POST",
        f"{client.scheme}://{client._primary_hostname}/$batch",
        headers={
            "x-ms-version": client.api_version,
            "DataServiceVersion": "3.0",
            "MaxDataServiceVersion": "3.0;NetFx",
            "Content-Type": f"multipart/mixed; boundary={boundary}",
            "Accept": "application/json",
        },
    )
    request.set_bytes_body("".join(chunks).encode("latin-1"))
    response = (await fast.pipeline.run(request, **kwargs)).http_response
    status = response.status_code
    if status == 413:
        raise sdk.decode_error(
            response,
            error_message="The transaction request was too large",
            error_type=sdk.RequestTooLargeError,
        )
    if status != 202:
        decoded = sdk.decode_error(response)
        sdk.validate_tablename_error(decoded, client.table_name)
        raise decoded
    answers = _parse_batch_response(response.body(), response.headers.get("Content-Type") or "")
    if answers is None:
        raise HttpResponseError(message="Unexpected transaction response", response=response)
    failed = next(((i, http) for i, (code, http, _etag) in enumerate(answers) if not 200 <= code < 300), None)
    if failed is not None:
        index, http = failed
        if index < len(parts):
            method, url, headers, _body = parts[index]
            part_request = LegacyHttpRequest(method, url, headers=dict(headers))
        else:
            part_request = request
        part_response = sdk.deserialize_response(http, part_request)
        if part_response.status_code == 413:
            raise sdk.decode_error(
                response,
                error_message="The transaction request was too large",
                error_type=sdk.RequestTooLargeError,
            )
        decoded = sdk.decode_error(response=part_response, error_type=sdk.TableTransactionError)
        sdk.validate_tablename_error(decoded, client.table_name)
        raise decoded
    results: list[Mapping[str, Any]] = []
    for _code, _http, etag in answers:
        results.append({"etag": etag} if etag is not None else {})
    return results
