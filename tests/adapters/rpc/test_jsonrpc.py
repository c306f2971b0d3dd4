"""JSON-RPC 2.0 at `/rpc` over a websocket and over HTTP POST: framing, batches, errors, BlobHub methods."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest

from session_engine.adapters.rpc.jsonrpc import MAX_BATCH
from session_engine.engine import EngineError
from tests.adapters.rpc.client import RpcClient
from tests.adapters.server import ServerThread
from tests.adapters.websocket.conftest import ACME_KEY, GLOBEX_KEY

ACME = {"Authorization": f"Bearer {ACME_KEY}"}


def message_value(text: str = "hello") -> dict[str, Any]:
    return {
        "type": "message",
        "message": {
            "role": "user",
            "content": [{"type": "text", "text": text}],
            "attributes": {"id": "m1", "created_at": 1_700_000_000_000, "syntax_mode": "text"},
            "providers": [],
        },
    }


def thread_value() -> dict[str, Any]:
    attributes = {"id": "t1", "created_at": 1_700_000_000_000, "name": "notes", "description": "d"}
    return {"type": "thread", "thread": {"attributes": attributes, "metadata": {}}}


@pytest.fixture
def rpc(rpc_ws_url: str) -> Any:
    with RpcClient(rpc_ws_url, additional_headers=ACME) as client:
        yield client


def test_blobhub_commands_round_trip(rpc: RpcClient, request: pytest.FixtureRequest) -> None:
    session = f"s-{request.node.name}"
    assert (
        rpc.call("upload_session_object", session_id=session, alias="greeting", value=message_value()) == {}
    )
    envelope = rpc.call("download_session_object", session_id=session, alias="greeting")
    assert envelope["revision_id"] == "acme" and envelope["session_id"] == session
    assert envelope["value"] == message_value()
    listed = rpc.call("list_session_objects", session_id=session)
    assert "greeting" in orjson.dumps(listed).decode()
    rpc.call("upload_session_object", session_id=session, alias="notes", value=thread_value())
    posted = rpc.call(
        "post_session_thread_item", session_id=session, alias="notes", content=[{"type": "text", "text": "x"}]
    )
    item = posted["item"]
    assert rpc.call("get_session_thread_item", session_id=session, alias="notes", item_id=item["id"]) == {
        "item": item
    }
    assert rpc.call("delete_session_object", session_id=session, alias="greeting") is not None


def test_domain_errors_carry_the_blobhub_error_name(rpc: RpcClient) -> None:
    answer = rpc.request("download_session_object", {"session_id": "nobody", "alias": "missing"})
    assert answer["error"]["code"] == 404
    assert answer["error"]["data"]["error"] == "not_found"
    answer = rpc.request(
        "post_session_thread_item",
        {"session_id": "nobody", "alias": "x", "content": [{"type": "text", "text": "t"}]},
    )
    assert answer["error"]["data"]["error"] == "invalid_thread_envelope"


def test_invalid_params_name_the_field(rpc: RpcClient) -> None:
    answer = rpc.request("download_session_object", {"session_id": "s1"})
    assert answer["error"]["code"] == -32602
    assert "alias" in answer["error"]["message"]
    assert rpc.request("download_session_object", ["s1", "a"])["error"]["code"] == -32602


def test_revision_id_must_be_the_credentials(rpc: RpcClient) -> None:
    answer = rpc.request("list_session_objects", {"session_id": "s1", "revision_id": "globex"})
    assert answer["error"]["code"] == 403
    assert rpc.request("list_session_objects", {"session_id": "s1", "revision_id": "acme"})["result"]


def test_standard_errors(rpc: RpcClient) -> None:
    assert rpc.raw("{not json")["error"]["code"] == -32700
    assert rpc.raw({"jsonrpc": "1.0", "id": 1, "method": "x"}) == {
        "jsonrpc": "2.0",
        "id": 1,
        "error": {"code": -32600, "message": '"jsonrpc" must be "2.0"'},
    }
    assert rpc.raw({"jsonrpc": "2.0", "id": 1.5, "method": "x"})["error"]["code"] == -32600
    assert rpc.raw({"jsonrpc": "2.0", "id": 2, "method": 7})["error"]["code"] == -32600
    assert rpc.raw({"jsonrpc": "2.0", "id": 3, "method": "x", "params": 5})["error"]["code"] == -32600
    assert rpc.raw("[]")["error"]["code"] == -32600
    assert rpc.raw("42") == {
        "jsonrpc": "2.0",
        "id": None,
        "error": {"code": -32600, "message": "a request must be a JSON object"},
    }
    answer = rpc.request("no_such_method", {})
    assert answer["error"]["code"] == -32601


def test_batches_answer_in_order_and_skip_notifications(rpc: RpcClient) -> None:
    batch = [
        {"jsonrpc": "2.0", "id": "a", "method": "list_session_objects", "params": {"session_id": "b1"}},
        {"jsonrpc": "2.0", "method": "list_session_objects", "params": {"session_id": "b1"}},
        {"jsonrpc": "2.0", "id": "c", "method": "nope"},
        5,
        {"jsonrpc": "2.0", "id": "d", "method": "download_session_object", "params": {"session_id": "b1"}},
    ]
    answers = rpc.raw(batch)
    assert [answer["id"] for answer in answers] == ["a", "c", None, "d"]
    assert "result" in answers[0]
    assert [answers[i]["error"]["code"] for i in (1, 2, 3)] == [-32601, -32600, -32602]
    too_big = [{"jsonrpc": "2.0", "id": i, "method": "nope"} for i in range(MAX_BATCH + 1)]
    assert rpc.raw(too_big)["error"]["code"] == -32600


def test_notifications_only_get_no_answer(rpc: RpcClient) -> None:
    rpc.send({"jsonrpc": "2.0", "method": "list_session_objects", "params": {"session_id": "n1"}})
    rpc.send([{"jsonrpc": "2.0", "method": "nope"}])
    assert rpc.request("list_session_objects", {"session_id": "n1"})["id"] == 1  # the next frame is this


def test_http_post(base_url: str, request: pytest.FixtureRequest) -> None:
    session = f"h-{request.node.name}"
    url = base_url + "/rpc"
    call = {"jsonrpc": "2.0", "id": 1, "method": "upload_session_object"}
    params = {"session_id": session, "alias": "m", "value": message_value()}
    with httpx.Client(timeout=10) as http:
        answer = http.post(url, json={**call, "params": params}, headers=ACME)
        assert answer.status_code == 200 and answer.json() == {"jsonrpc": "2.0", "id": 1, "result": {}}
        download = {"jsonrpc": "2.0", "id": 2, "method": "download_session_object"}
        batch = [{**download, "params": {"session_id": session, "alias": "m"}}]
        answer = http.post(url, json=batch, headers=ACME)
        assert answer.json()[0]["result"]["value"] == message_value()
        # another tenant does not see it
        other = http.post(url, json=batch, headers={"X-Api-Key": GLOBEX_KEY}).json()
        assert other[0]["error"]["code"] == 404
        assert http.post(url, content=b"{oops", headers=ACME).json()["error"]["code"] == -32700
        notify = {"jsonrpc": "2.0", "method": "list_session_objects", "params": {"session_id": session}}
        assert http.post(url, json=notify, headers=ACME).status_code == 204
        unknown = http.post(url, json=batch, headers={"Authorization": "Bearer wrong-key-123"})
        assert unknown.status_code == 401
        subscribe = {"jsonrpc": "2.0", "id": 3, "method": "subscription/add", "params": {}}
        assert http.post(url, json=subscribe, headers=ACME).json()["error"]["code"] == -32601


def test_http_body_limit(fresh_server: Callable[..., ServerThread]) -> None:
    url = fresh_server(max_body_bytes=2048).base_url + "/rpc"
    body = orjson.dumps({"jsonrpc": "2.0", "id": 1, "method": "x", "params": {"pad": "x" * 3000}})
    with httpx.Client(timeout=10) as http:
        assert http.post(url, content=body, headers=ACME).status_code == 413
        small = {"jsonrpc": "2.0", "id": 1, "method": "list_session_objects", "params": {"session_id": "s"}}
        assert http.post(url, json=small, headers=ACME).status_code == 200


def test_websocket_refuses_an_unknown_key(rpc_ws_url: str) -> None:
    from websockets.exceptions import InvalidStatus

    with pytest.raises(InvalidStatus) as refused:
        RpcClient(rpc_ws_url, additional_headers={"Authorization": "Bearer not-a-key-at-all"})
    assert refused.value.response.status_code == 403
    with pytest.raises(InvalidStatus):
        RpcClient(rpc_ws_url)  # no credential and no anonymous tenant


def test_websocket_frame_limits(rpc: RpcClient) -> None:
    rpc.send(b"\x00binary")
    assert rpc.closed_with()[0] == 1003


def test_an_engine_failure_is_internal_error_and_logged(
    fresh_server: Callable[..., ServerThread], caplog: pytest.LogCaptureFixture
) -> None:
    """An engine error with no BlobHub name answers 500 `internal_error` without its detail; the
    log has the cause with its traceback. The connection and the engine go on serving."""
    server = fresh_server()
    engine = server.app.state.engine

    async def fail(*args: Any, **kwargs: Any) -> Any:
        raise EngineError("secret detail")

    caplog.set_level(logging.ERROR, logger="session_engine.jsonrpc")
    call = {"jsonrpc": "2.0", "id": 1, "method": "download_session_object"}
    params = {"session_id": "s", "alias": "m"}
    with httpx.Client(timeout=10) as http:
        engine.objects.download = fail
        try:
            error = http.post(server.base_url + "/rpc", json={**call, "params": params}, headers=ACME).json()
        finally:
            del engine.objects.download
        assert error["error"]["code"] == 500 and error["error"]["data"]["error"] == "internal_error"
        assert "secret" not in orjson.dumps(error).decode()
        again = http.post(server.base_url + "/rpc", json={**call, "params": params}, headers=ACME).json()
        assert again["error"]["data"]["error"] == "not_found"
    logged = [r for r in caplog.records if r.name == "session_engine.jsonrpc" and r.exc_info]
    assert len(logged) == 1 and "secret detail" in str(logged[0].exc_info[1])  # type: ignore[index]
