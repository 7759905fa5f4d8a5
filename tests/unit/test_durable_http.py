"""``call_http`` in the replay core: what history records, 202 polling, replay, and refusals."""

from __future__ import annotations

from typing import Any

import pytest

import durable_azure as df
from durable_azure.errors import InvalidInputError, SerializationError
from durable_azure.orchestration import serialization
from durable_azure.orchestration.durable_http import HTTP_ACTIVITY_NAME, DurableHttpRequest
from durable_azure.orchestration.history import TaskScheduled, TimerCreated
from durable_azure.testing import run_orchestrator
from durable_azure.worker.durable_http import token_scope


def test_request_is_recorded_as_dfs_http_activity_input() -> None:
    def orchestrator(context: df.DurableOrchestrationContext) -> Any:
        token = df.ManagedIdentityTokenSource("https://graph.microsoft.com")
        return (yield context.call_http("post", "https://x.test/a", {"k": 1}, {"H": "v"}, token))

    result = run_orchestrator(
        orchestrator, activities={HTTP_ACTIVITY_NAME: {"statusCode": 201, "headers": {}, "content": "ok"}}
    )
    assert result.output == {"statusCode": 201, "headers": {}, "content": "ok"}
    (scheduled,) = [e for e in result.history if isinstance(e, TaskScheduled)]
    assert scheduled.name == "BuiltIn::HttpActivity"
    request = DurableHttpRequest.from_json(serialization.loads(scheduled.input))
    assert (request.method, request.uri, request.content, request.headers) == (
        "POST",
        "https://x.test/a",
        '{"k": 1}',
        {"H": "v"},
    )
    assert request.token_source == {"resource": "https://graph.microsoft.com", "kind": "AzureManagedIdentity"}


def test_202_polls_until_done_and_replays_the_same() -> None:
    answers = iter(
        [
            {
                "statusCode": 202,
                "headers": {"location": ["https://x.test/s"], "Retry-After": "7"},
                "content": "",
            },
            {"statusCode": 202, "headers": {"Location": "https://x.test/s"}, "content": ""},
            {"statusCode": 200, "headers": {}, "content": "done"},
        ]
    )
    asked: list[Any] = []

    def activity(request: Any) -> Any:
        asked.append(DurableHttpRequest.from_json(request))
        return next(answers)

    def orchestrator(context: df.DurableOrchestrationContext) -> Any:
        response = yield context.call_http("DELETE", "https://x.test/job", headers={"x-functions-key": "k"})
        return [response["content"], context.is_replaying]

    result = run_orchestrator(orchestrator, activities={HTTP_ACTIVITY_NAME: activity})
    assert result.output == ["done", False]
    assert [(r.method, r.uri, r.headers) for r in asked] == [
        ("DELETE", "https://x.test/job", {"x-functions-key": "k"}),
        ("GET", "https://x.test/s", {}),
        ("GET", "https://x.test/s", {}),
    ]
    timers = [e for e in result.history if isinstance(e, TimerCreated)]
    assert [(t.fire_at - result.history[0].timestamp).total_seconds() for t in timers][:1] == [7.0]
    assert len(timers) == 2


def test_polling_can_be_turned_off() -> None:
    def orchestrator(context: df.DurableOrchestrationContext) -> Any:
        response = yield context.call_http("GET", "https://x.test/", asynchronous_pattern_enabled=False)
        return response["statusCode"]

    accepted = {"statusCode": 202, "headers": {"Location": "https://x.test/s"}, "content": ""}
    assert run_orchestrator(orchestrator, activities={HTTP_ACTIVITY_NAME: accepted}).output == 202


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (("GET", "not a url"), InvalidInputError),
        (("FETCH", "https://x.test/"), InvalidInputError),
        (("GET", "https://x.test/", float("nan")), SerializationError),
        (("GET", "https://x.test/", None, {"h": 1}), InvalidInputError),
    ],
)
def test_bad_requests_fail_before_anything_is_recorded(args: tuple[Any, ...], error: type) -> None:
    def orchestrator(context: df.DurableOrchestrationContext) -> Any:
        return (yield context.call_http(*args))

    result = run_orchestrator(orchestrator)
    assert result.status == "Failed"
    assert error.__name__ in str(result.output)
    assert not [e for e in result.history if isinstance(e, TaskScheduled)]


def test_token_scopes() -> None:
    assert (
        token_scope("https://management.core.windows.net/") == "https://management.core.windows.net/.default"
    )
    assert token_scope("https://graph.microsoft.com") == "https://graph.microsoft.com/.default"
    assert token_scope("https://vault.azure.net") == "https://vault.azure.net/.default"
    assert token_scope("api://my-app/.default") == "api://my-app/.default"


@pytest.mark.parametrize("location", ["http://[::1", "status/7"])
def test_any_location_header_is_polled_and_never_breaks_the_replay(location: str) -> None:
    answers = iter(
        [
            {"statusCode": 202, "headers": {"Location": location, "Retry-After": "1"}, "content": ""},
            {"statusCode": 200, "headers": {}, "content": "done"},
        ]
    )
    asked: list[DurableHttpRequest] = []

    def activity(request: Any) -> Any:
        asked.append(DurableHttpRequest.from_json(request))
        return next(answers)

    def orchestrator(context: df.DurableOrchestrationContext) -> Any:
        response = yield context.call_http("POST", "https://x.test/jobs/start")
        return response["content"]

    result = run_orchestrator(orchestrator, activities={HTTP_ACTIVITY_NAME: activity})
    assert result.output == "done"
    expected = "http://[::1" if location.startswith("http") else "https://x.test/jobs/status/7"
    assert [r.uri for r in asked] == ["https://x.test/jobs/start", expected]


@pytest.mark.parametrize(
    ("retry_after", "seconds"),
    [("5", 5), ("²", 30), ("Wed, 21 Oct 2026 07:28:00 GMT", 30), ("99999999999999999999", 7 * 24 * 3600)],
)
def test_any_retry_after_gives_a_timer_never_an_error(retry_after: str, seconds: int) -> None:
    answers = iter(
        [
            {"statusCode": 202, "headers": {"Location": "https://x.test/s", "Retry-After": retry_after}},
            {"statusCode": 200, "headers": {}, "content": "done"},
        ]
    )

    def orchestrator(context: df.DurableOrchestrationContext) -> Any:
        response = yield context.call_http("GET", "https://x.test/jobs")
        return response["content"]

    result = run_orchestrator(orchestrator, activities={HTTP_ACTIVITY_NAME: lambda _: next(answers)})
    assert result.output == "done"
    (timer,) = [e for e in result.history if isinstance(e, TimerCreated)]
    assert (timer.fire_at - result.history[0].timestamp).total_seconds() == seconds
