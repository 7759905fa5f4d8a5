"""Input limits (issue 13): every value the worker will later write is checked where it is given.

Instance ids, entity ids, names, reasons and JSON payloads break clearly at the call that supplies
them (client or orchestrator code), never later in the worker. These tests use plain values; the
client's checks against storage are in tests/integration/test_input_limits_client.py.
"""

from __future__ import annotations

import math
import re
from typing import Any

import pytest

from durable_azure.errors import (
    DurableError,
    InvalidInputError,
    InvalidInstanceIdError,
    PayloadTooLargeError,
    SerializationError,
)
from durable_azure.orchestration import limits, serialization
from durable_azure.orchestration.context import DurableOrchestrationContext
from durable_azure.orchestration.entity_id import EntityId
from durable_azure.storage.naming import escape_partition_key, validate_instance_id


def _nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


def _ctx() -> DurableOrchestrationContext:
    ctx = DurableOrchestrationContext()
    ctx.instance_id = "parent-1"
    ctx.execution_id = "exec-1"
    return ctx


def _utf16_bytes(text: str) -> int:
    return len(text.encode("utf-16-le"))


# ---------------------------------------------------------------------------------- JSON payloads


@pytest.mark.parametrize("number", [math.nan, math.inf, -math.inf])
def test_json_refuses_nan_and_infinity(number: float) -> None:
    with pytest.raises(SerializationError, match=r"NaN or Infinity"):
        serialization.dumps({"x": [number]}, what="orchestration input")


@pytest.mark.parametrize("number", [2**63, -(2**63) - 1, 10**30])
def test_json_refuses_integers_beyond_64_bits(number: int) -> None:
    with pytest.raises(SerializationError, match=r"64-bit"):
        serialization.dumps({"n": number})
    with pytest.raises(SerializationError, match=r"64-bit"):
        serialization.dumps(number)  # the plain-int fast path too


@pytest.mark.parametrize("number", [2**63 - 1, -(2**63), 2**53 + 1, 0])
def test_json_accepts_integers_within_64_bits(number: int) -> None:
    assert serialization.loads(serialization.dumps([number])) == [number]
    assert serialization.dumps(number) == str(number)


def test_long_digit_runs_inside_strings_are_not_numbers() -> None:
    text = serialization.dumps({"id": "1" * 40, "k" * 30: 1.5e300})
    assert serialization.loads(text) == {"id": "1" * 40, "k" * 30: 1.5e300}


@pytest.mark.parametrize("value", ["a\ud800b", {"k\udfff": 1}, ["ok", ["\udc00"]]])
def test_json_refuses_lone_surrogates(value: Any) -> None:
    with pytest.raises(SerializationError, match=r"lone surrogate"):
        serialization.dumps(value, what="event data")


def test_json_accepts_valid_astral_characters() -> None:
    assert serialization.loads(serialization.dumps({"emoji": "😀"})) == {"emoji": "😀"}


def test_json_depth_limit_is_64_levels() -> None:
    assert limits.MAX_JSON_DEPTH == 64
    assert serialization.loads(serialization.dumps(_nested(64))) == _nested(64)
    with pytest.raises(SerializationError, match=r"nests 65 levels.*64"):
        serialization.dumps(_nested(65), what="activity input")


def test_brackets_inside_strings_do_not_count_as_depth() -> None:
    value = {"text": "[" * 500 + "{" * 500, "list": [[["x"]]]}
    assert serialization.loads(serialization.dumps(value)) == value


def test_very_deep_values_give_a_serialization_error_not_recursion_error() -> None:
    with pytest.raises(SerializationError, match=r"64"):
        serialization.dumps(_nested(100_000))


class _Wrapped:
    def __init__(self, inner: Any) -> None:
        self.inner = inner

    @staticmethod
    def to_json(obj: _Wrapped) -> Any:
        return obj.inner

    @classmethod
    def from_json(cls, data: Any) -> _Wrapped:
        return cls(data)


def test_depth_counts_the_custom_object_envelope() -> None:
    serialization.dumps(_Wrapped(_nested(63)))  # 63 + the {"__class__",...} object = 64
    with pytest.raises(SerializationError, match=r"nests 65 levels"):
        serialization.dumps(_Wrapped(_nested(64)))


def test_serialization_errors_name_the_value() -> None:
    with pytest.raises(SerializationError, match=r"^The input of activity 'A'"):
        serialization.dumps(math.nan, what="input of activity 'A'")


# ---------------------------------------------------------------------------------- instance ids


@pytest.mark.parametrize(
    ("instance_id", "problem"),
    [
        ("", "empty"),
        ("x" * 257, "256"),
        ("a/b", re.escape("contains '/'")),
        ("a\\b", re.escape("contains '\\\\'")),
        ("a#b", re.escape("contains '#'")),
        ("a?b", re.escape("contains '?'")),
        ("a\nb", "control character"),
        ("a\x85b", "control character"),
        ("a\ud800b", "lone surrogate"),
        ("@counter@1", "reserved for entities"),
    ],
)
def test_bad_instance_ids_are_refused(instance_id: str, problem: str) -> None:
    with pytest.raises(InvalidInstanceIdError, match=problem):
        validate_instance_id(instance_id)
    with pytest.raises(InvalidInstanceIdError, match=problem):
        limits.check_instance_id(instance_id)


def test_instance_ids_of_256_characters_always_fit_a_table_key() -> None:
    for ch in ("x", "^", "é", "😀"):
        instance_id = ch * 256
        assert validate_instance_id(instance_id) == instance_id
        assert _utf16_bytes(escape_partition_key(instance_id)) <= limits.MAX_TABLE_KEY_BYTES


def test_non_string_instance_id_is_refused() -> None:
    with pytest.raises(InvalidInstanceIdError, match="must be a string"):
        validate_instance_id(42)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------- entity ids


def test_entity_key_limit_is_computed_from_the_escaped_table_key() -> None:
    # "@counter@" is 9 characters: 512 - 9 = 503 ASCII characters of key fit in 1 KiB of UTF-16.
    fits = EntityId("Counter", "k" * 503)
    assert limits.check_entity_id(fits) == "@counter@" + "k" * 503
    with pytest.raises(InvalidInstanceIdError, match=r"1024 bytes"):
        limits.check_entity_id(EntityId("Counter", "k" * 504))
    # '^' is escaped as '^^' in the PartitionKey, so it counts twice
    with pytest.raises(InvalidInstanceIdError, match=r"1024 bytes"):
        limits.check_entity_id(EntityId("Counter", "^" * 252))
    limits.check_entity_id(EntityId("Counter", "^" * 251 + "k"))
    # characters outside the BMP are two UTF-16 code units
    with pytest.raises(InvalidInstanceIdError, match=r"1024 bytes"):
        limits.check_entity_id(EntityId("Counter", "😀" * 252))


def test_entity_key_limit_matches_the_storage_escaping() -> None:
    for key in ["plain", "^caret^", "é" * 10, "😀x^"]:
        entity = EntityId("n", key)
        expected = _utf16_bytes(escape_partition_key(entity.instance_id))
        assert limits.table_key_bytes(entity.instance_id) == expected


@pytest.mark.parametrize(
    ("name", "key", "problem"),
    [
        ("counter", "a/b", "key is invalid: it contains '/'"),
        ("counter", "a#b", "key is invalid: it contains '#'"),
        ("counter", "a\x00b", "control character"),
        ("counter", "a\ud800", "lone surrogate"),
        ("coun/ter", "k", "name is invalid: it contains '/'"),
        ("coun\tter", "k", "control character"),
    ],
)
def test_bad_entity_ids_are_refused(name: str, key: str, problem: str) -> None:
    with pytest.raises(InvalidInstanceIdError, match=problem):
        limits.check_entity_id(EntityId(name, key))


def test_entity_keys_may_contain_at_signs_and_be_empty() -> None:
    assert limits.check_entity_id(EntityId("mail", "a@b.c")) == "@mail@a@b.c"
    assert limits.check_entity_id(EntityId("singleton", "")) == "@singleton@"


def test_management_api_paths_accept_entity_ids_up_to_the_key_limit() -> None:
    long_entity = "@counter@" + "k" * 300
    assert validate_instance_id(long_entity, allow_entity=True) == long_entity
    with pytest.raises(InvalidInstanceIdError):
        validate_instance_id("@counter@" + "k" * 504, allow_entity=True)


# ---------------------------------------------------------------------------------- names, reasons, waits


@pytest.mark.parametrize(
    ("name", "problem"),
    [("", "empty"), ("x" * 1025, "1024"), ("a\x07", "control character"), ("a\ud800", "lone surrogate")],
)
def test_bad_names_are_refused(name: str, problem: str) -> None:
    with pytest.raises(InvalidInputError, match=problem):
        limits.check_name(name, "event name")


def test_names_up_to_the_limit_are_accepted() -> None:
    assert limits.check_name("x" * 1024, "event name") == "x" * 1024
    assert limits.check_name("Ünïcode name with spaces", "operation name")


def test_reasons_are_strings_of_bounded_length() -> None:
    assert limits.check_reason(None) is None
    assert limits.check_reason("line 1\nline 2") == "line 1\nline 2"
    with pytest.raises(InvalidInputError, match="string"):
        limits.check_reason({"why": 1})  # type: ignore[arg-type]
    with pytest.raises(PayloadTooLargeError, match="8,192"):
        limits.check_reason("x" * 8193)
    with pytest.raises(InvalidInputError, match="lone surrogate"):
        limits.check_reason("bad \udc00")


@pytest.mark.parametrize(
    ("timeout", "interval", "problem"),
    [
        (math.inf, 1.0, "finite"),
        (math.nan, 1.0, "finite"),
        (0, 1.0, "greater than 0"),
        (-5, 1.0, "greater than 0"),
        (limits.MAX_WAIT_SECONDS + 1, 1.0, "604,800"),
        (10, 0, "at least 0.01"),
        (10, math.nan, "finite"),
        (10, 3601, "3,600"),
        ("10", 1.0, "number"),
        (True, 1.0, "number"),
    ],
)
def test_bad_wait_times_are_refused(timeout: Any, interval: Any, problem: str) -> None:
    with pytest.raises(InvalidInputError, match=problem):
        limits.check_wait(timeout, interval)


def test_all_limit_errors_are_durable_errors_and_value_errors() -> None:
    for cls in (InvalidInputError, InvalidInstanceIdError, PayloadTooLargeError):
        assert issubclass(cls, DurableError) and issubclass(cls, ValueError)


# ---------------------------------------------------------------------------------- orchestrator code


def test_sub_orchestrator_instance_id_is_checked_at_the_call() -> None:
    ctx = _ctx()
    with pytest.raises(InvalidInstanceIdError, match="contains '/'"):
        ctx.call_sub_orchestrator("Child", None, instance_id="a/b")
    with pytest.raises(InvalidInstanceIdError, match="256"):
        ctx.call_sub_orchestrator_with_retry("Child", _retry(), None, instance_id="x" * 300)


def test_generated_sub_orchestrator_ids_must_fit_a_table_key() -> None:
    ctx = _ctx()
    ctx.instance_id = "😀" * 256  # 512 UTF-16 code units: "{parent}:{n}" no longer fits
    with pytest.raises(InvalidInstanceIdError, match=r"1024 bytes"):
        ctx.call_sub_orchestrator("Child")


def test_function_names_are_checked_at_the_call() -> None:
    ctx = _ctx()
    with pytest.raises(InvalidInputError, match="activity name"):
        ctx.call_activity("bad\x00name")
    with pytest.raises(InvalidInputError, match="orchestrator name"):
        ctx.call_sub_orchestrator("x" * 2000)


def test_event_names_are_checked_at_the_call() -> None:
    ctx = _ctx()
    with pytest.raises(InvalidInputError, match="empty"):
        ctx.wait_for_external_event("")
    with pytest.raises(InvalidInputError, match="control character"):
        ctx.wait_for_external_event("Approval\r\n")


def test_entity_targets_and_operations_are_checked_at_the_call() -> None:
    ctx = _ctx()
    long_key = EntityId("counter", "k" * 600)
    with pytest.raises(InvalidInstanceIdError, match=r"1024 bytes"):
        ctx.signal_entity(long_key, "add", 1)
    with pytest.raises(InvalidInstanceIdError, match=r"1024 bytes"):
        ctx.call_entity(long_key, "get")
    with pytest.raises(InvalidInstanceIdError, match="contains '#'"):
        ctx.lock([EntityId("counter", "ok"), EntityId("counter", "a#b")])
    with pytest.raises(InvalidInputError, match="operation name"):
        ctx.signal_entity(EntityId("counter", "k"), "")
    with pytest.raises(SerializationError, match="NaN"):
        ctx.call_entity(EntityId("counter", "k"), "add", math.nan)


def test_custom_status_is_checked_at_the_call() -> None:
    ctx = _ctx()
    ctx.set_custom_status({"ok": 1})
    with pytest.raises(SerializationError, match="NaN"):
        ctx.set_custom_status({"progress": math.nan})
    with pytest.raises(PayloadTooLargeError, match="16,384"):
        ctx.set_custom_status("x" * 20_000)
    assert ctx.custom_status == {"ok": 1}  # a refused status does not replace the last good one


def test_continue_as_new_input_is_checked_at_the_call() -> None:
    ctx = _ctx()
    with pytest.raises(SerializationError, match="64-bit"):
        ctx.continue_as_new({"n": 2**64})
    assert not ctx.will_continue_as_new


def test_entities_check_their_signals_at_the_call() -> None:
    from durable_azure.entities.context import DurableEntityContext

    ctx = DurableEntityContext("counter", "k", True, "0")
    with pytest.raises(InvalidInstanceIdError, match=r"1024 bytes"):
        ctx.signal_entity(EntityId("other", "k" * 600), "add", 1)
    with pytest.raises(InvalidInputError, match="operation name"):
        ctx.signal_entity(EntityId("other", "k"), "op\x00")
    assert ctx.signals == []


def _retry() -> Any:
    from durable_azure.orchestration.retry import RetryOptions

    return RetryOptions(1000, 2)


def _reference_problem(value: Any) -> str | None:
    """What dumps must refuse, found by walking the value (slow, obviously right)."""

    def walk(v: Any, depth: int) -> str | None:
        if isinstance(v, bool) or v is None or isinstance(v, (str, float)):
            return None
        if isinstance(v, int):
            return None if -(2**63) <= v <= 2**63 - 1 else "int"
        children = list(v.values()) if isinstance(v, dict) else list(v)
        if depth + 1 > limits.MAX_JSON_DEPTH:
            return "depth"
        for child in children:
            problem = walk(child, depth + 1)
            if problem:
                return problem
        return None

    return walk(value, 0)


def test_fast_checks_agree_with_a_plain_walk_on_random_values() -> None:
    import random

    rng = random.Random(13)
    tricky = '"\\[]{}0123456789-e.'

    def text() -> str:
        return "".join(rng.choice(tricky) for _ in range(rng.randint(0, 30)))

    def number() -> int:
        return rng.choice([1, -1]) * rng.choice(
            [rng.randint(0, 10**19), 2**63 - 1, 2**63, 10 ** rng.randint(17, 25)]
        )

    def value(depth: int) -> Any:
        kind = rng.random()
        if depth <= 0 or (kind < 0.3 and depth < 10):
            return rng.choice([text(), number(), 1.5e300, True, None])
        size = rng.randint(1, 3) if depth < 10 or rng.random() < 0.05 else 1  # deep values are chains
        if kind < 0.65:
            return [value(depth - 1) for _ in range(size)]
        return {text(): value(depth - 1) for _ in range(size)}

    outcomes = set()
    for _ in range(400):
        candidate = value(rng.choice([3, 8, 62, 66]))
        expected = _reference_problem(candidate)
        try:
            text_out = serialization.dumps(candidate)
        except SerializationError as error:
            assert expected is not None, f"refused a valid value: {error}"
            assert ("64-bit" in str(error)) == (expected == "int") or expected == "depth", str(error)
            outcomes.add(expected)
        else:
            assert expected is None, f"accepted a value with a {expected} problem: {text_out!r}"
            assert serialization.loads(text_out) == candidate
            outcomes.add("ok")
    assert outcomes == {"ok", "int", "depth"}
