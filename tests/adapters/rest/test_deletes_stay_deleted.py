"""Deletes that stay deleted, over real connections on every adapter (`specs/lifecycle.md`): once a
session's record is deleted (here over REST), a late write to the session from the Distri routes,
the objects routes, JSON-RPC, the websocket protocol or a websocket resumption is refused with that
protocol's error and changes nothing; an explicit recreate (a records `set`, Distri's `recreate`)
brings it back. One server per backend.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.adapters.rest.conftest import ACME_KEY
from tests.adapters.rpc.client import RpcClient
from tests.adapters.websocket.client import Client
from tests.adapters.websocket.objects_client import DOWNLOAD, MESSAGE_VALUE, UPLOAD, Objects
from tests.records.helpers import record

SESSION_DELETED = 802
RESUME_FAILED = (4400, "failed to resume session")


@pytest.fixture
def ws_url(base_url: str) -> str:
    return base_url.replace("http://", "ws://") + "/ws"


@pytest.fixture
def rpc(base_url: str) -> Iterator[RpcClient]:
    url = base_url.replace("http://", "ws://") + "/rpc"
    with RpcClient(url, additional_headers={"Authorization": f"Bearer {ACME_KEY}"}) as client:
        yield client


def delete_session(acme: httpx.Client, sid: str) -> None:
    assert acme.put(f"/api/records/{sid}", json=record(sid)).json()["success"] is True
    assert acme.delete(f"/api/records/{sid}").json() == {"success": True}


def history(acme: httpx.Client, sid: str) -> list[str]:
    answer = acme.get(f"/api/sessions/{sid}/events", params={"limit": 100})
    assert answer.status_code == 200, answer.text
    return [entry["type"] for entry in answer.json()["events"]]


def test_distri_and_objects_routes_refuse_a_late_write(acme: httpx.Client, sid: str) -> None:
    assert acme.post(f"/v1/sessions/{sid}/values", json={"key": "k", "value": 1}).status_code == 204
    delete_session(acme, sid)
    before = history(acme, sid)
    late = acme.post(f"/v1/sessions/{sid}/values", json={"key": "k", "value": 2})
    assert late.status_code == 410 and "deleted" in late.json()["error"], late.text
    upload = acme.put(f"/api/sessions/{sid}/objects/doc", json=MESSAGE_VALUE)
    assert upload.status_code == 410 and upload.json()["error"]["code"] == "session_deleted", upload.text
    update = acme.patch(f"/api/records/{sid}", json={"title": "late"}).json()
    assert update == {"success": False, "clientAccountChanged": False}
    assert history(acme, sid) == before  # nothing recorded
    assert acme.get(f"/v1/sessions/{sid}/values/k").json() == {"value": 1}
    # explicit recreates: Distri's `recreate`, then the records protocol's create
    body = {"key": "k", "value": 3, "recreate": True}
    assert acme.post(f"/v1/sessions/{sid}/values", json=body).status_code == 204
    assert history(acme, sid)[len(before) :] == ["session_recreated", "value_set"]
    delete_session(acme, sid)
    assert acme.put(f"/api/records/{sid}", json=record(sid)).json()["success"] is True
    assert acme.put(f"/api/sessions/{sid}/objects/doc", json=MESSAGE_VALUE).status_code == 200


def test_json_rpc_refuses_a_late_write(acme: httpx.Client, rpc: RpcClient, sid: str) -> None:
    delete_session(acme, sid)
    answer = rpc.request("upload_session_object", {"session_id": sid, "alias": "doc", "value": MESSAGE_VALUE})
    assert answer["error"]["code"] == 410 and "deleted" in answer["error"]["message"], answer


def test_websocket_writes_and_resumption_refuse_a_deleted_session(acme: httpx.Client, ws_url: str) -> None:
    with Objects(ws_url) as live:
        live.ok(UPLOAD, alias="doc", value=MESSAGE_VALUE)
        sid = live.ok(DOWNLOAD, alias="doc")["session_id"]
        delete_session(acme, sid)
        assert live.packet(12, key="k", value="v", ttl=0)["status"] == SESSION_DELETED
        live.refused(UPLOAD, SESSION_DELETED, "session_deleted", alias="doc", value=MESSAGE_VALUE)
        assert live.ok(DOWNLOAD, alias="doc")["alias"] == "doc"  # reads still answer

    with Objects(ws_url) as parked:
        parked.ok(UPLOAD, alias="doc", value=MESSAGE_VALUE)
        sid = parked.ok(DOWNLOAD, alias="doc")["session_id"]
        resume_id = parked.resume_id
    delete_session(acme, sid)
    with Client(ws_url, resume_id=resume_id) as resumed:
        assert resumed.closed_with() == RESUME_FAILED
    assert "connection_session_resumed" not in history(acme, sid)
