"""`subscription/add|remove` over the `/rpc` websocket: BlobHub events, in order, resumable by position."""

from __future__ import annotations

from typing import Any

import pytest

from tests.adapters.rpc.client import RpcClient
from tests.adapters.rpc.test_jsonrpc import ACME, message_value, thread_value

GLOBEX = {"Authorization": "Bearer GLOBEX6789abcdefghijk"}


def params(session: str, **extra: Any) -> dict[str, Any]:
    return {"scope": "revision", "scope_id": "acme", "target": "session", "target_id": session, **extra}


def test_events_reach_a_second_connection_in_order(rpc_ws_url: str, request: pytest.FixtureRequest) -> None:
    session = f"ev-{request.node.name}"
    with (
        RpcClient(rpc_ws_url, additional_headers=ACME) as watcher,
        RpcClient(rpc_ws_url, additional_headers=ACME) as writer,
    ):
        assert watcher.call("subscription/add", **params(session)) == {}
        for n in range(5):
            writer.call(
                "upload_session_object", session_id=session, alias=f"m{n}", value=message_value(str(n))
            )
        writer.call("upload_session_object", session_id=session, alias="t", value=thread_value())
        writer.call(
            "post_session_thread_item", session_id=session, alias="t", content=[{"type": "text", "text": "x"}]
        )
        writer.call("delete_session_object", session_id=session, alias="m0")
        writer.call("upload_session_object", session_id="elsewhere", alias="m", value=message_value())
        events = [watcher.notification()["params"] for _ in range(8)]
        assert [event["type"] for event in events] == ["session_object_modified"] * 6 + [
            "session_thread_item_posted",
            "session_object_deleted",
        ]
        assert [event["session_object"]["alias"] for event in events[:5]] == [f"m{n}" for n in range(5)]
        ids = [event["id"] for event in events]
        assert ids == sorted(ids) and len(set(ids)) == 8
        assert all(event["revision_id"] == "acme" and event["session_id"] == session for event in events)
        with pytest.raises(TimeoutError):
            watcher.notification(timeout=0.3)  # nothing from the other session


def test_types_filter_and_remove(rpc_ws_url: str, request: pytest.FixtureRequest) -> None:
    session = f"ty-{request.node.name}"
    only_deletes = params(session, types=["session_object_deleted"])
    with RpcClient(rpc_ws_url, additional_headers=ACME) as client:
        assert client.call("subscription/add", **only_deletes) == {}
        assert client.call("subscription/add", **only_deletes) == {}  # again: a no-op
        client.call("upload_session_object", session_id=session, alias="a", value=message_value())
        client.call("delete_session_object", session_id=session, alias="a")
        assert client.notification()["params"]["type"] == "session_object_deleted"
        assert client.call("subscription/remove", **only_deletes) == {}
        assert client.request("subscription/remove", only_deletes)["error"]["code"] == 404
        client.call("upload_session_object", session_id=session, alias="a", value=message_value())
        client.call("delete_session_object", session_id=session, alias="a")
        with pytest.raises(TimeoutError):
            client.notification(timeout=0.3)


def test_subscription_errors(rpc_ws_url: str) -> None:
    with RpcClient(rpc_ws_url, additional_headers=ACME) as client:
        assert client.call("subscription/add", **{**params("s"), "scope_id": "globex"}) == {}  # acme's own
        assert client.call("subscription/remove", **{**params("s"), "scope_id": "globex"}) == {}
        bad = client.request("subscription/add", {**params("s"), "types": ["nope"]})["error"]
        assert bad["code"] == -32602 and bad["data"]["issues"][0]["path"][0] == "types"
        assert client.request("subscription/add", {"scope": "revision"})["error"]["code"] == -32602
        assert client.request("subscription/add", {**params("s"), "after": -1})["error"]["code"] == -32602
        for n in range(4):  # max_subscriptions (default 4)
            assert client.call("subscription/add", **params(f"s{n}")) == {}
        assert client.request("subscription/add", params("s9"))["error"]["code"] == 429


def test_a_resumed_subscription_gets_exactly_the_missed_events(
    rpc_ws_url: str, request: pytest.FixtureRequest
) -> None:
    session = f"re-{request.node.name}"
    with RpcClient(rpc_ws_url, additional_headers=ACME) as writer:
        with RpcClient(rpc_ws_url, additional_headers=ACME) as first:
            first.call("subscription/add", **params(session))
            writer.call("upload_session_object", session_id=session, alias="before", value=message_value())
            last_seen = first.notification()["params"]["id"]
        missed = []
        for n in range(3):  # while nobody listens
            writer.call(
                "upload_session_object", session_id=session, alias=f"missed{n}", value=message_value()
            )
            missed.append(f"missed{n}")
        with RpcClient(rpc_ws_url, additional_headers=ACME) as second:
            assert second.call("subscription/add", **params(session, after=last_seen)) == {}
            writer.call("upload_session_object", session_id=session, alias="live", value=message_value())
            events = [second.notification()["params"] for _ in range(4)]
            assert [event["session_object"]["alias"] for event in events] == [*missed, "live"]
            assert all(event["id"] > last_seen for event in events)
            with pytest.raises(TimeoutError):
                second.notification(timeout=0.3)


def test_tenants_are_isolated(rpc_ws_url: str, request: pytest.FixtureRequest) -> None:
    session = f"iso-{request.node.name}"
    with (
        RpcClient(rpc_ws_url, additional_headers=GLOBEX) as globex,
        RpcClient(rpc_ws_url, additional_headers=ACME) as acme,
    ):
        globex.call("subscription/add", **{**params(session), "scope_id": "globex", "after": 0})
        acme.call("upload_session_object", session_id=session, alias="a", value=message_value())
        with pytest.raises(TimeoutError):
            globex.notification(timeout=0.3)
