"""The engine's own streams (`$retention`, any id starting with `$`) over real connections: every
adapter's write or delete there is refused with that protocol's own clear error and records
nothing; reads answer (specs/lifecycle.md, "System streams"). One server per backend."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

import httpx
import pytest

from tests.adapters.rest.conftest import ACME_KEY
from tests.adapters.rpc.client import RpcClient
from tests.adapters.websocket.objects_client import MESSAGE_VALUE
from tests.records.helpers import record

SYSTEM = "$retention"
PATH = quote(SYSTEM, safe="")


@pytest.fixture
def rpc(base_url: str) -> Iterator[RpcClient]:
    url = base_url.replace("http://", "ws://") + "/rpc"
    with RpcClient(url, additional_headers={"Authorization": f"Bearer {ACME_KEY}"}) as client:
        yield client


def head(acme: httpx.Client) -> int:
    answer = acme.get("/api/events", params={"limit": 1000})
    assert answer.status_code == 200, answer.text
    return max([0, *(event["position"] for event in answer.json()["events"])])


def test_rest_routes_refuse_writes_to_a_system_stream(acme: httpx.Client) -> None:
    before = head(acme)
    answers = {
        "distri set": acme.post(f"/v1/sessions/{PATH}/values", json={"key": "k", "value": 1}),
        "distri clear": acme.delete(f"/v1/sessions/{PATH}"),
        "record put": acme.put(f"/api/records/{PATH}", json=record(SYSTEM)),
        "record delete": acme.delete(f"/api/records/{PATH}"),
        "object upload": acme.put(f"/api/sessions/{PATH}/objects/doc", json=MESSAGE_VALUE),
    }
    for name in ("distri set", "distri clear"):  # Distri's error form: {"error": message}
        answer = answers[name]
        assert answer.status_code == 400 and "reserved" in answer.json()["error"], (name, answer.text)
    for name in ("record put", "record delete", "object upload"):
        answer = answers[name]
        assert answer.status_code == 400, (name, answer.text)
        assert answer.json()["error"]["code"] == "reserved_stream", (name, answer.text)
    assert head(acme) == before
    assert acme.get(f"/api/sessions/{PATH}/events").status_code == 200  # reads answer


def test_json_rpc_refuses_writes_to_a_system_stream(acme: httpx.Client, rpc: RpcClient) -> None:
    before = head(acme)
    params = {"session_id": SYSTEM, "alias": "doc", "value": MESSAGE_VALUE}
    answer = rpc.request("upload_session_object", params)
    assert answer["error"]["code"] == -32602, answer  # invalid params, the protocol's own
    assert answer["error"]["data"]["error"] == "reserved_stream", answer
    assert head(acme) == before
