"""The task-hub dashboard (``/durable/``) in a real browser: Debian's Chromium driven by Playwright.

``durable-azure serve`` runs tests/e2e/dashboard_app on its own task hub in Azurite. Before it
starts, 320 instance rows are written straight into ``{Hub}Instances`` (cheap: no orchestration
runs) with known names, statuses and times; then a handful of real orchestrations run (one fails in
an activity, one starts a sub-orchestration, three wait for an event, one has an XSS payload for
an id and input), a counter entity gets a signal (60 more counters are written as rows) and an
undecodable message becomes a poison message. The tests check that filtering, sorting and
paging return exactly the expected rows, that actions from the page change the instance, that
hostile values render as text, and save a screenshot of each page under ``test-artifacts/``
(with ``DURABLE_AZURE_DOCS_SCREENSHOTS=1`` also into ``docs/images/`` for the README).

Playwright drives /usr/bin/chromium through ``executable_path``: it never downloads a browser.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import shutil
import sys
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

import durable_azure as df
from durable_azure.orchestration.history import OrchestrationStatus
from durable_azure.storage.instance_table import InstanceUpdate
from durable_azure.storage.taskhub import TaskHubStorage

_HERE = Path(__file__).resolve().parent
if str(_HERE) not in sys.path:
    sys.path.insert(0, str(_HERE))
from serve_support import REPO, Server, delete_hub, start_server, wait_until  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")
playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is in the [dev] extra")
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="/usr/bin/chromium is not installed (run `make chromium`)"
    ),
]

APP_DIR = _HERE / "dashboard_app"
ARTIFACTS = REPO / "test-artifacts" / "dashboard"
DOCS_IMAGES = REPO / "docs" / "images"
CONNECTION = "UseDevelopmentStorage=true"
XSS_ID = "xss-\"'><img src=x onerror=alert(1)>"
XSS_INPUT = "<script>alert('input')</script>"
XSS_EVENT = "<img src=y onerror=alert(2)>"
T = TypeVar("T")


@dataclass(frozen=True)
class Seed:
    instance_id: str
    name: str
    status: str
    created: datetime
    updated: datetime


def seed_rows(now: datetime) -> list[Seed]:
    """300 rows created 11 to 56 minutes ago (last updated up to 10 minutes later, in another order)
    and 20 ``order-`` rows 2-3 hours old."""
    statuses = ["Completed", "Failed", "Terminated", "Running", "Completed"]
    base = now - timedelta(minutes=11)
    rows = []
    for i in range(300):
        created = base - timedelta(seconds=9 * i, milliseconds=i)
        updated = created + timedelta(seconds=(i * 37) % 600)
        rows.append(
            Seed(f"seed-{i:03d}", ("Alpha", "Beta", "Gamma")[i % 3], statuses[i % 5], created, updated)
        )
    for i in range(20):
        created = now - timedelta(hours=2, minutes=3 * i)
        rows.append(Seed(f"order-{i:02d}", "Delta", "Completed", created, created + timedelta(seconds=2)))
    return rows


def run(hub: str, work: Callable[[df.DurableOrchestrationClient], Awaitable[T]]) -> T:
    async def main() -> T:
        client = df.DurableOrchestrationClient.from_connection_string(CONNECTION, hub_name=hub)
        try:
            return await work(client)
        finally:
            await client.close()

    # A thread of its own: Playwright's sync API keeps an event loop running in this one.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, main()).result()


async def write_seed(storage: TaskHubStorage, rows: list[Seed]) -> None:
    await storage.create_if_not_exists()
    gate = asyncio.Semaphore(32)

    async def one(row: Seed) -> None:
        status = OrchestrationStatus[row.status]
        async with gate:
            await storage.instances.merge(
                row.instance_id,
                InstanceUpdate(
                    name=row.name,
                    version="",
                    status=status,
                    created_time=row.created,
                    last_updated_time=row.updated,
                    completed_time=row.updated if status.is_terminal else None,
                    input='{"seeded": true}',
                    execution_id=uuid.uuid4().hex,
                ),
            )

    await asyncio.gather(*(one(r) for r in rows))

    async def entity(index: int) -> None:  # a counter's row as the entity worker writes it
        state = json.dumps({"exists": True, "state": json.dumps(index)})
        async with gate:
            await storage.instances.merge(
                f"@counter@e-{index:02d}",
                InstanceUpdate(name="counter", status=OrchestrationStatus.Running, input=state),
            )

    await asyncio.gather(*(entity(i) for i in range(60)))


@dataclass
class Dashboard:
    server: Server
    hub: str
    seeds: list[Seed]

    def url(self, path: str = "/") -> str:
        return f"{self.server.base_url}/durable{path}"

    def status(self, instance_id: str) -> Any:
        return run(self.hub, lambda c: c.get_status(instance_id, show_input=True))

    def wait_status(self, instance_id: str, status: str, timeout: float = 30) -> Any:
        def check() -> Any:
            found = self.status(instance_id)
            return found if found and found.runtime_status.value == status else None

        return wait_until(check, timeout=timeout, interval=0.2, what=f"{instance_id} to be {status}")


@pytest.fixture(scope="module")
def dash(azurite: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    hub = "dash" + uuid.uuid4().hex[:12]
    seeds = seed_rows(datetime.now(timezone.utc))

    async def seed() -> None:
        storage = TaskHubStorage(CONNECTION, hub)
        try:
            await write_seed(storage, seeds)
        finally:
            await storage.close()

    asyncio.run(seed())
    server = start_server(tmp_path_factory.mktemp("dashboard"), hub, app_dir=APP_DIR)
    dashboard = Dashboard(server, hub, seeds)
    try:

        async def start(client: df.DurableOrchestrationClient) -> None:
            await client.start_new("Fails", "fail-1", "bad input")
            await client.start_new("Parent", "parent-1")
            for instance_id in ("wait-term", "wait-event", "wait-suspend"):
                await client.start_new("WaitForApproval", instance_id, {"order": instance_id})
            await client.start_new("WaitForApproval", XSS_ID, XSS_INPUT)
            await client.start_new("Sleeper", "sleep-1")
            await client.signal_entity(df.EntityId("Counter", "k1"), "add", 3)

        run(hub, start)

        async def poison(client: df.DurableOrchestrationClient) -> int:
            await client.storage.control_queue(1).send_text("not a durable message {")
            return 1

        run(hub, poison)  # the worker sets an undecodable message aside at once
        wait_until(lambda: run(hub, lambda c: c.storage.poison.count()) == 1, what="the poison message")
        dashboard.wait_status("fail-1", "Failed")
        dashboard.wait_status("parent-1", "Completed")
        for instance_id in ("wait-term", "wait-event", "wait-suspend", XSS_ID, "sleep-1"):
            wait_until(
                lambda i=instance_id: (s := dashboard.status(i)) and s.custom_status,  # type: ignore[misc]
                timeout=30,
                what=f"{instance_id} to wait",
            )
        wait_until(
            lambda: run(hub, lambda c: c.read_entity_state(df.EntityId("Counter", "k1"))).entity_exists,
            what="the counter entity",
        )
        yield dashboard
    finally:
        code = server.stop()
        delete_hub(hub)
        assert code == 0, f"serve exited with {code}:\n{server.log()[-3000:]}"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright_api.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"])
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    # bypass_csp: the XSS test must show that escaping alone keeps payloads inert (the page's
    # Content-Security-Policy, checked separately, would also block inline scripts), and Playwright's
    # wait_for_function evaluates strings, which that policy forbids.
    context = browser.new_context(viewport={"width": 1400, "height": 900}, bypass_csp=True)
    tab = context.new_page()
    tab.dialogs = []  # every alert or prompt the page opens, for the XSS checks

    def on_dialog(dialog: Any) -> None:
        if dialog.type != "confirm":  # our own confirmations are answered by submit()
            tab.dialogs.append((dialog.type, dialog.message))
            dialog.dismiss()

    tab.on("dialog", on_dialog)
    yield tab
    context.close()


def screenshot(page: Any, name: str, *, full_page: bool = True) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    target = ARTIFACTS / f"dashboard-{name}.png"
    page.screenshot(path=str(target), full_page=full_page)
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if os.environ.get("DURABLE_AZURE_DOCS_SCREENSHOTS") == "1":
        DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(target, DOCS_IMAGES / target.name)


def ids_on(page: Any) -> list[str]:
    return [
        str(v)
        for v in page.eval_on_selector_all("#instances tbody tr[data-id]", "rs => rs.map(r => r.dataset.id)")
    ]


def all_pages(page: Any, url: str, limit: int = 40) -> tuple[list[str], int]:
    page.goto(url)
    found, pages = ids_on(page), 1
    while page.locator("#next-page").count() and pages < limit:
        page.click("#next-page")
        page.wait_for_load_state()
        found += ids_on(page)
        pages += 1
    return found, pages


def newest_first(rows: list[Seed], key: Callable[[Seed], datetime]) -> list[str]:
    return [r.instance_id for r in sorted(rows, key=lambda r: (-key(r).timestamp(), r.instance_id))]


# ---------------------------------------------------------------------------- overview


def test_overview_counts_chart_partitions_and_workers(dash: Dashboard, page: Any) -> None:
    page.goto(dash.url("/"))
    expected: dict[str, int] = {}
    for row in dash.seeds:
        expected[row.status] = expected.get(row.status, 0) + 1
    expected["Failed"] += 1  # fail-1
    expected["Completed"] += 2  # parent-1 and its child
    expected["Running"] += 5  # the three waits, the XSS one and the sleeper
    for status, count in expected.items():
        shown = page.locator(f'#counts [data-status="{status}"] .count').inner_text()
        assert int(shown) == count, status
    assert int(page.locator("#count-all").inner_text()) == sum(expected.values())
    created = page.eval_on_selector_all(
        "#throughput rect.created", "rs => rs.reduce((n, r) => n + Number(r.dataset.value), 0)"
    )
    assert created == 300 + 8  # the order- rows are older than an hour
    completed = page.eval_on_selector_all(
        "#throughput rect.completed", "rs => rs.reduce((n, r) => n + Number(r.dataset.value), 0)"
    )
    terminal_seeds = sum(
        1 for r in dash.seeds if r.status != "Running" and not r.instance_id.startswith("order-")
    )
    assert completed == terminal_seeds + 3
    owners = page.eval_on_selector_all(
        "#partitions tr[data-partition*='control'] .owner", "cs => cs.map(c => c.textContent)"
    )
    assert len(owners) == 4 and len(set(owners)) == 1 and "no lease" not in owners[0]
    assert page.locator("#workers .worker").all_inner_texts() == [owners[0]]
    assert page.locator("#poison-count").inner_text() == "1"
    assert page.locator("#poison td").nth(1).inner_text() == f"{dash.hub.lower()}-control-01"
    screenshot(page, "overview")


# ---------------------------------------------------------------------------- instances list


def test_filter_by_status_and_name_pages_newest_first(dash: Dashboard, page: Any) -> None:
    wanted = [r for r in dash.seeds if r.status == "Failed" and r.name == "Beta"]
    found, pages = all_pages(page, dash.url("/instances?status=Failed&name=Beta&size=20"))
    assert found == newest_first(wanted, lambda r: r.created)
    assert (pages >= 2 and len(found) == len(wanted) == 20) or pages >= (len(wanted) + 19) // 20


def test_sort_by_last_updated(dash: Dashboard, page: Any) -> None:
    wanted = [r for r in dash.seeds if r.status == "Completed" and r.name == "Alpha"]
    found, _ = all_pages(page, dash.url("/instances?status=Completed&name=Alpha&sort=updated&size=20"))
    assert found == newest_first(wanted, lambda r: r.updated)
    assert found != newest_first(wanted, lambda r: r.created)  # the two orders differ in the seed


def test_id_prefix_in_instance_id_order(dash: Dashboard, page: Any) -> None:
    found, _ = all_pages(page, dash.url("/instances?prefix=order-&sort=id&size=20"))
    assert found == [f"order-{i:02d}" for i in range(20)]


def test_every_instance_once_across_pages(dash: Dashboard, page: Any) -> None:
    found, pages = all_pages(page, dash.url("/instances?size=100"))
    assert len(found) == len(set(found)) == len(dash.seeds) + 8
    assert pages == 4
    seeded = [i for i in found if i.startswith(("seed-", "order-"))]
    assert seeded == newest_first(dash.seeds, lambda r: r.created)


def test_time_range_from_the_form_lands_in_the_url(dash: Dashboard, page: Any) -> None:
    low = dash.seeds[0].created - timedelta(minutes=20)
    high = dash.seeds[0].created - timedelta(minutes=10)
    low, high = low.replace(microsecond=0), high.replace(microsecond=0)
    page.goto(dash.url("/instances"))
    page.fill("input[name=from]", low.strftime("%Y-%m-%dT%H:%M:%S"))
    page.fill("input[name=to]", high.strftime("%Y-%m-%dT%H:%M:%S"))
    page.check("input[name=status][value=Completed]")
    page.select_option("select[name=size]", "200")
    page.click("#filters button[type=submit]")
    page.wait_for_load_state()
    assert "from=" in page.url and "to=" in page.url and "status=Completed" in page.url
    wanted = [r for r in dash.seeds if r.status == "Completed" and low <= r.created <= high]
    assert len(wanted) > 10
    assert ids_on(page) == newest_first(wanted, lambda r: r.created)
    shared = page.url
    other = page.context.new_page()
    other.goto(shared)  # a bookmarked or shared link shows the same view
    assert ids_on(other) == ids_on(page)
    assert other.locator("input[name=status][value=Completed]").is_checked()
    other.close()


def test_live_refresh_keeps_scroll_and_selection(dash: Dashboard, page: Any) -> None:
    page.goto(dash.url("/instances?size=200"))
    row = page.locator('#instances tr[data-id="seed-010"]')
    row.locator("td.name").click()
    assert "selected" in (row.get_attribute("class") or "")
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, "instances", full_page=False)
    page.evaluate("window.scrollTo(0, 900)")
    page.evaluate("document.querySelector('#instances tbody tr').dataset.old = 'yes'")
    before = page.evaluate("window.scrollY")
    assert before > 0
    page.evaluate("window.durableDashboardRefresh()")
    page.wait_for_function("Number(document.body.dataset.refreshCount || 0) >= 1")
    assert page.evaluate("document.querySelector('#instances tbody tr').dataset.old") is None  # replaced
    assert page.evaluate("window.scrollY") == before
    assert "selected" in (page.locator('#instances tr[data-id="seed-010"]').get_attribute("class") or "")
    assert page.locator('#instances tr[data-id="seed-010"] input.select').is_checked()


def test_bad_filter_is_a_400_page(dash: Dashboard) -> None:
    response = httpx.get(dash.url("/instances?status=Sleeping"))
    assert response.status_code == 400 and "Unknown runtime status" in response.text
    response = httpx.get(dash.url("/instances?sort=created&token=garbage"))
    assert response.status_code == 400 and "Invalid page token" in response.text


# ---------------------------------------------------------------------------- instance page


def test_failure_details_and_history(dash: Dashboard, page: Any) -> None:
    page.goto(dash.url("/instances/fail-1"))
    assert page.locator("#instance-status .badge").inner_text() == "Failed"
    types = page.locator("#failure .error-type").all_inner_texts()
    assert types == ["ActivityFailedError", "ValueError"]
    assert "kaboom: bad input" in page.locator("#failure").inner_text()
    assert "in Boom" in page.locator("#failure pre.stack").nth(1).inner_text()
    assert page.locator("#input").inner_text() == '"bad input"'
    assert page.locator("#timeline [data-kind=activity]").count() == 1
    assert "TaskFailed" in page.locator("#history").inner_text()
    screenshot(page, "instance")


def test_pending_work_shows_the_timer(dash: Dashboard, page: Any) -> None:
    page.goto(dash.url("/instances/sleep-1"))
    pending = page.locator("#pending tbody tr")
    assert pending.count() == 1
    assert pending.locator("td").first.inner_text() == "timer"
    assert page.locator("#customStatus").inner_text() == '"sleeping for an hour"'
    page.goto(dash.url("/instances/wait-suspend"))
    assert "waits for an external event" in page.locator("#pending").inner_text()


def test_sub_orchestrations_are_linked_both_ways(dash: Dashboard, page: Any) -> None:
    page.goto(dash.url("/instances/parent-1"))
    page.click(".child-link")
    page.wait_for_load_state()
    assert page.locator("#instance-id").inner_text() == "parent-1-child"
    assert page.locator("#parent-link").inner_text() == "parent-1"
    page.click("#parent-link")
    page.wait_for_load_state()
    assert page.locator("#instance-id").inner_text() == "parent-1"


def submit(page: Any, action: str, *, accept: bool = True, fields: dict[str, str] | None = None) -> None:
    form = page.locator(f'form[data-action="{action}"]')
    for name, value in (fields or {}).items():
        form.locator(f'[name="{name}"]').fill(value)

    def answer(dialog: Any) -> None:
        if dialog.type == "confirm":
            dialog.accept() if accept else dialog.dismiss()

    page.once("dialog", answer)
    if accept:
        with page.expect_navigation():
            form.locator("button[type=submit]").click()
    else:
        form.locator("button[type=submit]").click()


def refreshed_badge(page: Any) -> str:
    """Refresh the page's live regions once (as its timer does) and read the status badge."""
    before = int(page.evaluate("Number(document.body.dataset.refreshCount || 0)"))
    page.evaluate("window.durableDashboardRefresh()")
    page.wait_for_function(f"Number(document.body.dataset.refreshCount || 0) > {before}")
    return str(page.locator("#instance-status .badge").inner_text())


def test_terminate_from_the_page(dash: Dashboard, page: Any) -> None:
    page.goto(dash.url("/instances/wait-term"))
    submit(page, "terminate", fields={"reason": "from the dashboard"})
    assert "Terminate requested" in page.locator("#notice").inner_text()
    status = dash.wait_status("wait-term", "Terminated")
    assert status.output == "from the dashboard"


def test_suspend_resume_and_raise_event_from_the_page(dash: Dashboard, page: Any) -> None:
    page.goto(dash.url("/instances/wait-suspend"))
    submit(page, "suspend")
    dash.wait_status("wait-suspend", "Suspended")
    # The open page catches up by itself (live refresh of its status, timeline and history).
    wait_until(lambda: refreshed_badge(page) == "Suspended", timeout=15, what="the page to show Suspended")
    assert "ExecutionSuspended" in page.locator("#history").inner_text()
    submit(page, "resume")
    dash.wait_status("wait-suspend", "Running")
    page.goto(dash.url("/instances/wait-event"))
    submit(page, "raise-event", fields={"event": "Approve", "data": '{"by": "dashboard"}'})
    assert "Raised event 'Approve'" in page.locator("#notice").inner_text()
    status = dash.wait_status("wait-event", "Completed")
    assert status.output == {"approved": {"by": "dashboard"}}


def test_a_refused_action_shows_the_error_plainly(dash: Dashboard, page: Any) -> None:
    page.goto(dash.url("/instances/parent-1"))
    submit(page, "rewind")
    problem = page.locator("#problem").inner_text()
    assert "409" in problem and "InvalidOperationError" in problem and "Only Failed instances" in problem
    page.goto(dash.url("/instances/parent-1"))
    submit(page, "raise-event", fields={"event": "Approve", "data": "{not json"})
    assert "not valid JSON" in page.locator("#problem").inner_text()


def test_dismissed_confirmation_does_nothing(dash: Dashboard, page: Any) -> None:
    page.goto(dash.url("/instances/seed-001"))
    submit(page, "purge", accept=False)
    assert page.url.endswith("/durable/instances/seed-001")
    assert dash.status("seed-001")


def test_restart_and_purge_from_the_page(dash: Dashboard, page: Any) -> None:
    page.goto(dash.url("/instances/fail-1"))
    submit(page, "restart")
    assert "Restarted as" in page.locator("#notice").inner_text()
    new_id = page.locator("#instance-id").inner_text()
    assert new_id != "fail-1" and dash.status(new_id).name == "Fails"
    page.goto(dash.url("/instances/seed-000"))
    submit(page, "purge")
    assert "/durable/instances" in page.url and "Purged seed-000" in page.locator("#notice").inner_text()
    assert not dash.status("seed-000")


# ---------------------------------------------------------------------------- safety


def test_hostile_id_input_and_event_name_render_as_text(dash: Dashboard, page: Any) -> None:
    from urllib.parse import quote

    page.goto(dash.url("/instances/" + quote(XSS_ID, safe="")))
    submit(page, "raise-event", fields={"event": XSS_EVENT, "data": '"<b>bold</b>"'})
    wait_until(
        lambda: any(
            getattr(e, "name", "") == XSS_EVENT for e in run(dash.hub, lambda c: c.get_history(XSS_ID))
        ),
        what="the hostile event in the history",
    )
    page.reload()
    assert page.locator("#instance-id").inner_text() == XSS_ID
    assert page.locator("#input").inner_text() == f'"{XSS_INPUT}"'
    assert XSS_EVENT in page.locator("#history").inner_text()
    page.goto(dash.url("/instances?prefix=xss-&sort=id"))
    assert ids_on(page) == [XSS_ID]
    assert page.locator("#instances a.id").inner_text() == XSS_ID
    for url in (dash.url("/instances/" + quote(XSS_ID, safe="")), dash.url("/instances?prefix=xss-")):
        page.goto(url)
        assert page.evaluate("document.querySelectorAll('main img, main script, main b').length") == 0
    assert page.dialogs == [], page.dialogs  # no alert() ran (the confirm came from our own form)


def test_posts_without_the_token_or_from_another_site_are_refused(dash: Dashboard) -> None:
    target = dash.url("/instances/wait-suspend/terminate")
    response = httpx.post(target, data={"confirmed": "1"})
    assert response.status_code == 403
    with httpx.Client() as http:
        http.get(dash.url("/"))
        token = http.cookies.get("durable_dashboard_csrf")
        assert token
        response = http.post(
            target, data={"csrf": token, "confirmed": "1"}, headers={"Origin": "https://evil.example"}
        )
        assert response.status_code == 403
        response = http.post(target, data={"csrf": "forged" * 8, "confirmed": "1"})
        assert response.status_code == 403
    assert dash.status("wait-suspend").runtime_status.value == "Running"
    page = httpx.get(dash.url("/"))
    assert "script-src 'self'" in page.headers["content-security-policy"]
    for asset in ("/", "/static/dashboard.css", "/static/dashboard.js"):
        text = httpx.get(dash.url(asset)).text
        assert "https://" not in text and "http://" not in text, asset  # nothing from the network


def test_bulk_purge_of_the_selected_rows_reports_each(dash: Dashboard, page: Any) -> None:
    page.goto(dash.url("/instances?prefix=seed-29&sort=id"))
    for instance_id in ("seed-290", "seed-291", "seed-293"):  # Completed, Failed, Running
        page.locator(f'#instances tr[data-id="{instance_id}"] td.name').click()
    assert page.locator("#selection-count").inner_text() == "3 selected"
    page.once("dialog", lambda d: d.accept() if "(3 selected)" in d.message else d.dismiss())
    with page.expect_navigation():
        page.click('#bulk button[value="purge"]')
    notice = page.locator("#notice").inner_text()
    assert "Purge selected: 2 of 3 done." in notice and "seed-293: Instance 'seed-293' is Running" in notice
    assert "prefix=seed-29" in page.url  # back on the same list
    assert [i for i in ids_on(page) if i in ("seed-290", "seed-291", "seed-293")] == ["seed-293"]
    assert not dash.status("seed-290") and not dash.status("seed-291")


# ---------------------------------------------------------------------------- entities


def test_entities_list_state_signal_and_delete(dash: Dashboard, page: Any) -> None:
    page.goto(dash.url("/entities?name=Counter&key=e-"))
    keys = page.locator("#entities td.key").all_inner_texts()
    page.click("#next-page")
    page.wait_for_load_state()
    keys += page.locator("#entities td.key").all_inner_texts()
    assert keys == [f"e-{i:02d}" for i in range(60)]  # 50 on the first page, 10 on the second
    assert page.locator("#next-page").count() == 0
    page.goto(dash.url("/entities?name=Counter&key=k"))
    assert page.locator("#entities td.key").all_inner_texts() == ["k1"]
    screenshot(page, "entities")
    page.click("#entities a")
    page.wait_for_load_state()
    assert page.locator("#entity-state").inner_text() == "3"
    submit(page, "signal", fields={"operation": "add", "data": "4"})
    assert "Signalled 'add'" in page.locator("#notice").inner_text()

    def state() -> str:
        page.reload()
        return str(page.locator("#entity-state").inner_text())

    wait_until(lambda: state() == "7", what="the counter to reach 7")
    screenshot(page, "entity")
    submit(page, "delete")
    wait_until(lambda: "does not exist" in state(), what="the entity to be deleted")
