"""The audit console in a real browser against a real server, with no request beyond loopback.

One server per module: acme writes a session through REST (values, an expired value, an image
user part, a conversation, a thread, a graph) and another through the websocket adapter; globex
writes its own. Each test signs in on a fresh page (the key lives in the tab's sessionStorage).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import quote

import httpx
import pytest
from playwright.sync_api import Page, expect
from websockets.sync.client import connect

from tests.adapters.rest.conftest import ACME_KEY, GLOBEX_KEY, bearer, config
from tests.adapters.rest.resources import GRAPH, THREAD, Objects, message, text
from tests.adapters.server import running_server
from tests.browser.conftest import OfflinePage
from tests.databases import SqliteDatabases

DEMO = "console-demo"
BULK = 60
"""Sessions written first (older activity): more than one page of the console's list (50)."""
SECRET = "globex-secret"
SHOTS = os.environ.get("SESSION_ENGINE_CONSOLE_SHOTS")
"""A folder to keep a screenshot of each view in (docs/console/ holds the README's); unset: none."""
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="


@dataclass
class Server:
    base: str
    ws_session: str

    def events(self, session: str, key: str = ACME_KEY) -> list[dict[str, object]]:
        url = f"{self.base}/api/sessions/{quote(session)}/events?limit=1000"
        response = httpx.get(url, headers=bearer(key))
        events: list[dict[str, object]] = response.json()["events"]
        return events


def _seed(base: str) -> str:
    with httpx.Client(base_url=base, headers=bearer(ACME_KEY), timeout=30) as acme:
        for n in range(BULK):
            assert acme.post(f"/v1/sessions/bulk-{n:02}/values", json={"key": "n", "value": n}).is_success
        values = f"/v1/sessions/{DEMO}/values"
        assert acme.post(values, json={"key": "greeting", "value": "hello"}).status_code == 204
        old = {"key": "token", "value": "t-1", "expiry": "2001-01-01T00:00:00Z"}
        assert acme.post(values, json=old).status_code == 204
        png = {"type": "bytes", "bytes": PNG, "mime_type": "image/png", "name": "dot.png"}
        image = {"part_type": "image", "data": png}
        assert acme.post(values, json={"key": "__user_part_pic", "value": image}).status_code == 204
        objects = Objects(acme, DEMO)
        objects.ok(objects.put("chat", {"type": "messages", "messages": [message("hi there")]}))
        objects.ok(objects.append("chat", [message("hello, human", role="assistant")]))
        objects.ok(objects.put("notes", THREAD))
        objects.ok(objects.post_item("notes", text("first note")), 201)
        objects.ok(objects.put("people", GRAPH))
        operations = [
            {"op": "add_vertex", "element_id": "ann", "labels": ["person"]},
            {"op": "add_vertex", "element_id": "bob", "labels": ["person"]},
            {"op": "add_edge", "element_id": "e1", "label": "knows", "from_id": "ann", "to_id": "bob"},
        ]
        objects.ok(objects.mutate("people", operations))
        assert acme.post(values, json={"key": "greeting", "value": "hello again"}).status_code == 204
    with httpx.Client(base_url=base, headers=bearer(GLOBEX_KEY), timeout=30) as globex:
        written = globex.post(f"/v1/sessions/{SECRET}/values", json={"key": "k", "value": "v"})
        assert written.status_code == 204
    with connect(base.replace("http", "ws") + "/ws") as ws:
        ws.send(json.dumps({"type": 0, "id": 1, "websocket_api_key": ACME_KEY, "client_id": "console-test"}))
        assert json.loads(ws.recv(timeout=10))["status"] == 1
        ws.send(json.dumps({"type": 12, "id": 2, "key": "from-ws", "value": "socket", "ttl": 600}))
        assert json.loads(ws.recv(timeout=10))["status"] == 1
    events = httpx.get(f"{base}/api/events?limit=1000", headers=bearer(ACME_KEY)).json()["events"]
    return next(e["stream"] for e in events if e["stream"].startswith("ws-"))


@pytest.fixture(scope="module")
def server(sqlite_databases: SqliteDatabases) -> Iterator[Server]:
    with running_server(sqlite_databases.fresh(), config(), migrate=False) as base:
        yield Server(base, _seed(base))


def sign_in(page: Page, server: Server, key: str) -> None:
    page.goto(f"{server.base}/console")
    page.fill("#api-key", key)
    page.click("#signin-form button")


def shot(page: Page, name: str) -> None:
    if SHOTS:
        page.set_viewport_size({"width": 1400, "height": 820})
        page.screenshot(path=os.path.join(SHOTS, f"{name}.png"))


def offline(offline_page: OfflinePage) -> None:
    assert offline_page.outside == [], "the console asked for something beyond loopback"


def test_a_wrong_key_is_refused_with_a_clear_message(server: Server, offline_page: OfflinePage) -> None:
    page = offline_page.page
    sign_in(page, server, "WRONG0123456789abcdef")
    expect(page.locator("#signin-error")).to_contain_text("That API key was refused: unknown API key")
    expect(page.locator("#app")).to_be_hidden()
    assert page.evaluate("sessionStorage.length") == 0
    shot(page, "sign-in-refused")
    offline(offline_page)


def test_sessions_are_listed_newest_first_page_by_page(server: Server, offline_page: OfflinePage) -> None:
    page = offline_page.page
    sign_in(page, server, ACME_KEY)
    sessions = page.locator("#sessions li")
    expect(sessions).to_have_count(50)
    expect(sessions.nth(2)).to_have_attribute("data-session", f"bulk-{BULK - 1:02}")
    page.click("#sessions-more")
    expect(sessions).to_have_count(BULK + 2)
    expect(page.locator("#sessions-more")).to_be_hidden()
    listed = [sessions.nth(n).get_attribute("data-session") for n in range(BULK + 2)]
    assert listed == [server.ws_session, DEMO, *(f"bulk-{n:02}" for n in reversed(range(BULK)))]
    offline(offline_page)


def test_sessions_are_searched_by_the_server(server: Server, offline_page: OfflinePage) -> None:
    """The search asks the server: sessions beyond the loaded page are found, and a search that
    finds nothing says so."""
    page = offline_page.page
    sign_in(page, server, ACME_KEY)
    sessions = page.locator("#sessions li")
    expect(sessions).to_have_count(50)
    page.fill("#session-search", "bulk-0")  # the oldest ten: not on the first page
    expect(sessions).to_have_count(10)
    assert [sessions.nth(n).get_attribute("data-session") for n in range(10)] == [
        f"bulk-{n:02}" for n in reversed(range(10))
    ]
    expect(page.locator("#sessions-more")).to_be_hidden()
    page.fill("#session-search", "nobody-")
    expect(sessions).to_have_count(0)
    expect(page.locator("#sessions-note")).to_have_text('No session id starts with "nobody-".')
    page.fill("#session-search", SECRET)  # another tenant's session: not in this namespace
    expect(page.locator("#sessions-note")).to_contain_text("No session id starts with")
    shot(page, "sessions-search")
    offline(offline_page)


def test_sessions_timeline_state_and_stepping(server: Server, offline_page: OfflinePage) -> None:
    page = offline_page.page
    sign_in(page, server, ACME_KEY)
    sessions = page.locator("#sessions li")
    expect(sessions.first).to_have_attribute("data-session", server.ws_session)  # newest activity first
    expect(page.locator(f'#sessions li[data-session="{DEMO}"]')).to_be_visible()
    page.click(f'#sessions li[data-session="{DEMO}"]')
    events = server.events(DEMO)
    rows = page.locator("#timeline li")
    expect(rows).to_have_count(len(events))
    expect(rows.nth(0).locator(".t")).to_have_text("value_set")
    expect(rows.nth(0).locator(".s")).to_contain_text('key="greeting", value="hello"')
    expect(rows.nth(0).locator(".who")).to_contain_text("acme via rest")

    rows.nth(0).click()
    detail = page.locator("#detail")
    expect(detail).to_contain_text("as of version 1")
    expect(detail.locator('tr[data-key="greeting"]')).to_contain_text("hello")
    page.keyboard.press("j")
    expect(detail).to_contain_text("as of version 2")
    expect(detail.locator('tr.expired[data-key="token"]')).to_contain_text("expired")
    page.keyboard.press("j")
    expect(detail.locator('img.part[alt="dot.png"]')).to_be_visible()
    page.keyboard.press("k")
    expect(detail).to_contain_text("as of version 2")

    rows.nth(len(events) - 1).click()  # the last event: every object drawn
    expect(detail.locator('[data-alias="chat"] .msg.user')).to_contain_text("hi there")
    expect(detail.locator('[data-alias="chat"] .msg.assistant')).to_contain_text("hello, human")
    expect(detail.locator('[data-alias="notes"] .item')).to_contain_text("first note")
    expect(detail.locator('[data-alias="people"] svg.graph g[data-vertex]')).to_have_count(2)
    expect(detail.locator('[data-alias="people"] svg.graph line[data-edge="e1"]')).to_have_count(1)
    expect(detail.locator('tr[data-key="greeting"]')).to_contain_text("hello again")
    shot(page, "state")

    page.select_option("#type-filter", "value_set")
    expect(rows).to_have_count(sum(e["type"] == "value_set" for e in events))
    page.fill("#jump", "2")
    page.click("#jump-form button")
    expect(page.locator("#timeline li.selected")).to_have_attribute("data-version", "2")
    third = events[2]["recorded_at"]  # an instant: the last event at or before it
    page.select_option("#type-filter", "")
    expect(rows).to_have_count(len(events))
    page.fill("#jump", str(third))
    page.click("#jump-form button")
    expect(page.locator("#timeline li.selected")).to_have_attribute("data-version", "3")
    expect(detail).to_contain_text("as of version 3")
    offline(offline_page)


def test_a_session_written_through_the_websocket_adapter(server: Server, offline_page: OfflinePage) -> None:
    page = offline_page.page
    sign_in(page, server, ACME_KEY)
    page.click(f'#sessions li[data-session="{server.ws_session}"]')
    row = page.locator('#timeline li[data-type="value_set"]')
    expect(row).to_contain_text('key="from-ws", value="socket"')
    expect(row.locator(".who")).to_contain_text("via websocket")
    row.click()
    expect(page.locator('#detail tr[data-key="from-ws"]')).to_contain_text("socket")
    shot(page, "sessions-and-timeline")
    offline(offline_page)


def test_diff_of_two_events_is_highlighted(server: Server, offline_page: OfflinePage) -> None:
    page = offline_page.page
    sign_in(page, server, ACME_KEY)
    page.click(f'#sessions li[data-session="{DEMO}"]')
    rows = page.locator("#timeline li")
    expect(rows).to_have_count(len(server.events(DEMO)))
    rows.nth(0).click()
    rows.last.click(modifiers=["Shift"])
    diff = page.locator("#detail .diff")
    expect(diff.locator('tr.changed[data-path="values / greeting"]')).to_contain_text("hello again")
    expect(diff.locator('tr.added[data-path="values / token"]')).to_contain_text("expired")
    expect(diff.locator('tr.added[data-path="objects / people"]')).to_contain_text("graph")
    shot(page, "diff")
    offline(offline_page)


def test_the_open_session_follows_new_events(server: Server, offline_page: OfflinePage) -> None:
    page = offline_page.page
    sign_in(page, server, ACME_KEY)
    page.click(f'#sessions li[data-session="{DEMO}"]')
    expect(page.locator("#live-status")).to_have_text("following")
    before = len(server.events(DEMO))
    with httpx.Client(base_url=server.base, headers=bearer(ACME_KEY)) as acme:
        acme.post(f"/v1/sessions/{DEMO}/values", json={"key": "arrived", "value": "live!"})
    arrived = page.locator("#timeline li.new")
    expect(arrived).to_have_count(1)
    expect(arrived).to_have_attribute("data-version", str(before + 1))
    expect(arrived).to_contain_text('key="arrived", value="live!"')
    shot(page, "live")
    offline(offline_page)


def test_the_chain_is_verified_on_request(server: Server, offline_page: OfflinePage) -> None:
    page = offline_page.page
    sign_in(page, server, ACME_KEY)
    page.click(f'#sessions li[data-session="{DEMO}"]')
    expect(page.locator("#timeline li").first).to_be_visible()
    page.click("#chain-verify")
    expect(page.locator("#chain.ok")).to_contain_text("chain intact to position")
    expect(page.locator("#chain")).to_contain_text(f"{DEMO}'s events are within it")
    offline(offline_page)


def test_export_is_the_session_as_json_lines(server: Server, offline_page: OfflinePage) -> None:
    page = offline_page.page
    sign_in(page, server, ACME_KEY)
    page.click(f'#sessions li[data-session="{DEMO}"]')
    expect(page.locator("#timeline li").first).to_be_visible()
    with page.expect_download() as download:
        page.click("#export")
    lines = open(download.value.path()).read().splitlines()  # noqa: SIM115
    assert [json.loads(line) for line in lines] == server.events(DEMO)
    assert download.value.suggested_filename == f"{DEMO}.jsonl"
    offline(offline_page)


def test_another_tenants_session_is_not_shown(server: Server, offline_page: OfflinePage) -> None:
    page = offline_page.page
    sign_in(page, server, GLOBEX_KEY)
    expect(page.locator(f'#sessions li[data-session="{SECRET}"]')).to_be_visible()
    assert page.locator(f'#sessions li[data-session="{DEMO}"]').count() == 0
    page.goto(f"{server.base}/console#s={DEMO}")
    page.reload()
    expect(page.locator("#timeline-note")).to_have_text("No events for this session in your namespace.")
    expect(page.locator("#timeline li")).to_have_count(0)
    offline(offline_page)


def test_the_sessions_list_follows_new_activity(server: Server, offline_page: OfflinePage) -> None:
    """Last in the module: it changes which sessions are newest."""
    page = offline_page.page
    sign_in(page, server, ACME_KEY)
    expect(page.locator("#sessions-live")).to_have_text("live")
    with httpx.Client(base_url=server.base, headers=bearer(ACME_KEY)) as acme:
        assert acme.post("/v1/sessions/bulk-03/values", json={"key": "n", "value": "again"}).is_success
        assert acme.post("/v1/sessions/brand-new/values", json={"key": "n", "value": 1}).is_success
    with httpx.Client(base_url=server.base, headers=bearer(GLOBEX_KEY)) as globex:
        assert globex.post("/v1/sessions/globex-live/values", json={"key": "n", "value": 1}).is_success
    first = page.locator("#sessions li").first
    expect(first).to_have_attribute("data-session", "brand-new")
    expect(page.locator("#sessions li").nth(1)).to_have_attribute("data-session", "bulk-03")
    expect(page.locator("#sessions li").nth(1)).to_contain_text("v2 · value_set")
    expect(page.locator('#sessions li[data-session="bulk-03"]')).to_have_count(1)
    expect(page.locator('#sessions li[data-session="globex-live"]')).to_have_count(0)
    offline(offline_page)
