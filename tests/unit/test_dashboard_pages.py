"""The dashboard's pure parts: URL filters, page tokens, escaping, links that keep the key, CSRF checks."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from starlette.requests import Request

from durable_azure.cli.demo import dashboard_hint
from durable_azure.dashboard import csrf
from durable_azure.dashboard.html import Links, json_block, page
from durable_azure.dashboard.pages import filter_params, parse_filter
from durable_azure.dashboard.queries import InstanceFilter, decode_cursor, encode_cursor
from durable_azure.errors import InvalidInputError
from durable_azure.orchestration.history import OrchestrationStatus


def test_filters_round_trip_through_the_url() -> None:
    query = {
        "status": ["Failed", "Running"],
        "name": ["Beta"],
        "prefix": ["order-"],
        "from": ["2024-05-01T10:00:00"],
        "to": ["2024-05-01T11:30:00Z"],
        "sort": ["updated"],
        "size": ["20"],
    }
    filters = parse_filter(query)
    assert filters.statuses == (OrchestrationStatus.Failed, OrchestrationStatus.Running)
    assert filters.created_from == datetime(2024, 5, 1, 10, tzinfo=timezone.utc)
    assert filters.created_to == datetime(2024, 5, 1, 11, 30, tzinfo=timezone.utc)
    again: dict[str, list[str]] = {}
    for key, value in filter_params(filters):
        again.setdefault(key, []).append(value)
    assert parse_filter(again) == filters


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"status": ["Sleeping"]}, "Unknown runtime status"),
        ({"sort": ["name"]}, "sort must be one of"),
        ({"size": ["7"]}, "size must be one of"),
        ({"from": ["yesterday"]}, "from must be a date"),
    ],
)
def test_bad_filters_say_what_is_wrong(query: dict[str, list[str]], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        parse_filter(query)


def test_name_filter_is_an_escaped_odata_literal() -> None:
    odata = InstanceFilter(name="O'Brien", id_prefix="x").odata() or ""
    assert "(Name eq 'O''Brien')" in odata and "PartitionKey ge 'x'" in odata
    assert "PartitionKey lt '@'" in odata  # entities never show in the instances list


def test_time_cursor_round_trips_and_rejects_garbage() -> None:
    moment = datetime(2024, 5, 1, 10, 0, 0, 123456, tzinfo=timezone.utc)
    assert decode_cursor(encode_cursor(moment, "a<b")) == (moment, "a<b")
    for bad in ("garbage", "t.!!!", "t.eyJ4IjoxfQ=="):
        with pytest.raises(InvalidInputError, match="Invalid page token"):
            decode_cursor(bad)


def test_links_keep_the_key_and_encode_ids() -> None:
    links = Links("/api/durable", "K&Y")
    assert links.instance("a b/c") == "/api/durable/instances/a%20b%2Fc?code=K%26Y"
    assert links.url("/instances", [("status", "Failed"), ("name", "")]) == (
        "/api/durable/instances?status=Failed&code=K%26Y"
    )
    assert Links("/durable").url("/") == "/durable/"


def test_values_are_escaped() -> None:
    html = page(
        Links("/durable"),
        title="<t>",
        hub="h<1>",
        body=json_block({"k": "<script>"}),
        active="overview",
        problem="<img src=x>",
    )
    assert "<script>" not in html.split("</head>")[1]
    assert "&lt;img src=x&gt;" in html and "h&lt;1&gt;" in html and "&lt;t&gt;" in html


def _request(headers: dict[str, str], cookie: str | None = None) -> Request:
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    if cookie:
        raw.append((b"cookie", f"{csrf.COOKIE}={cookie}".encode()))
    return Request({"type": "http", "method": "POST", "path": "/", "headers": raw, "query_string": b""})


def test_csrf_needs_the_cookie_token_and_the_same_origin() -> None:
    token = "t" * 43
    same = {"host": "127.0.0.1:7071", "origin": "http://127.0.0.1:7071"}
    assert csrf.check(_request(same, token), token) is None
    assert "token" in (csrf.check(_request(same, token), "u" * 43) or "")
    assert "token" in (csrf.check(_request(same), token) or "")
    assert "another site" in (
        csrf.check(_request({**same, "origin": "https://evil.example"}, token), token) or ""
    )
    assert "another site" in (csrf.check(_request({"sec-fetch-site": "cross-site"}, token), token) or "")


def test_demo_ends_with_the_dashboard_url() -> None:
    hint = dashboard_hint("http://127.0.0.1:7071", "abc", azurite_stopped=False)
    assert hint.splitlines()[1] == "Dashboard: http://127.0.0.1:7071/durable/"
    assert "http://127.0.0.1:7071/durable/instances/abc" in hint
