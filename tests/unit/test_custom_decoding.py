"""A custom object whose class cannot read it back (``from_json`` raises): the orchestrator sees the
error where it awaits the value, the same in every replay, and readers of stored values (status,
history, entity reads) show the stored envelope instead of failing."""

from __future__ import annotations

from typing import Any

import pytest

import durable_azure as df
from durable_azure.orchestration import serialization
from durable_azure.testing import run_orchestrator


class Fragile:
    """Reads back only ``{"ok": true}``; anything else raises ``error``."""

    error: type[Exception] = KeyError

    def __init__(self, data: Any) -> None:
        self.data = data

    @staticmethod
    def to_json(obj: Fragile) -> Any:
        return obj.data

    @classmethod
    def from_json(cls, data: Any) -> Fragile:
        if data != {"ok": True}:
            raise cls.error(f"cannot read {data!r}")
        return cls(data)


def envelope(data: Any) -> dict[str, Any]:
    return {"__class__": "Fragile", "__module__": __name__, "__data__": data}


@pytest.fixture(params=[KeyError, ValueError, TypeError])
def error(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> type[Exception]:
    monkeypatch.setattr(Fragile, "error", request.param)
    return request.param  # type: ignore[no-any-return]


def test_an_unreadable_activity_result_fails_the_await_not_the_episode(error: type[Exception]) -> None:
    def orchestrator(context: df.DurableOrchestrationContext) -> Any:
        try:
            yield context.call_activity("make", None)
        except Exception as caught:
            good = yield context.call_activity("make_good", None)
            return [type(caught).__name__, isinstance(good, Fragile)]
        return "no error"

    result = run_orchestrator(
        orchestrator, activities={"make": envelope({"bad": 1}), "make_good": envelope({"ok": True})}
    )
    assert result.output == [error.__name__, True]


def test_an_unreadable_event_payload_fails_the_await(error: type[Exception]) -> None:
    def orchestrator(context: df.DurableOrchestrationContext) -> Any:
        try:
            yield context.wait_for_external_event("Go")
        except Exception as caught:
            return type(caught).__name__
        return "no error"

    result = run_orchestrator(orchestrator, events=[("Go", envelope([1]))])
    assert result.output == error.__name__


def test_stored_values_are_shown_as_their_envelope(error: type[Exception]) -> None:
    text = serialization.dumps({"a": Fragile([1])})
    assert text is not None
    with pytest.raises(error):
        serialization.loads(text)
    assert serialization.loads_stored(text) == {"a": envelope([1])}
    assert isinstance(serialization.loads_stored(serialization.dumps(Fragile({"ok": True}))), Fragile)
    assert serialization.loads_stored("not json") == "not json"
    assert serialization.loads_stored(None) is None


def test_text_json_cannot_read_stays_text_everywhere() -> None:
    """Bare text (DTFx reasons) and numbers Python refuses to convert are returned as the text."""
    for text in ("not json", "1" * 5000, '{"a": ' + "1" * 5000 + "}"):
        assert serialization.loads(text) == text
        assert serialization.loads_stored(text) == text
