"""Plumbing for the management API: DF-shaped errors, JSON responses and query-string parsing."""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from itertools import accumulate
from typing import Any

from azure.core.exceptions import (
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from starlette.requests import Request
from starlette.responses import Response

from ..errors import (
    FunctionNotFoundError,
    InstanceAlreadyExistsError,
    InstanceNotFoundError,
    InvalidOperationError,
    SerializationError,
)
from ..orchestration import serialization
from ..orchestration.limits import MAX_JSON_DEPTH
from ..orchestration.status import OrchestrationRuntimeStatus

log = logging.getLogger("durable_azure.http")

JSON_CONTENT_TYPE = "application/json; charset=utf-8"
CONTINUATION_HEADER = "x-ms-continuation-token"
#: Deepest JSON nesting accepted in a request body: Json.NET's default ``MaxDepth``, which DF parses with.
#: ``Retry-After`` (seconds) of a 503 answered while the task hub's storage cannot be reached.
STORAGE_RETRY_AFTER = "10"


def json_response(body: Any, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON response with DF's content type."""
    # Values decoded into custom classes (to_json/from_json) are shown as the envelope they are stored as.
    content = json.dumps(body, ensure_ascii=False, default=serialization.json_default).encode("utf-8")
    return Response(content, status_code=status_code, headers=headers, media_type=JSON_CONTENT_TYPE)


class ApiError(Exception):
    """An error answer: status code plus a JSON body."""

    def __init__(self, status_code: int, body: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(body)
        self.status_code = status_code
        self.body = body
        self.headers = headers

    def response(self) -> Response:
        return json_response(self.body, self.status_code, self.headers)


def error(status_code: int, message: str) -> ApiError:
    """DF's simple error body ``{"Message": ...}``."""
    return ApiError(status_code, {"Message": message})


def bad_request(message: str, exc: BaseException | None = None) -> ApiError:
    """A 400 with ``Message`` (and the exception's message and type when there is one)."""
    body: dict[str, Any] = {"Message": message}
    if exc is not None:
        body.update(ExceptionMessage=str(exc), ExceptionType=type(exc).__name__)
    return ApiError(400, body)


def argument_error(message: str) -> ApiError:
    """DF's 400 for an ``ArgumentException`` (unknown function, bad id, bad parameter)."""
    return ApiError(
        400,
        {
            "Message": "One or more of the arguments submitted is incorrect",
            "ExceptionMessage": message,
            "ExceptionType": "System.ArgumentException",
            "StackTrace": None,
        },
    )


def not_found(message: str) -> ApiError:
    return error(404, message)


Handler = Callable[[Request], Awaitable[Response]]


def api_endpoint(handler: Handler) -> Handler:
    """Turn errors into DF-shaped JSON answers: client mistakes are 4xx, never 500."""

    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request)
        except ApiError as e:
            return e.response()
        except FunctionNotFoundError as e:
            return argument_error(str(e)).response()
        except InstanceNotFoundError as e:
            return not_found(str(e)).response()
        except InstanceAlreadyExistsError as e:
            return error(409, str(e)).response()
        except InvalidOperationError as e:
            return error(410, str(e)).response()
        except (ValueError, SerializationError) as e:  # bad ids, hub names, tokens, statuses, dates, values
            return argument_error(str(e)).response()
        except RecursionError:  # a value nested too deeply for the engine, however it got past the parser
            return bad_request(
                f"The request holds a value nested too deeply (at most {MAX_JSON_DEPTH} levels)."
            ).response()
        except ResourceNotFoundError as e:  # e.g. a taskHub= that was never created
            code = getattr(e, "error_code", None) or "ResourceNotFound"
            return not_found(f"The task hub does not exist in this storage account ({code}).").response()
        except Exception as e:  # storage outages and bugs
            if storage_unavailable(e):
                log.warning(
                    "management API: %s %r: storage unavailable: %s", request.method, request.url.path, e
                )
                return storage_unavailable_error().response()
            log.exception("management API: %s %r failed", request.method, request.url.path)
            return internal_error().response()

    endpoint.__name__ = handler.__name__
    endpoint.__doc__ = handler.__doc__
    return endpoint


def storage_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) means the storage account could not be reached or is busy."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        # The SDK wraps connection failures and timeouts into ServiceRequest/ServiceResponseError.
        if isinstance(current, (ServiceRequestError, ServiceResponseError, ConnectionError)):
            return True
        if isinstance(current, HttpResponseError) and current.status_code in (500, 502, 503, 504):
            return True
        current = current.__cause__ or current.__context__
    return False


def storage_unavailable_error() -> ApiError:
    """503 with ``Retry-After``: the storage account cannot be reached (the body names no host)."""
    return ApiError(
        503,
        {"Message": "The task hub's storage account is unavailable; retry later."},
        {"Retry-After": STORAGE_RETRY_AFTER},
    )


def internal_error() -> ApiError:
    """DF's 500 body, without the exception's text (it may name internal hosts); the log has it."""
    return ApiError(500, {"Message": "Something went wrong while processing your request"})


class Query:
    """Query parameters with case-insensitive names (as DF reads them) and typed getters."""

    def __init__(self, request: Request) -> None:
        self._items = [(k.lower(), v) for k, v in request.query_params.multi_items()]

    def get(self, name: str) -> str | None:
        name = name.lower()
        for key, value in self._items:
            if key == name:
                return value
        return None

    def get_all(self, name: str) -> list[str]:
        name = name.lower()
        return [v for k, v in self._items if k == name]

    def bool(self, name: str, default: bool) -> bool:
        value = self.get(name)
        if value is None or value == "":
            return default
        lowered = value.strip().lower()
        if lowered in ("true", "1"):
            return True
        if lowered in ("false", "0"):
            return False
        raise argument_error(f"Query parameter '{name}' must be true or false, got {value!r}.")

    def positive_int(self, name: str) -> int | None:
        value = self.get(name)
        if value is None or value == "":
            return None
        try:
            number = int(value)
        except ValueError:
            raise argument_error(
                f"Query parameter '{name}' must be a positive integer, got {value!r}."
            ) from None
        if number <= 0:
            raise argument_error(f"Query parameter '{name}' must be a positive integer, got {value!r}.")
        return number

    def seconds(self, name: str) -> float | None:
        value = self.get(name)
        if value is None or value == "":
            return None
        try:
            number = float(value)
        except ValueError:
            raise argument_error(
                f"Query parameter '{name}' must be a number of seconds, got {value!r}."
            ) from None
        if not math.isfinite(number) or number < 0:
            raise argument_error(
                f"Query parameter '{name}' must be a finite, non-negative number of seconds, got {value!r}."
            )
        return number

    def datetime(self, name: str) -> datetime | None:
        value = self.get(name)
        if value is None or value == "":
            return None
        return parse_datetime(value, name)

    def runtime_statuses(self) -> list[OrchestrationRuntimeStatus] | None:
        """``runtimeStatus`` as a comma list and/or repeated, names case-insensitive."""
        names = [part.strip() for value in self.get_all("runtimeStatus") for part in value.split(",")]
        names = [n for n in names if n]
        if not names:
            return None
        by_lower = {s.value.lower(): s for s in OrchestrationRuntimeStatus}
        result = []
        for name in names:
            status = by_lower.get(name.lower())
            if status is None:
                known = ", ".join(s.value for s in OrchestrationRuntimeStatus)
                raise argument_error(f"Unknown runtimeStatus '{name}'; use one of {known}.")
            result.append(status)
        return result


def parse_datetime(value: str, name: str = "value") -> datetime:
    """An ISO 8601 date/time; without an offset it is taken as UTC."""
    text = value.strip().replace(" ", "+") if "T" in value else value.strip()  # '+' decoded to ' ' in queries
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
        # In UTC here, so that a time whose UTC value is outside year 1..9999 (0001-01-01T00:00+01:00)
        # is a 400 now rather than an OverflowError wherever it is converted later.
        return parsed.astimezone(timezone.utc) if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
    except (ValueError, OverflowError):
        raise argument_error(
            f"Query parameter '{name}' is not a valid date/time: {value!r} (use ISO 8601, e.g. 2024-05-01T10:00:00Z)."
        ) from None


def media_type(request: Request) -> str:
    """The request's content type without parameters, lower-cased (``""`` when absent)."""
    return (request.headers.get("content-type") or "").split(";")[0].strip().lower()


#: A JSON string, or an unterminated one up to the end: the optional closing quote never fails, so
#: the engine never backtracks (a required one made ``"\\"\\"\\...`` take quadratic time).
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?')
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_BRACKET_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def json_depth(text: str) -> int:
    """How deeply the arrays and objects of JSON ``text`` nest (without recursion; strings skipped)."""
    brackets = _NOT_BRACKET.sub("", _JSON_STRING.sub("", text))
    return max(accumulate(map(_BRACKET_STEP.__getitem__, brackets)), default=0)


def _finite_number(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):  # NaN, Infinity, or a literal like 1e400
        raise ValueError(f"{text} is not a finite number; JSON has no NaN or Infinity.")
    return number


def parse_json(raw: bytes | str) -> Any:
    """Parse a JSON request body: UTF-8, at most :data:`MAX_JSON_DEPTH` deep, finite numbers, no lone
    surrogates. Raises ``ValueError`` (with a message fit for the client) for anything else.
    """
    text = raw.decode("utf-8-sig") if isinstance(raw, bytes) else raw  # a BOM dropped, as .NET does
    if json_depth(text) > MAX_JSON_DEPTH:
        raise ValueError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels is not accepted.")
    value = json.loads(text, parse_float=_finite_number, parse_constant=_finite_number)
    if _SURROGATE_ESCAPE.search(text):
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("JSON strings must not hold lone surrogates (\\ud800-\\udfff).") from None
    return value


def unwrap_json_text(value: Any, *, scalars: bool = True) -> Any:
    """The value a JSON string body carries when its text is itself JSON; otherwise ``value``.

    Durable Functions for Python's client (``DurableOrchestrationClient``) encodes start inputs,
    event payloads and entity operation inputs twice: ``{"a": 1}`` arrives as the JSON string
    ``"{\"a\": 1}"``. The Durable extension decodes that second layer for start inputs and entity
    operations (the orchestrator and entity SDKs parse the string again), so ``"5"`` there is 5; we do
    the same. For event payloads it does not (DF Python's extra-quotes bug), and a JSON string such as
    ``"1234"`` stays a string there; with ``scalars=False`` we decode only strings holding a JSON
    object, array or string (``"{...}"``, ``"[...]"``, ``"\"text\""``), which no one sends by hand,
    so DF Python's objects, arrays and strings arrive intact and ``"1234"`` stays ``"1234"``. A body
    such as ``{"a": 1}`` (curl) is always taken as it is, and so is a string whose text is not JSON.
    """
    if not isinstance(value, str):
        return value
    text = value.strip()
    if not text or (not scalars and text[0] not in '{["'):
        return value
    try:
        return parse_json(text)
    except ValueError:
        return value


async def json_body(request: Request, message: str = "Invalid JSON content") -> tuple[bool, Any]:
    """``(present, value)`` of a JSON body; an empty body is ``(False, None)``; bad JSON is a 400."""
    raw = await request.body()
    if not raw.strip():
        return False, None
    try:
        return True, parse_json(raw)
    except ValueError as e:  # also UnicodeDecodeError and JSONDecodeError
        raise bad_request(message, e) from None
