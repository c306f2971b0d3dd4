"""Initialize (type 0): every status, the failed-attempt limit, and what comes before it."""

from __future__ import annotations

import pytest

from tests.adapters.websocket.client import Client
from tests.adapters.websocket.conftest import ACME_KEY, ANON_KEY, GLOBEX_KEY, ServerFactory


def test_initialize_answers_the_tenants_app(ws_url: str) -> None:
    with Client(ws_url) as client:
        assert client.initialize(ACME_KEY, packet_id=7) == {
            "id": 7,
            "status": 1,
            "app_name": "Acme Launcher",
            "app_version": "1.2.3",
        }
    with Client(ws_url) as client:
        assert client.initialize(GLOBEX_KEY)["app_name"] == "Globex"


def test_already_initialized(ws_url: str) -> None:
    with Client(ws_url) as client:
        assert client.initialize(ACME_KEY)["status"] == 1
        assert client.initialize(ACME_KEY, packet_id=2) == {"id": 2, "status": 4}
        assert client.initialize("wrong-key-000000000000", packet_id=3) == {"id": 3, "status": 4}
        assert client.call(13, 4, key="k") == {"id": 4, "status": 700}  # still open and initialized


@pytest.mark.parametrize(
    ("key", "client_id", "status"),
    [
        ("X" * 21, "desktop-main", 2),  # unknown key
        ("short", "desktop-main", 2),  # wrong length
        (ACME_KEY + "x", "desktop-main", 2),
        (None, "desktop-main", 2),  # no credential and no anonymous tenant
        (ACME_KEY, "abc", 500),
        (ACME_KEY, "", 500),
        (ACME_KEY, "x" * 65, 501),
    ],
)
def test_failed_initialize_statuses(ws_url: str, key: str | None, client_id: str, status: int) -> None:
    with Client(ws_url) as client:
        assert client.initialize(key, client_id) == {"id": 1, "status": status}
        assert client.initialize(ACME_KEY, "desktop-main", packet_id=2)["status"] == 1


def test_client_id_bounds_are_inclusive(ws_url: str) -> None:
    for client_id in ("abcd", "y" * 64):
        with Client(ws_url) as client:
            assert client.initialize(ACME_KEY, client_id)["status"] == 1


def test_three_failed_attempts_close_4205(ws_url: str) -> None:
    with Client(ws_url) as client:
        assert client.initialize("X" * 21, packet_id=1)["status"] == 2
        assert client.initialize(ACME_KEY, "abc", packet_id=2)["status"] == 500
        assert client.initialize(ACME_KEY, "z" * 99, packet_id=3) == {"id": 3, "status": 501}
        assert client.closed_with() == (4205, "failed to initialize session")


def test_a_success_resets_the_failure_count(ws_url: str) -> None:
    with Client(ws_url) as client:
        assert client.initialize("X" * 21, packet_id=1)["status"] == 2
        assert client.initialize("X" * 21, packet_id=2)["status"] == 2
        assert client.initialize(ACME_KEY, packet_id=3)["status"] == 1
        assert client.call(13, 4, key="k")["status"] == 700


@pytest.mark.parametrize("kind", [12, 13, 14, 100, 101, 102])
def test_packets_before_initialize_close_4200(ws_url: str, kind: int) -> None:
    with Client(ws_url) as client:
        client.send({"type": kind, "id": 1, "key": "k", "value": "v", "ttl": 1})
        assert client.closed_with() == (4200, "connection is not initialized")


def test_anonymous_tenant_serves_requests_without_a_credential(start_server: ServerFactory) -> None:
    url = start_server(anonymous=True)
    with Client(url) as client:
        assert client.initialize(None) == {"id": 1, "status": 1, "app_name": "Open", "app_version": "0.1"}
    with Client(url) as client:  # its key works too, and other tenants' keys still map to them
        assert client.initialize(ANON_KEY)["app_name"] == "Open"
    with Client(url) as client:
        assert client.initialize(ACME_KEY)["app_name"] == "Acme Launcher"
    with Client(url) as client:  # a wrong key is not silently anonymous
        assert client.initialize("X" * 21)["status"] == 2


def test_initialize_deadline_closes_4202(start_server: ServerFactory) -> None:
    url = start_server(initialize_deadline_seconds=0.3)
    with Client(url) as client:
        assert client.closed_with(timeout=5) == (
            4202,
            "session wasn't initialized in 15 seconds after connection",
        )
    with Client(url) as client:  # an initialized connection outlives the deadline
        assert client.initialize(ACME_KEY)["status"] == 1
        with pytest.raises(TimeoutError):
            client.receive(timeout=0.6)
        assert client.call(13, 2, key="k")["status"] == 700
