"""`/console/live`, the console's follow of one session: the hello frame, refusals, isolation, order."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from websockets.sync.client import ClientConnection, connect

from tests.adapters.rest.conftest import ACME_KEY, GLOBEX_KEY, bearer, config
from tests.adapters.server import close_frame, running_server
from tests.databases import SqliteDatabases


@pytest.fixture(scope="module")
def base(sqlite_databases: SqliteDatabases) -> Iterator[str]:
    with running_server(sqlite_databases.fresh(), config(), migrate=False) as url:
        yield url


def live(base: str) -> ClientConnection:
    return connect(base.replace("http", "ws") + "/console/live")


def write(base: str, key: str, session: str, name: str) -> None:
    response = httpx.post(
        f"{base}/v1/sessions/{session}/values", json={"key": name, "value": name}, headers=bearer(key)
    )
    assert response.status_code == 204


def frame(ws: ClientConnection) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(ws.recv(timeout=10))
    return document


def test_catch_up_then_live_in_order(base: str) -> None:
    write(base, ACME_KEY, "followed", "a")
    write(base, ACME_KEY, "other", "x")
    with live(base) as ws:
        ws.send(json.dumps({"api_key": ACME_KEY, "session_id": "followed", "after": 0}))
        assert frame(ws) == {"following": True}
        catch_up = frame(ws)
        first = catch_up["event"]
        assert catch_up["summary"].startswith('value_set key="a", value="a"')
        assert (first["stream"], first["version"], first["data"]["key"]) == ("followed", 1, "a")
        write(base, ACME_KEY, "other", "y")
        write(base, ACME_KEY, "followed", "b")
        second = frame(ws)["event"]
        assert (second["stream"], second["version"], second["data"]["key"]) == ("followed", 2, "b")
        assert second["position"] > first["position"]
        assert second["metadata"]["actor"] == "acme"


def test_another_tenants_session_delivers_nothing(base: str) -> None:
    write(base, ACME_KEY, "acme-only", "secret")
    with live(base) as ws:
        ws.send(json.dumps({"api_key": GLOBEX_KEY, "session_id": "acme-only", "after": 0}))
        assert frame(ws) == {"following": True}
        write(base, ACME_KEY, "acme-only", "more")
        write(base, GLOBEX_KEY, "acme-only", "own")  # globex's own session of that name
        event = frame(ws)["event"]
        assert event["data"]["key"] == "own" and event["metadata"]["actor"] == "globex"


def test_following_the_namespace_sends_each_changed_session(base: str) -> None:
    """The sessions list's follow: every session of the tenant's namespace as it changes, in log
    order, in the shape GET /api/sessions lists it; another tenant's writes never arrive."""
    with live(base) as ws:
        head = httpx.get(f"{base}/api/sessions", params={"limit": 1}, headers=bearer(ACME_KEY)).json()
        after = head["sessions"][0]["last_position"] if head["sessions"] else 0
        ws.send(json.dumps({"api_key": ACME_KEY, "session_id": None, "after": after}))
        assert frame(ws) == {"following": True}
        write(base, GLOBEX_KEY, "listed-b", "theirs")
        write(base, ACME_KEY, "listed-a", "one")
        write(base, ACME_KEY, "listed-b", "two")
        write(base, ACME_KEY, "listed-a", "three")
        got = [frame(ws)["session"] for _ in range(3)]
        assert [(s["session_id"], s["version"], s["last_type"]) for s in got] == [
            ("listed-a", 1, "value_set"),
            ("listed-b", 1, "value_set"),
            ("listed-a", 2, "value_set"),
        ]
        listed = httpx.get(f"{base}/api/sessions", params={"limit": 2}, headers=bearer(ACME_KEY)).json()
        assert listed["sessions"] == [got[2], got[1]]


@pytest.mark.parametrize(
    ("hello", "code", "reason"),
    [
        ({"api_key": "WRONG0123456789abcdef", "session_id": "s", "after": 0}, 4401, "unknown API key"),
        ({"api_key": "", "session_id": "s", "after": 0}, 4401, "the API key is empty"),
        ({"api_key": ACME_KEY, "session_id": "s"}, 4400, "first frame"),
        ({"api_key": ACME_KEY, "session_id": "s", "after": "0"}, 4400, "first frame"),
        ({"api_key": ACME_KEY, "session_id": "", "after": 0}, 4400, "first frame"),
        ({"api_key": ACME_KEY, "session_id": "s\u0000", "after": 0}, 4400, ""),
        ({"api_key": ACME_KEY, "session_id": "s", "after": 2**63}, 4400, ""),
        ("not json", 4400, "first frame"),
        (b"{}", 4400, "first frame"),
    ],
)
def test_a_bad_hello_is_refused(base: str, hello: Any, code: int, reason: str) -> None:
    with live(base) as ws:
        ws.send(hello if isinstance(hello, str | bytes) else json.dumps(hello))
        closed = close_frame(ws, timeout=10)
        assert closed[0] == code and reason in closed[1], closed
