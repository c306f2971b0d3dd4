"""What the engine recorded, read back through the same server's REST audit routes.

The websocket protocol never names its session id, so these look the session up by the unique
`client_id` its Initialize recorded (`connection_session_opened`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import httpx

from tests.adapters.websocket.conftest import ACME_KEY

T = TypeVar("T")


def http_base(ws_url: str) -> str:
    """`ws://host:port/ws` -> `http://host:port`."""
    return ws_url.replace("ws://", "http://").removesuffix("/ws")


def _get(ws_url: str, path: str, key: str, **params: Any) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {key}"}
    response = httpx.get(http_base(ws_url) + path, params=params, headers=headers, timeout=10)
    assert response.status_code == 200, response.text
    document: dict[str, Any] = response.json()
    return document


def session_id_for(ws_url: str, client_id: str, key: str = ACME_KEY) -> str:
    """The engine session a connection opened with this (test-unique) client id."""
    after = 0
    while True:
        page = _get(ws_url, "/api/events", key, type="connection_session_opened", after=after)
        for event in page["events"]:
            if event["data"].get("client_id") == client_id:
                stream: str = event["stream"]
                return stream
        if page["next_after"] is None:
            raise AssertionError(f"no session was opened for client id {client_id!r}")
        after = page["next_after"]


def session_events(ws_url: str, session_id: str, key: str = ACME_KEY) -> list[dict[str, Any]]:
    """Every event of the session, with its metadata (REST history, paged)."""
    events: list[dict[str, Any]] = []
    version = 1
    while True:
        page = _get(ws_url, f"/api/sessions/{session_id}/events", key, from_version=version)
        events += page["events"]
        if page["next_version"] is None:
            return events
        version = page["next_version"]


def session_values(ws_url: str, session_id: str, key: str = ACME_KEY) -> dict[str, Any]:
    values: dict[str, Any] = _get(ws_url, f"/v1/sessions/{session_id}/values", key)["values"]
    return values


def eventually(probe: Callable[[], T | None], timeout: float = 10.0) -> T:
    """The first non-None result of `probe` (the server records a session's end after closing)."""
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found is not None:
            return found
        if time.monotonic() > deadline:
            raise AssertionError("the expected state was never reached")
        time.sleep(0.02)
