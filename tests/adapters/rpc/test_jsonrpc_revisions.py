"""BlobHub revisions over JSON-RPC (HTTP and websocket) and `subscription/add` with `scope: "revision"`.

Any `revision_id` / `scope_id` is the caller's own revision, scoped inside its tenant: commands,
events and subscriptions stay inside (tenant, revision).
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.adapters.rpc.client import RpcClient
from tests.adapters.rpc.test_jsonrpc import ACME, message_value, thread_value
from tests.adapters.rpc.test_jsonrpc_subscriptions import GLOBEX


def text_of(envelope: dict[str, Any]) -> str:
    text: str = envelope["value"]["message"]["content"][0]["text"]
    return text


def http_call(base_url: str, headers: dict[str, str], method: str, **params: Any) -> Any:
    message = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
    answer = httpx.post(f"{base_url}/rpc", json=message, headers=headers, timeout=10).json()
    assert "error" not in answer, answer
    return answer["result"]


def test_commands_in_any_revision(base_url: str, rpc_ws_url: str, request: pytest.FixtureRequest) -> None:
    session = f"rv-{request.node.name}"
    with RpcClient(rpc_ws_url, additional_headers=ACME) as rpc:
        for revision in ("rev_001", "rev_002"):
            rpc.call(
                "upload_session_object",
                revision_id=revision,
                session_id=session,
                alias="m",
                value=message_value(revision),
            )
        rpc.call("upload_session_object", session_id=session, alias="m", value=message_value("own"))
        rpc.call(
            "upload_session_object",
            revision_id="rev_001",
            session_id=session,
            alias="t",
            value=thread_value(),
        )
        item = rpc.call(
            "post_session_thread_item",
            revision_id="rev_001",
            session_id=session,
            alias="t",
            content=[{"type": "text", "text": "x"}],
        )["item"]
        assert (item["revision_id"], item["session_id"]) == ("rev_001", session)
        for revision, text in (("rev_001", "rev_001"), ("rev_002", "rev_002"), ("acme", "own")):
            envelope = rpc.call(
                "download_session_object", revision_id=revision, session_id=session, alias="m"
            )
            assert (envelope["revision_id"], envelope["session_id"], text_of(envelope)) == (
                revision,
                session,
                text,
            )
        envelope = rpc.call("download_session_object", session_id=session, alias="m")  # no revision_id
        assert (envelope["revision_id"], text_of(envelope)) == ("acme", "own")
        listed = rpc.call("list_session_objects", revision_id="rev_002", session_id=session)
        assert [o["alias"] for o in listed["objects"]] == ["m"]
    # HTTP POST reads what the websocket wrote, in the same revisions.
    over_http = http_call(base_url, ACME, "list_session_objects", revision_id="rev_001", session_id=session)
    assert [o["alias"] for o in over_http["objects"]] == ["m", "t"]
    items = http_call(
        base_url, ACME, "list_session_thread_items", revision_id="rev_001", session_id=session, alias="t"
    )
    assert items["items"] == [item]


def test_two_tenants_rev_001_are_disjoint(base_url: str, request: pytest.FixtureRequest) -> None:
    session = f"tn-{request.node.name}"
    for headers, owner in ((ACME, "acme"), (GLOBEX, "globex")):
        http_call(
            base_url,
            headers,
            "upload_session_object",
            revision_id="rev_001",
            session_id=session,
            alias="m",
            value=message_value(owner),
        )
    http_call(base_url, GLOBEX, "delete_session_object", revision_id="rev_001", session_id=session, alias="m")
    mine = http_call(
        base_url, ACME, "download_session_object", revision_id="rev_001", session_id=session, alias="m"
    )
    assert text_of(mine) == "acme"
    message = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "download_session_object",
        "params": {"revision_id": "rev_001", "session_id": session, "alias": "m"},
    }
    gone = httpx.post(f"{base_url}/rpc", json=message, headers=GLOBEX, timeout=10).json()
    assert gone["error"]["code"] == 404 and gone["error"]["data"]["error"] == "not_found"


def revision_params(revision: str, session: str | None = None, **extra: Any) -> dict[str, Any]:
    params: dict[str, Any] = {"scope": "revision", "scope_id": revision, **extra}
    if session is not None:
        params.update(target="session", target_id=session)
    return params


def upload(client: RpcClient, revision: str, session: str, alias: str) -> None:
    client.call(
        "upload_session_object", revision_id=revision, session_id=session, alias=alias, value=message_value()
    )


def test_subscriptions_stay_in_the_tenant_and_revision(
    rpc_ws_url: str, request: pytest.FixtureRequest
) -> None:
    session, other = f"sb-{request.node.name}", f"sb2-{request.node.name}"
    with (
        RpcClient(rpc_ws_url, additional_headers=ACME) as watcher,
        RpcClient(rpc_ws_url, additional_headers=GLOBEX) as globex,
        RpcClient(rpc_ws_url, additional_headers=ACME) as writer,
    ):
        assert watcher.call("subscription/add", **revision_params("rev_001", session)) == {}
        assert watcher.call("subscription/add", **revision_params("rev_002")) == {}  # every session in it
        assert globex.call("subscription/add", **revision_params("rev_001", session)) == {}
        upload(writer, "rev_001", session, "one")
        upload(writer, "rev_002", other, "two")
        upload(writer, "rev_003", session, "three")  # no subscription
        upload(writer, "acme", session, "own")  # the tenant's own revision: not rev_001
        upload(globex, "rev_001", session, "theirs")
        events = [watcher.notification()["params"] for _ in range(2)]
        seen = {(e["revision_id"], e["session_id"], e["session_object"]["alias"]) for e in events}
        assert seen == {("rev_001", session, "one"), ("rev_002", other, "two")}
        theirs = globex.notification()["params"]
        assert (theirs["revision_id"], theirs["session_object"]["alias"]) == ("rev_001", "theirs")
        with pytest.raises(TimeoutError):
            watcher.notification(timeout=0.3)
        with pytest.raises(TimeoutError):
            globex.notification(timeout=0.1)

        # Catch-up from the log (`after`): exactly this revision's past events of the session.
        with RpcClient(rpc_ws_url, additional_headers=ACME) as late:
            assert late.call("subscription/add", **revision_params("rev_001", session, after=0)) == {}
            caught = late.notification()["params"]
            assert (caught["revision_id"], caught["session_object"]["alias"]) == ("rev_001", "one")
            with pytest.raises(TimeoutError):
                late.notification(timeout=0.3)
        assert watcher.call("subscription/remove", **revision_params("rev_002")) == {}
        upload(writer, "rev_002", other, "after-remove")
        with pytest.raises(TimeoutError):
            watcher.notification(timeout=0.3)


def test_bad_revision_ids_are_invalid_params(rpc_ws_url: str) -> None:
    with RpcClient(rpc_ws_url, additional_headers=ACME) as rpc:
        answer = rpc.request("list_session_objects", {"session_id": "s", "revision_id": 5})
        assert answer["error"]["code"] == -32602 and answer["error"]["data"]["error"] == "invalid_request"
        answer = rpc.request("list_session_objects", {"session_id": "s", "revision_id": "a\x01b"})
        assert answer["error"]["code"] == -32602
        assert answer["error"]["data"]["error"] == "invalid_session_object"
        long = {"session_id": "s" * 100, "revision_id": "r" * 100, "alias": "m", "value": message_value()}
        answer = rpc.request("upload_session_object", long)
        assert answer["error"]["data"]["error"] == "invalid_session_object"
        for bad in (
            {"scope_id": "a\x01b"},
            {"scope_id": "r" * 201},
            {"target_id": "s" * 100, "scope_id": "r" * 100},
        ):
            params = {**revision_params("rev_001", "s"), **bad}
            assert rpc.request("subscription/add", params)["error"]["code"] == -32602
        assert rpc.call("subscription/add", **revision_params("globex", "s")) == {}  # acme's own "globex"
