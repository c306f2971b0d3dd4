"""The nine `storage:session` subjects over the bus, with the seed's field tables as payloads."""

from __future__ import annotations

from typing import Any

import pytest

from session_engine.adapters.conformance.strategies import agent
from tests.adapters.rpc.client import BusClient, RpcClient
from tests.adapters.rpc.test_jsonrpc import ACME
from tests.records.helpers import identity, record


def full_record(session_id: str, **fields: Any) -> dict[str, Any]:
    """A record using every optional field the seed lists."""
    return record(
        session_id,
        last=5000,
        agents=[
            agent(
                "a1",
                session_id,
                adapterSessionId=f"ad-{session_id}",
                model="m",
                cwd="/w",
                providerConfigId="p",
                personaId="pe",
                profileId="pr",
                harnessId="h",
                clientId="c1",
                compressionMode="auto",
            )
        ],
        leadAgentId="a1",
        rootSessionId=session_id,
        adapterName="Claude",
        adapterSessionId=f"ad-{session_id}",
        adapterId="claude",
        isOrchestrated=False,
        title="Fix the parser",
        summary="s",
        summaryUpdatedAt=4000,
        isImported=False,
        forkTransforms={
            "removedMessageIds": ["x"],
            "appliedPipeline": [{"actionId": "a", "options": {"k": 1}}],
            "segments": [{"fromMessageId": "f", "toMessageId": "t", "policy": "verbatim"}],
        },
        targetWorkingDirectory="/w",
        executionTargetId="local",
        spawningToolCallId="call-1",
        approvalPolicyOverride="always-ask",
        **identity("c1", "acct-1"),
        **fields,
    )


@pytest.fixture
def bus(bus_url: str) -> Any:
    with BusClient(bus_url) as client:
        yield client


def test_set_get_and_get_by_adapter_session_id(bus: BusClient, request: pytest.FixtureRequest) -> None:
    sid = f"sg-{request.node.name}"
    session = full_record(sid)
    assert bus.call("set", {"sessionId": sid, "session": session}) == {
        "success": True,
        "clientAccountChanged": True,
    }
    assert bus.call("get", {"sessionId": sid}) == {"session": session}
    assert bus.call("getByAdapterSessionId", {"adapterSessionId": f"ad-{sid}"}) == {"session": session}
    assert bus.call("getByAdapterSessionId", {"adapterSessionId": "nobody"}) == {"session": None}
    assert bus.call("set", {"sessionId": sid, "session": session, "ifAbsent": True}) == {
        "success": False,
        "clientAccountChanged": False,
    }
    assert bus.call("get", {"sessionId": "missing"}) == {"session": None}


def test_update(bus: BusClient, request: pytest.FixtureRequest) -> None:
    sid = f"up-{request.node.name}"
    bus.call("set", {"sessionId": sid, "session": full_record(sid)})
    assert bus.call(
        "update", {"sessionId": sid, "title": "New", "executionTargetId": None, "status": "closed"}
    )["success"]
    stored = bus.call("get", {"sessionId": sid})["session"]
    assert stored["title"] == "New" and stored["status"] == "closed" and "executionTargetId" not in stored
    assert bus.call("update", {"sessionId": sid}) == {"success": True, "clientAccountChanged": False}
    assert bus.call("update", {"sessionId": "nobody", "title": "x"})["success"] is False


def test_delete(bus: BusClient, request: pytest.FixtureRequest) -> None:
    sid = f"de-{request.node.name}"
    bus.call("set", {"sessionId": sid, "session": record(sid)})
    assert bus.call("delete", {"sessionId": sid}) == {"success": True}
    assert bus.call("delete", {"sessionId": sid}) == {"success": True}  # gone either way
    assert bus.call("get", {"sessionId": sid}) == {"session": None}


def test_get_children(bus: BusClient, request: pytest.FixtureRequest) -> None:
    root = f"ch-{request.node.name}"
    bus.call("set", {"sessionId": root, "session": record(root)})
    child = record(f"{root}-c", parentSessionId=root, branchKind="fork", title="c", spawningToolCallId="t1")
    bus.call("set", {"sessionId": f"{root}-c", "session": child})
    bus.call("set", {"sessionId": f"{root}-g", "session": record(f"{root}-g", parentSessionId=f"{root}-c")})
    children = bus.call("getChildren", {"sessionId": root})["children"]
    assert children == [
        {
            "sessionId": f"{root}-c",
            "title": "c",
            "forkPointMessageId": None,
            "branchKind": "fork",
            "messageCount": 0,
            "hasChildren": True,
            "spawningToolCallId": "t1",
        }
    ]


def test_status_counts_list_and_search(bus_url: str) -> None:
    # on its own tenant-wide view: counts move by exactly what this test writes
    with (
        BusClient(bus_url) as bus,
        RpcClient(bus_url.replace("/bus", "/rpc"), additional_headers=ACME) as rpc,
    ):
        before = bus.call("getStatusCounts", {})
        assert set(before) == {"active", "all", "archived", "closed", "discovered"}
        for n, status in enumerate(["active", "archived", "archived"]):
            sid = f"lc-{n}"
            bus.call(
                "set",
                {"sessionId": sid, "session": record(sid, last=9e12 + n, status=status, title=f"zebra {n}")},
            )
        after = bus.call("getStatusCounts", {})
        assert after["archived"] - before["archived"] == 2 and after["all"] - before["all"] == 3
        listed = bus.call("list", {"status": "archived", "limit": 1, "offset": 0, "includePreview": True})
        assert listed["total"] >= 2 and [s["sessionId"] for s in listed["sessions"]] == ["lc-2"]
        assert listed["sessions"][0]["preview"] == {"messageCount": 0, "firstUserMessage": None}
        messages = [{"role": "user", "content": [{"type": "text", "text": "the quokka smiles"}]}]
        rpc.call(
            "upload_session_object",
            session_id="lc-0",
            alias="conv",
            value={"type": "messages", "messages": messages},
        )
        found = bus.call("search", {"query": "quokka", "status": "all", "isImported": False, "limit": 5})
        assert [s["sessionId"] for s in found["sessions"]] == ["lc-0"] and found["total"] == 1
        assert found["sessions"][0]["preview"] == {"messageCount": 1, "firstUserMessage": "the quokka smiles"}
        assert bus.call("search", {"query": "ZEBRA 2"})["sessions"][0]["sessionId"] == "lc-2"
        assert bus.call("search", {"query": "   "}) == {"sessions": [], "total": 0}
