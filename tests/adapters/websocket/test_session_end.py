"""The session's end at the adapter level, and engine failures (Initialize status 6, close 4000).

The server runs in this process (uvicorn in a thread), so patching an engine service class makes
the live server's engine fail. What the engine recorded is read back through the REST audit routes.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from session_engine.engine.values.service import ValuesService
from tests.adapters.websocket.client import Client
from tests.adapters.websocket.conftest import ACME_KEY, ServerFactory
from tests.adapters.websocket.rest import eventually, session_events, session_id_for, session_values


def unique_client_id() -> str:
    return f"end-{uuid.uuid4().hex[:12]}"


def with_values(url: str, client_id: str) -> Client:
    client = Client(url)
    assert client.initialize(ACME_KEY, client_id)["status"] == 1
    assert client.call(12, 2, key="b", value="2", ttl=0)["status"] == 1
    assert client.call(12, 3, key="a", value="1", ttl=0)["status"] == 1
    return client


def ended(url: str, session_id: str) -> dict[str, Any] | None:
    """The session's `connection_session_ended` event, once it is recorded."""
    found = [e for e in session_events(url, session_id) if e["type"] == "connection_session_ended"]
    assert len(found) <= 1, "a session ends once"
    return found[0] if found else None


def test_a_server_close_ends_the_session_and_clears_its_values(ws_url: str) -> None:
    client_id = unique_client_id()
    with with_values(ws_url, client_id) as client:
        session_id = session_id_for(ws_url, client_id)
        assert session_values(ws_url, session_id) == {"a": "1", "b": "2"}
        client.send({"type": 12, "id": 4, "key": "c"})  # no value, no ttl: an invalid body
        assert client.closed_with() == (4302, "invalid request body")
    event = eventually(lambda: ended(ws_url, session_id))
    assert event["data"]["reason"] == "closed 4302" and sorted(event["data"]["keys"]) == ["a", "b"]
    assert event["metadata"] == {"actor": client_id, "adapter": "websocket"}
    assert session_values(ws_url, session_id) == {}
    assert "connection_session_disconnected" not in [e["type"] for e in session_events(ws_url, session_id)]


def test_an_expired_resume_window_ends_the_session_and_clears_its_values(start_server: ServerFactory) -> None:
    url = start_server(resume_window_seconds=1.5)
    client_id = unique_client_id()
    with with_values(url, client_id):
        session_id = session_id_for(url, client_id)
    # the client went away: the session is parked, its values kept, until the window passes
    types = eventually(lambda: [e["type"] for e in session_events(url, session_id)][-1:] or None)
    assert types == ["connection_session_disconnected"]
    assert ended(url, session_id) is None and session_values(url, session_id) == {"a": "1", "b": "2"}
    event = eventually(lambda: ended(url, session_id))
    assert event["data"]["reason"] == "resumption window expired"
    assert sorted(event["data"]["keys"]) == ["a", "b"]
    assert session_values(url, session_id) == {}


def test_engine_failure_during_initialize_answers_6(ws_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the database is on fire")

    monkeypatch.setattr(ValuesService, "open_connection_session", broken)
    with Client(ws_url) as client:
        assert client.initialize(ACME_KEY, packet_id=1) == {"id": 1, "status": 6}
        monkeypatch.undo()
        assert client.initialize(ACME_KEY, packet_id=2)["status"] == 1  # a failure, not a close
        assert client.call(13, 3, key="k") == {"id": 3, "status": 700}
    monkeypatch.setattr(ValuesService, "open_connection_session", broken)
    with Client(ws_url) as client:  # 6 counts as a failed Initialize: the third closes 4205
        assert client.initialize(ACME_KEY, packet_id=1)["status"] == 6
        assert client.initialize(ACME_KEY, packet_id=2)["status"] == 6
        assert client.initialize(ACME_KEY, packet_id=3) == {"id": 3, "status": 6}
        assert client.closed_with() == (4205, "failed to initialize session")


def test_unexpected_engine_failure_closes_4000_and_ends_the_session(
    ws_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the database is on fire")

    client_id = unique_client_id()
    with with_values(ws_url, client_id) as client:
        session_id = session_id_for(ws_url, client_id)
        monkeypatch.setattr(ValuesService, "get", broken)
        client.send({"type": 13, "id": 4, "key": "a"})
        assert client.closed_with() == (4000, "internal server error")
        monkeypatch.undo()
        resume_id = client.resume_id
    event = eventually(lambda: ended(ws_url, session_id))
    assert event["data"]["reason"] == "closed 4000"
    assert session_values(ws_url, session_id) == {}
    with Client(ws_url, resume_id=resume_id) as client:  # a server close: nothing to resume
        assert client.closed_with() == (4401, "resume ID was not found or it is expired")
