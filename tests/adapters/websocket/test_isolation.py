"""Values belong to one session: other connections and other tenants never see them."""

from __future__ import annotations

from tests.adapters.websocket.client import Client
from tests.adapters.websocket.conftest import ACME_KEY, GLOBEX_KEY


def test_two_connections_of_one_tenant(ws_url: str) -> None:
    with Client(ws_url) as a, Client(ws_url) as b:
        assert a.initialize(ACME_KEY, "client-a")["status"] == 1
        assert b.initialize(ACME_KEY, "client-a")["status"] == 1  # even with the same client id
        assert a.call(12, 2, key="shared", value="from a", ttl=0)["status"] == 1
        assert b.call(13, 2, key="shared") == {"id": 2, "status": 700}
        assert b.call(12, 3, key="shared", value="from b", ttl=0)["status"] == 1
        assert a.call(13, 3, key="shared")["value"] == "from a"
        assert b.call(14, 4, key="shared")["status"] == 1
        assert a.call(13, 4, key="shared")["value"] == "from a"


def test_two_tenants(ws_url: str) -> None:
    with Client(ws_url) as acme, Client(ws_url) as globex:
        assert acme.initialize(ACME_KEY)["app_name"] == "Acme Launcher"
        assert globex.initialize(GLOBEX_KEY)["app_name"] == "Globex"
        assert acme.call(12, 2, key="k", value="acme", ttl=0)["status"] == 1
        assert globex.call(13, 2, key="k")["status"] == 700
        assert globex.call(12, 3, key="k", value="globex", ttl=0)["status"] == 1
        assert acme.call(13, 3, key="k")["value"] == "acme"
        events = globex.call(102, 4)["events"]
        assert all(event["data"].get("value") != "acme" for event in events)


def test_limits_are_per_session(ws_url: str) -> None:
    with Client(ws_url) as a, Client(ws_url) as b:
        assert a.initialize(ACME_KEY)["status"] == 1
        assert b.initialize(ACME_KEY)["status"] == 1
        assert a.call(12, 2, key="big", value="x" * 16384, ttl=0)["status"] == 1
        assert b.call(12, 2, key="big", value="x" * 16384, ttl=0)["status"] == 1
