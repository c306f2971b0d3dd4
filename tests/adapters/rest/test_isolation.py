"""Tenants: API keys map to namespaces, the anonymous tenant, and no way across namespaces."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.adapters.rest.clients import DistriTs
from tests.adapters.rest.conftest import ACME_KEY, bearer
from tests.adapters.server import running_server
from tests.adapters.websocket.conftest import make_config
from tests.databases import SqliteDatabases


def test_tenants_never_see_each_other(
    acme: httpx.Client, globex: httpx.Client, anonymous: httpx.Client, sid: str
) -> None:
    tenants = {"acme": DistriTs(acme), "globex": DistriTs(globex), "open": DistriTs(anonymous)}
    for name, client in tenants.items():
        client.set_session_value(sid, "owner", name)
        client.set_user_part_text(sid, "p", name)
    for name, client in tenants.items():
        assert client.get_session_values(sid) == {
            "owner": name,
            "__user_part_p": {"part_type": "text", "data": name},
        }
        listing = client.http.get("/v1/sessions", params={"thread_id": sid}).json()
        assert listing[0]["key_count"] == 2
        events = client.http.get(f"/api/sessions/{sid}/events").json()["events"]
        assert len(events) == 2 and all(e["metadata"]["actor"] == name for e in events)
        log = client.http.get("/api/events", params={"session_id": sid}).json()["events"]
        assert all(e["metadata"]["actor"] == name for e in log)
    DistriTs(acme).clear_session(sid)
    assert DistriTs(globex).get_session_value(sid, "owner") == "globex"
    assert DistriTs(anonymous).get_session_value(sid, "owner") == "open"


def test_bad_credentials_are_401_in_each_shape(base_url: str, sid: str) -> None:
    for header in ("Bearer wrong-key-123", "Basic abc", "Bearer", ACME_KEY):
        with httpx.Client(base_url=base_url, headers={"Authorization": header}) as client:
            distri = client.get(f"/v1/sessions/{sid}/values")
            assert distri.status_code == 401 and isinstance(distri.json()["error"], str)
            assert distri.headers["www-authenticate"] == "Bearer"
            resource = client.get(f"/api/sessions/{sid}/events")
            assert resource.status_code == 401 and resource.json()["error"]["code"] == "unauthorized"


@pytest.fixture
def closed_server(sqlite_databases: SqliteDatabases) -> Iterator[str]:
    """No anonymous tenant: requests without a key are refused."""
    with running_server(sqlite_databases.fresh(), make_config(), migrate=False) as base:
        yield base


def test_without_anonymous_tenant_a_key_is_required(closed_server: str, sid: str) -> None:
    refused = httpx.get(f"{closed_server}/v1/sessions/{sid}/values")
    assert refused.status_code == 401 and "Bearer" in refused.json()["error"]
    refused = httpx.post(
        f"{closed_server}/revisions/acme/data", json={"command": "list_session_objects", "session_id": sid}
    )
    assert refused.status_code == 401 and refused.json()["error"] == "unauthorized"
    allowed = httpx.get(f"{closed_server}/v1/sessions/{sid}/values", headers=bearer(ACME_KEY))
    assert allowed.json() == {"values": {}}
