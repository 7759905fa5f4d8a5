"""The dashboard's answers to hostile or extreme input, over a real task hub in Azurite.

The dashboard's ASGI app is driven in-process (Starlette's TestClient) with a client on a fresh hub
holding a few Pending instances (started with no worker running). Each case here was a 500 or a
wrong refusal found by reviewing the dashboard as a user; every page must be a clear 2xx/4xx.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import json
import re
from collections.abc import Iterator
from html import unescape
from urllib.parse import urlencode

import pytest
from starlette.testclient import TestClient

from durable_azure.client import DurableOrchestrationClient
from durable_azure.dashboard import create_dashboard_app, csrf
from durable_azure.functions.api_support import storage_unavailable
from durable_azure.storage.taskhub import TaskHubStorage

IDS = [f"h-{i:03d}" for i in range(60)]
FORM = {"content-type": "application/x-www-form-urlencoded"}


@pytest.fixture
def dashboard(azurite: str, hub_name: str) -> Iterator[TestClient]:
    async def prepare() -> None:
        client = DurableOrchestrationClient(TaskHubStorage(azurite, hub_name))
        try:
            await client.storage.create_if_not_exists()
            gate = asyncio.Semaphore(16)

            async def start(instance_id: str) -> None:
                async with gate:
                    await client.start_new("Anything", instance_id, {"i": instance_id})

            await asyncio.gather(*(start(i) for i in IDS))
        finally:
            await client.close()

    async def drop() -> None:
        storage = TaskHubStorage(azurite, hub_name)
        try:
            await storage.delete()
        finally:
            await storage.close()

    asyncio.run(prepare())
    storage = TaskHubStorage(azurite, hub_name)  # one for every request, as the host keeps one
    app = create_dashboard_app(lambda: DurableOrchestrationClient(storage), unavailable=storage_unavailable)
    try:
        with TestClient(app, base_url="http://127.0.0.1:7071") as client:
            try:
                yield client
            finally:
                client.portal.call(storage.close)  # its sessions live on the app's event loop
    finally:
        asyncio.run(drop())


def listed_ids(html: str) -> list[str]:
    return [unescape(i) for i in re.findall(r'<tr data-id="([^"]*)"', html)]


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "the page has no form token"
    return match.group(1)


def cursor(moment: str) -> str:
    data = json.dumps({"t": moment, "id": "x"}).encode()
    return "t." + base64.urlsafe_b64encode(data).decode()


def test_time_ranges_at_the_ends_of_the_calendar_are_answered_not_500(dashboard: TestClient) -> None:
    # A 'to' in year 9999 walks back through ever wider windows; it used to leave datetime's range.
    for sort in ("created", "updated"):
        response = dashboard.get("/instances", params={"sort": sort, "to": "9999-12-31T23:59", "size": "100"})
        assert response.status_code == 200, response.text[-500:]
        assert sorted(listed_ids(response.text)) == IDS, sort
    # Before anything Azure Tables can hold, or an offset that leaves the calendar: a clear 400
    # (strftime writes year 1 as "1-01-01", which neither Azure Tables nor the next-page link reads).
    for key, value in (
        ("to", "0001-01-01T00:00"),
        ("from", "0001-01-01T00:00"),
        ("to", "0001-01-01T00:30+01:00"),
    ):
        refused = dashboard.get("/instances", params={key: value})
        assert refused.status_code == 400, (key, value, refused.text[-500:])
        assert "1601-01-01" in unescape(refused.text) or "date and time" in unescape(refused.text)
    start = dashboard.get("/instances", params={"from": "1601-01-01T00:00", "size": "100"})
    assert start.status_code == 200 and sorted(listed_ids(start.text)) == IDS
    # A forged page token at the calendar's edge is a 400 naming the token, never a 500.
    for moment in ("0001-01-01T00:30:00+01:00", "0001-01-01T00:00:00Z"):
        forged = dashboard.get("/instances", params={"token": cursor(moment)})
        assert forged.status_code in (200, 400), (moment, forged.text[-500:])
        assert "Something went wrong" not in forged.text


def test_a_bulk_action_on_more_than_fifty_selected_rows_is_read(dashboard: TestClient) -> None:
    # The list offers up to 200 rows a page with "select all" and MAX_BULK is 200; the form reader
    # used to refuse more than 50 fields ("Unreadable form: Max number of fields exceeded").
    page = dashboard.get("/instances", params={"size": "100", "sort": "id"})
    assert page.status_code == 200 and len(listed_ids(page.text)) == len(IDS)
    form = [("csrf", csrf_of(page.text)), ("action", "terminate"), ("back", "/instances")]
    form += [("instance", i) for i in IDS]
    confirm = dashboard.post("/bulk", content=urlencode(form), headers=FORM)
    assert confirm.status_code == 200, confirm.text[-500:]
    assert f"({len(IDS)})" in confirm.text
    confirmed = urlencode([*form, ("confirmed", "1")])
    done = dashboard.post("/bulk", content=confirmed, headers=FORM, follow_redirects=False)
    assert done.status_code == 303, done.text[-500:]
    assert "60%20of%2060%20done" in done.headers["location"]


async def test_the_overview_reads_a_bounded_number_of_rows_and_says_so(azurite: str, hub_name: str) -> None:
    # The overview refreshes itself every 5 s; on a hub of millions of instances it used to read
    # every row for its counts each time. Now each count stops at a cap and the page says so.
    from durable_azure.dashboard.html import Links
    from durable_azure.dashboard.overview import read_overview
    from durable_azure.dashboard.pages import render_overview

    client = DurableOrchestrationClient(TaskHubStorage(azurite, hub_name))
    try:
        await client.storage.create_if_not_exists()
        await asyncio.gather(*(client.start_new("Anything", i) for i in IDS[:30]))
        capped = await read_overview(client.storage, row_cap=12)
        assert capped.total == 12 and capped.counts_partial
        assert sum(capped.created_per_minute) == 12 and capped.series_partial
        html = unescape(render_overview(capped, Links("", None)))
        assert '<span class="count" id="count-all">12+</span>' in html
        assert "more than 12 instances: these counts are of the first 12" in html
        assert "the chart shows the first 12" in html

        whole = await read_overview(client.storage, row_cap=100)
        assert whole.counts == {"Pending": 30} and not whole.counts_partial and not whole.series_partial
        assert sum(whole.created_per_minute) == 30
        html = render_overview(whole, Links("", None))
        assert '<span class="count" id="count-all">30</span>' in html and "counts-partial" not in html
    finally:
        await client.storage.delete()
        await client.close()


def test_a_notice_shows_only_when_the_dashboard_wrote_it(dashboard: TestClient) -> None:
    # Notices travel in the redirect's URL; anyone could link to a page with a notice of their own
    # ("session expired, sign in at ...") that the dashboard displayed as its own status line.
    forged = "Your key expired: sign in again at https://evil.example"
    page = dashboard.get("/instances", params={"notice": forged})
    assert page.status_code == 200 and "evil.example" not in page.text and 'id="notice"' not in page.text

    form = urlencode({"csrf": csrf_of(page.text), "confirmed": "1", "reason": "review"})
    done = dashboard.post("/instances/h-000/terminate", content=form, headers=FORM, follow_redirects=False)
    assert done.status_code == 303, done.text[-500:]
    shown = dashboard.get(done.headers["location"])
    assert '<div class="notice" role="status" id="notice">Terminate requested.</div>' in shown.text
    tampered = done.headers["location"].replace("Terminate%20requested.", "Sign%20in%20at%20evil.example")
    assert "evil.example" not in dashboard.get(tampered).text


def test_odd_numbers_in_the_url_get_our_message_not_pythons(dashboard: TestClient) -> None:
    # '²' passes str.isdigit() but not int(); 5,000 digits exceed int()'s limit: both used to show
    # Python's own error ("invalid literal for int() with base 10") as the page's message.
    for path in ("/instances", "/entities"):
        for page in ("\u00b2", "9" * 5000, "-3", "0"):
            response = dashboard.get(path, params={"page": page})
            assert response.status_code == 200, (path, page[:10], response.text[-300:])
            assert "Page 1" in response.text
    for size in ("\u00b2", "9" * 5000):
        response = dashboard.get("/instances", params={"size": size})
        assert response.status_code == 400 and "size must be one of 20, 50, 100, 200" in unescape(
            response.text
        )
        assert "int()" not in response.text


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ("1" + "0" * 5000, "number too long"),
        ("{bad", "not valid JSON"),
    ],
    ids=["deep", "long-int", "malformed"],
)
def test_hostile_json_bodies_are_a_400_with_the_reason(
    dashboard: TestClient, body: str, message: str
) -> None:
    # A deeply nested body raised RecursionError out of json.loads: a 500 page. A 5,000-digit
    # number showed Python's advice to call sys.set_int_max_str_digits().
    page = dashboard.get("/instances/h-001")
    token = csrf_of(page.text)
    event = urlencode({"csrf": token, "confirmed": "1", "event": "Approve", "data": body})
    raised = dashboard.post("/instances/h-001/raise-event", content=event, headers=FORM)
    assert raised.status_code == 400, raised.text[-500:]
    assert message in unescape(raised.text) and "set_int_max_str_digits" not in raised.text
    signal = urlencode({"csrf": token, "confirmed": "1", "op": "signal", "operation": "add", "data": body})
    signalled = dashboard.post("/entities/action", params={"id": "@counter@k"}, content=signal, headers=FORM)
    assert signalled.status_code == 400, signalled.text[-500:]
    assert message in unescape(signalled.text)


async def test_the_overview_counts_poison_messages_up_to_the_cap_and_lists_them_only_when_few(
    azurite: str, hub_name: str
) -> None:
    # It read every poison record (and sorted them all) on each refresh to show 20 of them.
    from durable_azure.dashboard.html import Links
    from durable_azure.dashboard.overview import read_overview
    from durable_azure.dashboard.pages import render_overview

    storage = TaskHubStorage(azurite, hub_name)
    try:
        await storage.create_if_not_exists()
        none = await read_overview(storage, row_cap=3)  # no poison table yet: none, not a 404
        assert none.poison_count == 0 and not none.poison_partial
        for i in range(5):
            await storage.poison.put(
                queue=f"{hub_name}-control-00", message_id=f"m{i}", reason="bad", body="{", dequeue_count=1
            )
        few = await read_overview(storage, row_cap=10)
        assert few.poison_count == 5 and not few.poison_partial and len(few.poison) == 5
        many = await read_overview(storage, row_cap=3)
        assert many.poison_count == 3 and many.poison_partial and many.poison == []
        html = render_overview(many, Links("/durable"))
        assert '<span class="pill" id="poison-count">3+</span>' in html
        assert (
            "too many to read on every refresh" in html and "<code>durable-azure poison list</code>" in html
        )
    finally:
        await storage.delete()
        await storage.close()


def test_a_finished_instance_page_does_not_refresh_itself(
    dashboard: TestClient, azurite: str, hub_name: str
) -> None:
    # A finished instance's page re-read its whole history every 5 s (1.7 MB for 2,000 activities)
    # although nothing changes without an action, which reloads the page anyway.
    from durable_azure.orchestration.history import OrchestrationStatus
    from durable_azure.storage.instance_table import InstanceUpdate

    async def finish() -> None:
        storage = TaskHubStorage(azurite, hub_name)
        try:
            await storage.instances.merge(
                "h-002", InstanceUpdate(name="Anything", status=OrchestrationStatus.Completed, output="1")
            )
        finally:
            await storage.close()

    running = dashboard.get("/instances/h-003")
    assert (
        running.status_code == 200
        and 'data-refresh="5"' in running.text
        and 'id="live-toggle"' in running.text
    )
    asyncio.run(finish())
    finished = dashboard.get("/instances/h-002")
    assert finished.status_code == 200 and "Completed" in finished.text
    assert 'data-refresh="0"' in finished.text and 'id="live-toggle"' not in finished.text
    # Right after an action (a rewind's redirect: the instance is still Failed) the page follows
    # it again: a notice signed for this browser, as the redirect carries it.
    token = dashboard.cookies.get(csrf.COOKIE)
    assert token
    mac = hmac.new(token.encode(), b"Rewind requested.", "sha256").hexdigest()[:32]
    after = dashboard.get("/instances/h-002", params={"notice": "Rewind requested.", "ns": mac})
    assert 'id="notice"' in after.text and 'data-refresh="5"' in after.text


def test_filter_values_longer_than_any_key_are_a_400_and_the_longest_allowed_ones_work(
    dashboard: TestClient,
) -> None:
    # A 20,000-character prefix, name or entity key went into the Azure Tables query URL, which
    # storage refused ("Request Header Fields Too Large"): a 500 page.
    long = "k" * 20_000
    wide = "\u2713" * 400  # 1,200 bytes of UTF-8: longer than any key in bytes
    for path, key in (
        ("/instances", "prefix"),
        ("/instances", "name"),
        ("/entities", "key"),
        ("/entities", "name"),
    ):
        for value in (long, wide):
            params = {key: value, "sort": "id"} if path == "/instances" else {"name": "counter", key: value}
            response = dashboard.get(path, params=params)
            assert response.status_code == 400, (path, key, response.text[-300:])
            assert "longer than 1,024 bytes" in unescape(response.text)
    limit = "\u2713" * 341  # 1,023 bytes: allowed, and storage answers it
    for sort in ("id", "created"):
        for key in ("prefix", "name"):
            response = dashboard.get("/instances", params={key: limit, "sort": sort})
            assert response.status_code == 200 and listed_ids(response.text) == [], (
                sort,
                key,
                response.text[-300:],
            )
    entities = dashboard.get("/entities", params={"name": limit, "key": limit})
    assert entities.status_code == 200, entities.text[-300:]


def test_a_key_prefix_without_an_entity_name_is_not_silently_ignored(dashboard: TestClient) -> None:
    # list_entities filters by key only within a name; a key alone listed every entity as if the
    # filter had matched them.
    alone = dashboard.get("/entities", params={"key": "abc"})
    assert alone.status_code == 200
    assert "The key prefix filters only together with an entity name" in unescape(alone.text)
    named = dashboard.get("/entities", params={"key": "abc", "name": "counter"})
    assert named.status_code == 200 and 'id="problem"' not in named.text
