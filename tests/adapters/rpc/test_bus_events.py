"""Bus events pushed to peers that subscribed: `session.clientAccount.changed` and session-object events."""

from __future__ import annotations

import pytest

from tests.adapters.rpc.client import BusClient, RpcClient
from tests.adapters.rpc.conftest import GLOBEX_BUS_SECRET
from tests.adapters.rpc.test_jsonrpc import ACME, message_value
from tests.records.helpers import identity, record


def test_account_changes_reach_a_subscribed_peer_in_order(
    bus_url: str, request: pytest.FixtureRequest
) -> None:
    sid = f"acct-{request.node.name}"
    with (
        BusClient(bus_url) as writer,
        BusClient(bus_url, handshake=False) as listener,
        BusClient(bus_url, handshake=False) as bystander,
        BusClient(bus_url, secret=GLOBEX_BUS_SECRET, handshake=False) as other_tenant,
    ):
        listener.handshake({"session.clientAccount.changed": []})
        bystander.handshake({"storage:session.*": [0]})
        other_tenant.handshake({"*": []})
        listener.call("getStatusCounts", {})  # the subscribe is processed before this answer
        other_tenant.call("getStatusCounts", {})
        for n in range(4):
            session = record(sid, **identity("c1", f"acct-{n}"))
            assert writer.call("set", {"sessionId": sid, "session": session})["clientAccountChanged"] is True
        events = [listener.event() for _ in range(4)]
        assert [e["payload"]["clientAccountId"] for e in events] == [f"acct-{n}" for n in range(4)]
        assert [e["payload"]["previousClientAccountId"] for e in events[1:]] == [
            f"acct-{n}" for n in range(3)
        ]
        first = events[0]
        assert first["namespace"] == "session" and first["subject"] == "clientAccount.changed"
        assert first["messageId"]
        assert set(first["payload"]) >= {
            "sessionId",
            "clientId",
            "previousClientAccountId",
            "clientAccountId",
            "source",
            "observedAt",
            "lastClientIdentityObservation",
        }
        with pytest.raises(TimeoutError):
            bystander.event(timeout=0.3)
        with pytest.raises(TimeoutError):
            other_tenant.event(timeout=0.3)


def test_session_object_events_and_unsubscribe(bus_url: str, request: pytest.FixtureRequest) -> None:
    sid = f"obj-{request.node.name}"
    with (
        BusClient(bus_url, handshake=False) as listener,
        RpcClient(bus_url.replace("/bus", "/rpc"), additional_headers=ACME) as rpc,
    ):
        listener.handshake({"objects:session.*": []})
        listener.call("getStatusCounts", {})
        rpc.call("upload_session_object", session_id=sid, alias="a", value=message_value())
        rpc.call("delete_session_object", session_id=sid, alias="a")
        modified, deleted = listener.event(), listener.event()
        assert (modified["namespace"], modified["subject"]) == ("objects:session", "session_object_modified")
        assert modified["payload"]["session_object"] == {"alias": "a"}
        assert (
            deleted["subject"] == "session_object_deleted"
            and deleted["payload"]["id"] > modified["payload"]["id"]
        )
        listener.send({"type": "unsubscribe", "subjects": ["objects:session.*"]})
        listener.call("getStatusCounts", {})
        rpc.call("upload_session_object", session_id=sid, alias="b", value=message_value())
        with pytest.raises(TimeoutError):
            listener.event(timeout=0.3)
