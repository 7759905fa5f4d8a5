"""The ``BuiltIn::HttpActivity`` sender against a local HTTP server started by the test: responses
without a body, content that is not UTF-8, repeated headers, redirects and relative ``Location``s
come back as the Durable extension's ``HttpActivity`` gives them, never as an unexpected error."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from durable_azure.orchestration.durable_http import DurableHttpRequest, header
from durable_azure.worker.durable_http import send

#: path -> (status, headers, body)
ANSWERS: dict[str, tuple[int, list[tuple[str, str]], bytes]] = {
    "/no-content": (204, [], b""),
    "/empty-ok": (200, [("Content-Type", "text/plain")], b""),
    "/latin-1": (200, [("Content-Type", "text/plain; charset=iso-8859-1")], "café".encode("latin-1")),
    "/lying-charset": (200, [("Content-Type", "text/plain; charset=utf-8")], b"\xff ok \xc3"),
    "/unknown-charset": (200, [("Content-Type", "text/plain; charset=no-such-codec")], b"ok"),
    "/binary": (200, [("Content-Type", "application/octet-stream")], bytes([0x80, 0xFF, 0x00, 0x41])),
    "/bom": (200, [("Content-Type", "application/json")], b'\xef\xbb\xbf{"a": 1}'),
    "/repeated": (
        200,
        [("Set-Cookie", "a=1; Expires=Wed, 21 Oct 2026 07:28:00 GMT"), ("Set-Cookie", "b=2"), ("X-One", "1")],
        b"x",
    ),
    "/post-found": (302, [("Location", "/landing")], b""),
    "/see-other": (303, [("Location", "/landing")], b""),
}


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        status, headers, body = ANSWERS.get(self.path, (200, [], f"{self.command} {self.path}".encode()))
        self.send_response(status)
        for key, value in headers:
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _drip(self) -> None:
        """Headers at once, then one byte every 0.2 s for 3 s: never idle long enough for a read timeout."""
        self.send_response(200)
        self.send_header("Content-Length", "15")
        self.end_headers()
        for _ in range(15):
            self.wfile.write(b"x")
            self.wfile.flush()
            time.sleep(0.2)

    def do_GET(self) -> None:
        if self.path == "/drip":
            self._drip()
        else:
            self._handle()

    do_POST = do_DELETE = _handle


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


async def _send(method: str, url: str, content: str | None = None) -> dict[str, Any]:
    return await send(DurableHttpRequest(method, url, content, {}, None))


@pytest.mark.parametrize("path", ["/no-content", "/empty-ok"])
async def test_a_response_without_a_body_is_a_result(base_url: str, path: str) -> None:
    response = await _send("DELETE", base_url + path)
    assert response["statusCode"] == ANSWERS[path][0]
    assert response["content"] == ""


@pytest.mark.parametrize(
    ("path", "content"),
    [
        ("/latin-1", "café"),
        ("/lying-charset", "\ufffd ok \ufffd"),  # .NET's ReadAsStringAsync replaces what it cannot decode
        ("/unknown-charset", "ok"),
        ("/binary", "\ufffd\ufffd\x00A"),
        ("/bom", '{"a": 1}'),
    ],
)
async def test_content_is_decoded_as_dotnet_reads_it_never_an_error(
    base_url: str, path: str, content: str
) -> None:
    response = await _send("GET", base_url + path)
    assert response["statusCode"] == 200
    assert response["content"] == content


async def test_repeated_headers_are_arrays_as_in_durable_functions(base_url: str) -> None:
    response = await _send("GET", base_url + "/repeated")
    headers = response["headers"]
    assert headers["Set-Cookie"] == ["a=1; Expires=Wed, 21 Oct 2026 07:28:00 GMT", "b=2"]
    assert headers["X-One"] == "1"
    assert header(response, "x-one") == "1"


@pytest.mark.parametrize("path", ["/post-found", "/see-other"])
async def test_a_post_redirected_with_302_or_303_is_followed_with_a_get(base_url: str, path: str) -> None:
    response = await _send("POST", base_url + path, "body")
    assert (response["statusCode"], response["content"]) == (200, "GET /landing")


def test_a_relative_location_is_polled_at_the_absolute_url() -> None:
    request = DurableHttpRequest(
        "POST", "https://api.test/jobs/start?x=1", "{}", {"x-functions-key": "k", "A": "b"}
    )
    poll = request.poll("/jobs/1/status")
    assert (poll.method, poll.uri, poll.headers) == ("GET", "https://api.test/jobs/1/status", {"A": "b"})
    assert request.poll("status").uri == "https://api.test/jobs/status"
    assert request.poll("https://other.test/s").uri == "https://other.test/s"


@pytest.mark.parametrize("token", [None, "", 42, RuntimeError("no identity")])
async def test_a_token_that_cannot_be_had_fails_clearly_and_sends_nothing(
    base_url: str, token: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from durable_azure.errors import DurableHttpError
    from durable_azure.worker import durable_http

    def provider(scope: str) -> Any:
        if isinstance(token, Exception):
            raise token
        return token

    monkeypatch.setattr(durable_http, "_provider", provider)
    source = {"resource": "https://management.core.windows.net", "kind": "AzureManagedIdentity"}
    with pytest.raises(DurableHttpError, match=r"token for https://management.core.windows.net/.default"):
        await send(DurableHttpRequest("GET", base_url + "/echo", None, {}, source))


async def test_the_timeout_bounds_the_whole_request_as_httpclients_does(
    base_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """.NET's ``HttpClient.Timeout`` covers the whole answer, not each read: a server that drips
    its body never gets past it."""
    from durable_azure.errors import DurableHttpError
    from durable_azure.worker import durable_http

    monkeypatch.setattr(durable_http, "REQUEST_TIMEOUT_SECONDS", 1.0)
    started = time.monotonic()
    with pytest.raises(DurableHttpError, match="did not answer within 1 s"):
        await _send("GET", base_url + "/drip")
    assert time.monotonic() - started < 4


async def test_a_location_that_is_no_url_fails_the_poll_clearly_never_the_episode() -> None:
    """``urljoin`` raises for ``http://[::1``; the poll goes to the text as given and fails as a
    durable HTTP error, instead of an exception escaping the replay of the orchestration."""
    from durable_azure.errors import DurableHttpError, InvalidInputError
    from durable_azure.orchestration.durable_http import check_request

    request = DurableHttpRequest("GET", "https://api.test/jobs")
    poll = request.poll("http://[::1")
    assert poll.uri == "http://[::1"
    with pytest.raises(DurableHttpError, match="failed"):
        await send(poll)
    with pytest.raises(InvalidInputError, match="not an absolute"):
        check_request("GET", "http://[::1", None)
