"""Session resumption with the Resume-Id header: success, unknown, expired, after a server close."""

from __future__ import annotations

import time

import pytest

from session_engine.engine.values.service import ValuesService
from tests.adapters.websocket.client import Client
from tests.adapters.websocket.conftest import ACME_KEY, ServerFactory

NOT_FOUND = (4401, "resume ID was not found or it is expired")


def test_every_connection_gets_a_resume_id(ws_url: str) -> None:
    with Client(ws_url) as first, Client(ws_url) as second:
        assert len(first.resume_id) >= 32
        assert first.resume_id != second.resume_id


def test_resume_restores_the_session_and_its_values(ws_url: str) -> None:
    with Client(ws_url) as client:
        assert client.initialize(ACME_KEY)["status"] == 1
        assert client.call(12, 2, key="token", value="abc", ttl=0)["status"] == 1
        resume_id = client.resume_id
    with Client(ws_url, resume_id=resume_id) as client:
        assert client.resume_id != resume_id  # a fresh id for the next reconnect
        assert client.call(13, 3, key="token") == {"id": 3, "status": 1, "value": "abc"}
        assert client.initialize(ACME_KEY, packet_id=4) == {"id": 4, "status": 4}
        again = client.resume_id
    with Client(ws_url, resume_id=again) as client:  # and again, with the newest id
        assert client.call(13, 5, key="token")["value"] == "abc"


def test_a_resume_id_is_single_use(ws_url: str) -> None:
    with Client(ws_url) as client:
        assert client.initialize(ACME_KEY)["status"] == 1
        resume_id = client.resume_id
    with Client(ws_url, resume_id=resume_id) as client:
        assert client.call(13, 2, key="k")["status"] == 700
    with Client(ws_url, resume_id=resume_id) as client:
        assert client.closed_with() == NOT_FOUND


@pytest.mark.parametrize("resume_id", ["unknown", "", "x" * 300])
def test_unknown_resume_id_closes_4401(ws_url: str, resume_id: str) -> None:
    with Client(ws_url, resume_id=resume_id) as client:
        assert client.closed_with() == NOT_FOUND


def test_uninitialized_connections_leave_nothing_to_resume(ws_url: str) -> None:
    with Client(ws_url) as client:
        resume_id = client.resume_id
    with Client(ws_url, resume_id=resume_id) as client:
        assert client.closed_with() == NOT_FOUND


def test_expired_resume_id_closes_4401(start_server: ServerFactory) -> None:
    url = start_server(resume_window_seconds=0.3)
    with Client(url) as client:
        assert client.initialize(ACME_KEY)["status"] == 1
        resume_id = client.resume_id
    time.sleep(0.6)
    with Client(url, resume_id=resume_id) as client:
        assert client.closed_with() == NOT_FOUND


def test_no_resumption_after_a_server_close(ws_url: str) -> None:
    with Client(ws_url) as client:
        assert client.initialize(ACME_KEY)["status"] == 1
        assert client.call(12, 2, key="k", value="v", ttl=0)["status"] == 1
        client.send({"type": 99, "id": 3})
        assert client.closed_with()[0] == 4301
        resume_id = client.resume_id
    with Client(ws_url, resume_id=resume_id) as client:
        assert client.closed_with() == NOT_FOUND


def test_server_side_resume_failure_closes_4400(ws_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with Client(ws_url) as client:
        assert client.initialize(ACME_KEY)["status"] == 1
        resume_id = client.resume_id

    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the database is on fire")

    monkeypatch.setattr(ValuesService, "resume", broken)
    with Client(ws_url, resume_id=resume_id) as client:
        assert client.closed_with() == (4400, "failed to resume session")
    monkeypatch.undo()
    with Client(ws_url, resume_id=resume_id) as client:  # the session ended: gone for good
        assert client.closed_with() == NOT_FOUND
