"""Makaio's real peers over `/bus`: its current websocket client and its storage service's answers.

The current client (`transports/ws` of makaio-framework) names each subscription change made after
connecting with an `ackId` and waits, without a timeout, for the server's `subscription-ack`;
older clients send none. The storage answers follow `services/core/src/session/storage/*`.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from tests.adapters.rpc.client import BusClient, Frames
from tests.records.helpers import identity, record

ACK_WAIT = 5.0


def newest_client(url: str) -> BusClient:
    """Connect as Makaio's current client does: authenticate, replay its subscriptions (no ackId)."""
    peer = BusClient(url, handshake=False)
    peer.handshake({"storage:session.*": []})
    return peer


def test_a_subscription_change_is_acknowledged(bus_url: str, request: pytest.FixtureRequest) -> None:
    sid = f"ack-{request.node.name}"
    with newest_client(bus_url) as peer, BusClient(bus_url) as writer:
        peer.send(
            {
                "type": "subscribe",
                "subjects": {"session.clientAccount.changed": []},
                "ackId": "sub-1",
                "deliveryClasses": {"session.clientAccount.changed": "relayable"},
            }
        )
        assert peer.next_message(ACK_WAIT) == {"type": "subscription-ack", "ackId": "sub-1"}
        # Acknowledged means applied: a change made now is pushed.
        writer.call("set", {"sessionId": sid, "session": record(sid, **identity("c1", "acct-1"))})
        assert peer.event()["payload"]["clientAccountId"] == "acct-1"
        peer.send(
            {"type": "unsubscribe", "subjects": {"session.clientAccount.changed": []}, "ackId": "unsub-1"}
        )
        assert peer.next_message(ACK_WAIT) == {"type": "subscription-ack", "ackId": "unsub-1"}
        writer.call("set", {"sessionId": sid, "session": record(sid, **identity("c1", "acct-2"))})
        # The peer acknowledging a change of ours is accepted too (the server asks for none).
        peer.send({"type": "subscription-ack", "ackId": "server-1"})
        assert peer.call("getStatusCounts", {})["all"] >= 1
        assert peer.events == []  # nothing was pushed after the unsubscribe


def test_an_older_client_gets_no_acknowledgement(bus_url: str) -> None:
    with BusClient(bus_url) as peer:
        peer.send({"type": "subscribe", "subjects": {"session.*": [0]}})
        peer.send({"type": "unsubscribe", "subjects": ["session.*"]})
        assert peer.request("getStatusCounts", {})["result"]["all"] >= 0  # the next frame: the answer


def test_write_answers_always_say_whether_the_account_changed(
    bus_url: str, request: pytest.FixtureRequest
) -> None:
    sid = f"wa-{request.node.name}"
    with BusClient(bus_url) as bus:
        bus.call("set", {"sessionId": sid, "session": record(sid)})
        unchanged = {"success": False, "clientAccountChanged": False}
        assert bus.call("set", {"sessionId": sid, "session": record(sid), "ifAbsent": True}) == unchanged
        assert bus.call("update", {"sessionId": f"{sid}-nobody", "title": "x"}) == unchanged


def test_deleting_a_missing_session_succeeds(bus_url: str, request: pytest.FixtureRequest) -> None:
    with BusClient(bus_url) as bus:
        assert bus.call("delete", {"sessionId": f"never-{request.node.name}"}) == {"success": True}


def test_list_without_limit_returns_every_session_up_to_a_thousand(
    bus_url: str, request: pytest.FixtureRequest
) -> None:
    target = f"lt-{request.node.name}"
    with BusClient(bus_url) as bus:
        for n in range(60):
            sid = f"{target}-{n:02d}"
            bus.call("set", {"sessionId": sid, "session": record(sid, n, executionTargetId=target)})
        listed = bus.call("list", {"executionTargetId": target})
        assert listed["total"] == 60 and len(listed["sessions"]) == 60
        assert len(bus.call("list", {"executionTargetId": target, "limit": 5})["sessions"]) == 5


def test_an_ambiguous_adapter_session_id_finds_nothing(bus_url: str, request: pytest.FixtureRequest) -> None:
    asid = f"amb-{request.node.name}"
    with BusClient(bus_url) as bus:
        bus.call("set", {"sessionId": f"{asid}-a", "session": record(f"{asid}-a", adapterSessionId=asid)})
        found = bus.call("getByAdapterSessionId", {"adapterSessionId": asid})["session"]
        assert found["sessionId"] == f"{asid}-a"
        bus.call("set", {"sessionId": f"{asid}-b", "session": record(f"{asid}-b", 9, adapterSessionId=asid)})
        assert bus.call("getByAdapterSessionId", {"adapterSessionId": asid}) == {"session": None}


def test_update_fills_the_spawning_tool_call_once(bus_url: str, request: pytest.FixtureRequest) -> None:
    sid = f"sp-{request.node.name}"
    with BusClient(bus_url) as bus:
        bus.call("set", {"sessionId": sid, "session": record(sid, branchKind="subagent")})
        assert bus.call("update", {"sessionId": sid, "spawningToolCallId": "first"})["success"]
        assert bus.call("update", {"sessionId": sid, "spawningToolCallId": "second", "title": "t"})["success"]
        stored = bus.call("get", {"sessionId": sid})["session"]
        assert (stored["spawningToolCallId"], stored["title"]) == ("first", "t")
        bus.call("set", {"sessionId": sid, "session": record(sid, spawningToolCallId="replaced")})
        assert bus.call("get", {"sessionId": sid})["session"]["spawningToolCallId"] == "replaced"


def test_a_validation_error_is_shaped_as_makaio_sends_it(bus_url: str) -> None:
    with BusClient(bus_url) as bus:
        error = bus.request("get", {"sessionId": 7})["error"]
        assert error["message"] == (
            'Validation failed for subject "storage:session.get":\nsessionId: Input should be a valid string'
        )
        assert error["code"] == "VALIDATION_ERROR" and error["subject"] == "storage:session.get"
        assert error["data"]["issues"] == [
            {"code": "invalid_type", "path": ["sessionId"], "message": "Input should be a valid string"}
        ]
        bad = {**record("v"), "status": "bogus", "title": 5}
        del bad["createdAt"]
        error = bus.request("set", {"sessionId": "v", "session": bad})["error"]
        issues = {tuple(issue["path"]): issue["code"] for issue in error["data"]["issues"]}
        assert issues == {
            ("session", "createdAt"): "invalid_type",
            ("session", "status"): "invalid_value",
            ("session", "title"): "invalid_type",
        }
        assert error["message"].count("\n") == 3 and "\nsession.status: " in error["message"]
        assert error["data"]["path"] == ["session", "createdAt"]  # the first, as before
        # A rule of the reference (not the schema) is one `custom` issue.
        error = bus.request("set", {"sessionId": "v", "session": record("other")})["error"]
        assert error["data"]["issues"] == [
            {
                "code": "custom",
                "path": ["session", "sessionId"],
                "message": "must equal the request's sessionId",
            }
        ]


def test_paging_beyond_the_sql_range_is_a_validation_error(bus_url: str) -> None:
    with BusClient(bus_url) as bus:
        error = bus.request("list", {"offset": 2**63})["error"]
        assert error["code"] == "VALIDATION_ERROR" and error["data"]["path"] == ["offset"]
        assert bus.call("list", {"offset": 2**62}) == {"sessions": [], "total": bus.call("list", {})["total"]}


def test_an_envelope_without_a_subject_names_none(bus_url: str) -> None:
    with BusClient(bus_url) as bus:
        bus.send({"type": "request", "namespace": "storage:session", "correlationId": "ns1"})
        error = bus.next_message()["error"]
        assert error["code"] == "INVALID_MESSAGE" and "subject" not in error
        assert error["data"]["issues"] == [{"path": ["subject"], "message": "Field required"}]


DEEP = "[" * 1000 + '"x"' + "]" * 1000


@pytest.mark.parametrize("field", ["subject", "namespace", "correlationId", "messageId", "timeout"])
def test_a_deeply_nested_envelope_field_is_answered(bus_url: str, field: str) -> None:
    envelope: dict[str, Any] = {
        "type": "request",
        "namespace": "storage:session",
        "subject": "get",
        "correlationId": "deep-1",
        "payload": {"sessionId": "x"},
    }
    envelope[field] = "@DEEP@"
    text = orjson.dumps(envelope).decode().replace('"@DEEP@"', DEEP)
    with BusClient(bus_url) as bus:
        bus.send(text)
        if field == "correlationId":  # nobody to answer
            assert bus.closed_with()[0] == 4400
            return
        error = bus.next_message()["error"]
        assert error["code"] == "INVALID_MESSAGE" and error["data"]["issues"][0]["path"] == [field]
        assert "subject" not in error or field not in ("subject", "namespace")
        assert bus.call("getStatusCounts", {})["all"] >= 0


@pytest.mark.parametrize("kind", [["request"], {"a": 1}, 7, None, True])
def test_a_type_that_is_not_a_string_closes_4400(bus_url: str, kind: Any) -> None:
    with BusClient(bus_url) as bus:
        bus.send({"type": kind, "namespace": "storage:session", "subject": "get", "correlationId": "t"})
        assert bus.closed_with() == (4400, "invalid message")


@pytest.mark.parametrize("kind", [["auth-response"], {"a": 1}])
def test_a_type_that_is_not_a_string_is_refused_before_authentication(bus_url: str, kind: Any) -> None:
    with Frames(bus_url) as peer:
        peer.recv()
        peer.send({"type": kind, "signature": "00"})
        assert peer.recv() == {"type": "auth-result", "success": False, "error": "expected auth-response"}
        assert peer.closed_with() == (4401, "authentication failed")


def test_record_integers_beyond_64_bits_are_refused_not_kept_as_floats(bus_url: str) -> None:
    """The bus parses frames with the engine's parser: 2^70 is an integer the rule refuses (orjson
    alone read it as a float, which the record then kept)."""
    sid = "bus-2-70"
    with BusClient(bus_url) as peer:
        frame = {
            "type": "request",
            "subject": "set",
            "namespace": "storage:session",
            "correlationId": "big-1",
            "payload": {"sessionId": sid, "session": record(sid, createdAt=424242)},
        }
        peer.send(orjson.dumps(frame).decode().replace("424242", str(2**70)))
        answer = peer.next_message(ACK_WAIT)
        assert answer["error"]["code"] == "VALIDATION_ERROR", answer
        assert "createdAt" in answer["error"]["message"]
        assert peer.call("get", {"sessionId": sid}) == {"session": None}
