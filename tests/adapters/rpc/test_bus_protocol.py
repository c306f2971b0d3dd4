"""The bus at `/bus`: HMAC authentication, the subscribe handshake, framing, errors, timeouts."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import anyio
import pytest

from session_engine.adapters.rpc.bus.auth import sign
from tests.adapters.rpc.client import BusClient, Frames
from tests.adapters.rpc.conftest import GLOBEX_BUS_SECRET
from tests.adapters.server import ServerThread
from tests.records.helpers import record


def test_handshake(bus_url: str) -> None:
    with BusClient(bus_url) as bus:
        assert bus.server_subjects == {"storage:session.*": [0]}
        assert bus.call("getStatusCounts", {})["all"] >= 0


def test_wrong_signature_is_refused_and_closed(bus_url: str) -> None:
    with Frames(bus_url) as peer:
        nonce = peer.recv()["nonce"]
        peer.send({"type": "auth-response", "signature": sign("not-the-secret-at-all", nonce)})
        assert peer.recv() == {"type": "auth-result", "success": False, "error": "invalid signature"}
        assert peer.closed_with() == (4401, "authentication failed")


def test_a_signature_over_another_nonce_is_refused(bus_url: str) -> None:
    with Frames(bus_url) as peer:
        peer.recv()
        peer.send({"type": "auth-response", "signature": sign("acme-bus-secret-0123456789", "old-nonce")})
        assert peer.recv()["success"] is False
        assert peer.closed_with()[0] == 4401


@pytest.mark.parametrize(
    "first",
    [
        {"type": "request", "namespace": "storage:session", "subject": "get", "correlationId": "1"},
        {"type": "auth-response"},
        "not json",
    ],
)
def test_anything_but_an_auth_response_first_is_refused(bus_url: str, first: Any) -> None:
    with Frames(bus_url) as peer:
        peer.recv()
        peer.send(first)
        assert peer.recv() == {"type": "auth-result", "success": False, "error": "expected auth-response"}
        assert peer.closed_with()[0] == 4401


def test_auth_deadline(fresh_server: Callable[..., ServerThread]) -> None:
    url = fresh_server(initialize_deadline_seconds=0.3).base_url.replace("http", "ws") + "/bus"
    with Frames(url) as peer:
        peer.recv()
        assert peer.recv() == {"type": "auth-result", "success": False, "error": "authentication timed out"}
        assert peer.closed_with() == (4408, "authentication timed out")


def test_each_secret_serves_its_tenant(bus_url: str, request: pytest.FixtureRequest) -> None:
    session = f"t-{request.node.name}"
    with BusClient(bus_url) as acme, BusClient(bus_url, secret=GLOBEX_BUS_SECRET) as globex:
        assert acme.call("set", {"sessionId": session, "session": record(session)}) == {
            "success": True,
            "clientAccountChanged": False,
        }
        assert globex.call("get", {"sessionId": session}) == {"session": None}
        assert acme.call("get", {"sessionId": session})["session"]["sessionId"] == session


def test_heartbeat_and_broadcast(bus_url: str) -> None:
    with BusClient(bus_url) as bus:
        bus.send({"type": "heartbeat", "timestamp": 1})
        beat = bus.next_message()
        assert beat["type"] == "heartbeat" and beat["timestamp"] > 1_600_000_000_000
        bus.send({"type": "broadcast", "namespace": "x", "subject": "y", "correlationId": "b1"})
        assert bus.next_message() == {"type": "broadcast-response", "correlationId": "b1", "results": []}
        # messages the server has nothing to do with are accepted silently
        bus.send({"type": "event", "namespace": "x", "subject": "y", "payload": {}, "messageId": "m"})
        bus.send({"type": "response", "correlationId": "zzz", "result": {}})
        assert bus.call("getStatusCounts", {})["all"] >= 0


def test_no_handler(bus_url: str) -> None:
    with BusClient(bus_url) as bus:
        for namespace, subject in (("storage:session", "explode"), ("storage:other", "get"), ("", "")):
            error = bus.request(subject, {}, namespace=namespace)["error"]
            assert error == {
                "message": f"no handler for {namespace}.{subject}",
                "code": "NO_HANDLER",
                "subject": f"{namespace}.{subject}",
            }


def test_validation_errors_name_the_field(bus_url: str) -> None:
    with BusClient(bus_url) as bus:
        error = bus.request("get", {})["error"]
        assert error["code"] == "VALIDATION_ERROR" and error["subject"] == "storage:session.get"
        assert error["data"]["path"] == ["sessionId"]
        error = bus.request("set", {"sessionId": "v1", "session": {**record("v1"), "status": "bogus"}})[
            "error"
        ]
        assert error["data"]["path"] == ["session", "status"]
        assert error["data"]["field"] == "session.status"
        error = bus.request("set", {"sessionId": "v1", "session": record("other")})["error"]
        assert error["code"] == "VALIDATION_ERROR"
        assert bus.request("get", [1, 2])["error"]["code"] == "VALIDATION_ERROR"
        assert bus.request("list", {"limit": "10"})["error"]["data"]["path"] == ["limit"]
        error = bus.request("search", {"query": 'NEAR("unbalanced'})["error"]
        assert error["code"] == "VALIDATION_ERROR"


def test_an_invalid_envelope_is_answered_when_it_can_be(bus_url: str) -> None:
    with BusClient(bus_url) as bus:
        bus.send({"type": "request", "correlationId": "e1", "namespace": "storage:session"})
        error = bus.next_message()["error"]
        assert error["code"] == "INVALID_MESSAGE" and error["data"]["issues"][0]["path"] == ["subject"]
        bus.send({"type": "request", "correlationId": "e2", "namespace": 5, "subject": "get"})
        assert bus.next_message()["correlationId"] == "e2"
        assert bus.call("getStatusCounts", {})["all"] >= 0


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("{broken", 4400),
        ('{"type": "no-such-type"}', 4400),
        ('{"type": "request", "subject": "get"}', 4400),  # nobody to answer: close
        ("[1, 2]", 4400),
        (b"binary", 1003),
        ("x" * 70_000, 1009),
    ],
)
def test_frames_that_are_not_messages_close(bus_url: str, frame: str | bytes, code: int) -> None:
    with BusClient(bus_url) as bus:
        bus.send(frame)
        assert bus.closed_with()[0] == code


def test_internal_errors_do_not_leak(fresh_server: Callable[..., ServerThread]) -> None:
    server = fresh_server()
    records = server.app.state.engine.records

    async def explode(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("secret stack detail")

    records.get = explode
    with BusClient(server.base_url.replace("http", "ws") + "/bus") as bus:
        error = bus.request("get", {"sessionId": "x"})["error"]
        assert error == {
            "message": "internal error",
            "code": "INTERNAL_ERROR",
            "subject": "storage:session.get",
        }
        assert bus.call("getStatusCounts", {})["all"] == 0  # the connection lives on


def test_timeout_and_deadline(fresh_server: Callable[..., ServerThread]) -> None:
    server = fresh_server()
    records = server.app.state.engine.records
    original = records.get

    async def slow(*args: Any, **kwargs: Any) -> Any:
        await anyio.sleep(0.5)
        return await original(*args, **kwargs)

    records.get = slow
    with BusClient(server.base_url.replace("http", "ws") + "/bus") as bus:
        started = time.monotonic()
        error = bus.request("get", {"sessionId": "x"}, timeout=100)["error"]
        assert error["code"] == "TIMEOUT" and time.monotonic() - started < 0.45
        error = bus.request("get", {"sessionId": "x"}, deadline=int(time.time() * 1000) + 100)["error"]
        assert error["code"] == "TIMEOUT"
        past = int(time.time() * 1000) - 1
        error = bus.request("set", {"sessionId": "d", "session": record("d")}, deadline=past)["error"]
        assert error["code"] == "DEADLINE_EXCEEDED"
        assert bus.call("get", {"sessionId": "d"}) == {"session": None}  # nothing was written
        assert bus.call("get", {"sessionId": "x"}, timeout=5000) == {"session": None}


def test_requests_run_concurrently_and_match_by_correlation(bus_url: str) -> None:
    with BusClient(bus_url) as bus:
        for n in range(20):
            bus.send(
                {
                    "type": "request",
                    "namespace": "storage:session",
                    "subject": "set",
                    "payload": {"sessionId": f"cc{n}", "session": record(f"cc{n}")},
                    "correlationId": f"k{n}",
                }
            )
        answers = {(m := bus.next_message())["correlationId"]: m for _ in range(20)}
        assert set(answers) == {f"k{n}" for n in range(20)}
        assert all(answer["result"]["success"] for answer in answers.values())
