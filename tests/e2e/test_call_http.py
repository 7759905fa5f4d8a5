"""``context.call_http`` against a local HTTP server started by the test: results recorded in history
as Durable Functions records them, 202 + Location polled on durable timers, managed-identity tokens
(from an injected provider), and a clear failure for a host that cannot be reached."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from app_copies import HERE, serve_copy
from serve_support import Api, free_port

pytestmark = pytest.mark.e2e

BIG = 2 * 1024 * 1024


class Target:
    """A local HTTP server: /echo answers with what it got; /jobs answers 202 + Location, and
    /jobs/status answers 202 twice, then 200."""

    def __init__(self) -> None:
        self.polls = 0
        self.requests: list[dict[str, Any]] = []
        target = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else None
                seen = {
                    "method": self.command,
                    "path": self.path,
                    "body": body,
                    "contentType": self.headers.get("Content-Type"),
                    "authorization": self.headers.get("Authorization"),
                    "custom": self.headers.get("X-Custom"),
                    "functionsKey": self.headers.get("x-functions-key"),
                }
                target.requests.append(seen)
                if self.path == "/jobs":
                    location = f"http://127.0.0.1:{target.port}/jobs/status"
                    self._answer(202, {"accepted": True}, {"Location": location, "Retry-After": "1"})
                elif self.path == "/jobs/status":
                    target.polls += 1
                    if target.polls < 3:
                        self._answer(
                            202,
                            {"running": target.polls},
                            {
                                "Location": f"http://127.0.0.1:{target.port}/jobs/status",
                                "Retry-After": "1",
                            },
                        )
                    else:
                        self._answer(200, {"done": True, "polls": target.polls, "seen": seen})
                elif self.path == "/big":  # more than any queue message or table property holds
                    data = b"a" * BIG
                    self.send_response(200)
                    self.send_header("Content-Type", "text/plain")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                elif self.path == "/gone":
                    self.send_response(204)
                    self.end_headers()
                elif self.path == "/relative":
                    self._answer(202, {}, {"Location": "relative/status", "Retry-After": "1"})
                elif self.path == "/relative/status":
                    self._answer(200, {"polled": self.path})
                elif self.path == "/missing":
                    self._answer(404, {"error": "no such thing"})
                else:
                    self._answer(200, seen)

            do_GET = do_POST = do_PUT = do_DELETE = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@pytest.fixture(scope="module")
def target() -> Iterator[Target]:
    running = Target()
    running.thread.start()
    yield running
    running.server.shutdown()
    running.server.server_close()


@pytest.fixture(scope="module")
def compat(azurite: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with serve_copy(HERE / "compat_app", tmp_path_factory.mktemp("http")) as api:
        yield api


def run(api: Api, ask: dict[str, Any], timeout: float = 30.0) -> tuple[dict[str, Any], dict[str, Any]]:
    response = api.http.post(api.mgmt("orchestrators/http_call"), json=ask)
    assert response.status_code == 202, response.text
    payload = response.json()
    status = api.wait_done(payload, timeout=timeout)
    assert status["runtimeStatus"] == "Completed", status
    return payload, status["output"]


def test_get_is_recorded_as_the_builtin_http_activity(compat: Api, target: Target) -> None:
    payload, output = run(compat, {"uri": target.url("/echo?x=1"), "headers": {"X-Custom": "abc"}})
    assert output["statusCode"] == 200
    assert output["headers"]["Content-Type"] == "application/json"
    seen = json.loads(output["content"])
    assert seen["method"] == "GET" and seen["path"] == "/echo?x=1" and seen["custom"] == "abc"
    completed = [e for e in compat.history(payload) if e["EventType"] == "TaskCompleted"]
    assert [e["FunctionName"] for e in completed] == ["BuiltIn::HttpActivity"]
    assert completed[0]["Result"]["statusCode"] == 200


def test_post_sends_json_or_raw_content(compat: Api, target: Target) -> None:
    _, output = run(compat, {"method": "POST", "uri": target.url("/echo"), "content": {"a": [1, 2]}})
    seen = json.loads(output["content"])
    assert (seen["method"], json.loads(seen["body"]), seen["contentType"]) == (
        "POST",
        {"a": [1, 2]},
        "text/plain",
    )
    _, output = run(
        compat,
        {
            "method": "PUT",
            "uri": target.url("/echo"),
            "content": "a=1&b=2",
            "raw": True,
            "headers": {"Content-Type": "application/x-www-form-urlencoded"},
        },
    )
    seen = json.loads(output["content"])
    assert (seen["method"], seen["body"], seen["contentType"]) == (
        "PUT",
        "a=1&b=2",
        "application/x-www-form-urlencoded",
    )


def test_error_statuses_are_results(compat: Api, target: Target) -> None:
    _, output = run(compat, {"uri": target.url("/missing")})
    assert output["statusCode"] == 404 and json.loads(output["content"]) == {"error": "no such thing"}


def test_202_with_location_is_polled_on_durable_timers(compat: Api, target: Target) -> None:
    payload, output = run(
        compat,
        {
            "method": "POST",
            "uri": target.url("/jobs"),
            "headers": {"X-Custom": "k", "x-functions-key": "secret"},
        },
    )
    assert output["statusCode"] == 200
    result = json.loads(output["content"])
    assert result["done"] is True and result["polls"] == 3
    assert result["seen"]["method"] == "GET"
    assert result["seen"]["custom"] == "k" and result["seen"]["functionsKey"] is None
    history = compat.history(payload)
    kinds = [e["EventType"] for e in history if e["EventType"] in ("TaskCompleted", "TimerFired")]
    assert kinds == [
        "TaskCompleted",
        "TimerFired",
        "TaskCompleted",
        "TimerFired",
        "TaskCompleted",
        "TimerFired",
        "TaskCompleted",
    ]


def test_managed_identity_token_source(compat: Api, target: Target) -> None:
    _, output = run(compat, {"uri": target.url("/echo"), "resource": "https://management.core.windows.net"})
    seen = json.loads(output["content"])
    assert seen["authorization"] == "Bearer test-token-for https://management.core.windows.net/.default"


def test_unreachable_host_fails_the_call_clearly(compat: Api) -> None:
    _, output = run(compat, {"uri": f"http://127.0.0.1:{free_port()}/nothing-here"})
    assert output["error_type"] == "DurableHttpError"
    assert "127.0.0.1" in output["message"] and "failed" in output["message"]


def test_invalid_requests_fail_the_orchestration_before_anything_is_sent(compat: Api) -> None:
    response = compat.http.post(compat.mgmt("orchestrators/http_call"), json={"uri": "ftp://example/x"})
    status = compat.wait_done(response.json())
    assert status["runtimeStatus"] == "Failed"
    assert "not an absolute http" in json.dumps(status["output"])
    kinds = {e["EventType"] for e in compat.history(response.json())}
    assert not kinds & {"TaskScheduled", "TaskCompleted", "TaskFailed"}, kinds


def test_large_responses_travel_as_large_payloads(compat: Api, target: Target) -> None:
    payload, output = run(compat, {"uri": target.url("/big")})
    assert output["statusCode"] == 200 and output["content"] == "a" * BIG
    completed = [e for e in compat.history(payload) if e["EventType"] == "TaskCompleted"]
    assert len(completed[0]["Result"]["content"]) == BIG


def test_no_content_and_relative_locations(compat: Api, target: Target) -> None:
    _, output = run(compat, {"method": "DELETE", "uri": target.url("/gone")})
    assert (output["statusCode"], output["content"]) == (204, "")
    _, output = run(compat, {"method": "POST", "uri": target.url("/relative")})
    assert output["statusCode"] == 200 and json.loads(output["content"]) == {"polled": "/relative/status"}
