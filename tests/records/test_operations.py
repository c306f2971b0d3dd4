"""The nine subjects, example by example, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest

from session_engine.adapters.conformance.strategies import agent
from session_engine.adapters.rpc.bus.events import bus_event
from session_engine.adapters.rpc.bus.subjects import SUBJECTS, RecordSubjects
from session_engine.engine import Engine
from session_engine.engine.records.errors import InvalidRecordRequest
from tests.records.helpers import NS, identity, put, record, say

pytestmark = pytest.mark.anyio


async def get(engine: Engine, session_id: str) -> dict[str, Any] | None:
    found: dict[str, Any] | None = (
        await RecordSubjects(engine).get(NS, {"sessionId": session_id})
    ).model_dump()["session"]
    return found


async def test_set_get_replace_and_if_absent(engine: Engine) -> None:
    full = record(
        "s1",
        agents=[agent("a1", "s1", model="opus", compressionMode="auto")],
        title="Hello",
        approvalPolicyOverride="always-ask",
        forkTransforms={"segments": [{"fromMessageId": "m1", "toMessageId": "m2", "policy": "exclude"}]},
        isImported=False,
        summaryUpdatedAt=12.5,
    )
    assert (await RecordSubjects(engine).set(NS, {"sessionId": "s1", "session": full})).model_dump() == {
        "success": True,
        "clientAccountChanged": False,
    }
    assert await get(engine, "s1") == full
    assert await get(engine, "nobody") is None
    # ifAbsent: an existing record is left alone, and that is not an error.
    absent = {"sessionId": "s1", "session": record("s1", title="other"), "ifAbsent": True}
    assert (await RecordSubjects(engine).set(NS, absent)).model_dump() == {
        "success": False,
        "clientAccountChanged": False,
    }
    assert (await get(engine, "s1"))["title"] == "Hello"  # type: ignore[index]
    # A plain set replaces the whole record, agents included.
    await put(engine, "s1", 2000)
    assert await get(engine, "s1") == record("s1", 2000)
    # The same record again appends nothing.
    head = await engine.head()
    assert await put(engine, "s1", 2000) == {"success": True, "clientAccountChanged": False}
    assert await engine.head() == head
    assert await engine.verify() == []


async def test_set_validation(engine: Engine) -> None:
    cases: list[tuple[dict[str, Any], tuple[str | int, ...]]] = [
        ({"sessionId": "x", "session": record("y")}, ("session", "sessionId")),
        ({"sessionId": "s", "session": record("s", status="open")}, ("session", "status")),
        ({"sessionId": "s", "session": record("s", title=None)}, ("session", "title")),
        ({"sessionId": "s", "session": record("s", createdAt="1")}, ("session", "createdAt")),
        (
            {"sessionId": "s", "session": record("s", agents=[{"agentId": "a"}])},
            ("session", "agents", 0, "adapterId"),
        ),
        ({"sessionId": "s\x00", "session": record("s\x00")}, ("sessionId",)),
        ({"sessionId": "s", "session": record("s", clientAccountId="acc")}, ("session", "clientId")),
        (
            {"sessionId": "s", "session": record("s", clientAccountId="acc", clientId="c")},
            ("session", "lastClientIdentityObservation"),
        ),
        (
            {"sessionId": "s", "session": record("s", **{**identity("c", "acc"), "clientId": "other"})},
            ("session", "lastClientIdentityObservation", "clientId"),
        ),
    ]
    for request, path in cases:
        with pytest.raises(InvalidRecordRequest) as caught:
            await RecordSubjects(engine).set(NS, request)
        assert caught.value.path == path, request
    assert await engine.head() == 0


async def test_client_account_changes_and_bus_event(engine: Engine) -> None:
    first = await put(engine, "s", **identity("c1", "acc-1"))
    assert first == {"success": True, "clientAccountChanged": True}
    assert await put(engine, "s", 2000, **identity("c1", "acc-1")) == {
        "success": True,
        "clientAccountChanged": False,
    }
    assert await put(engine, "s", 3000, **identity("c2", "acc-2")) == {
        "success": True,
        "clientAccountChanged": True,
    }
    # To no account: changed, but no bus event (the reference emits only for a non-null account).
    assert await put(engine, "s", 4000) == {"success": True, "clientAccountChanged": True}
    published = [bus_event(e) for e in await engine.read_all()]
    assert [p for p in published if p is not None] == [
        (
            "session.clientAccount.changed",
            {
                "sessionId": "s",
                "clientId": "c1",
                "previousClientAccountId": None,
                "clientAccountId": "acc-1",
                "source": "hook",
                "observedAt": 5,
                "lastClientIdentityObservation": identity("c1", "acc-1")["lastClientIdentityObservation"],
            },
        ),
        (
            "session.clientAccount.changed",
            {
                "sessionId": "s",
                "clientId": "c2",
                "previousClientAccountId": "acc-1",
                "clientAccountId": "acc-2",
                "source": "hook",
                "observedAt": 5,
                "lastClientIdentityObservation": identity("c2", "acc-2")["lastClientIdentityObservation"],
            },
        ),
    ]
    via_update = await RecordSubjects(engine).update(NS, {"sessionId": "s", **identity("c3", "acc-3")})
    assert via_update.model_dump() == {"success": True, "clientAccountChanged": True}


async def test_update(engine: Engine) -> None:
    update = RecordSubjects(engine).update
    assert (await update(NS, {"sessionId": "nobody", "title": "x"})).model_dump() == {
        "success": False,
        "clientAccountChanged": False,
    }
    assert (await update(NS, {"sessionId": "nobody"})).model_dump() == {
        "success": True,
        "clientAccountChanged": False,
    }
    await put(
        engine,
        "s",
        executionTargetId="t1",
        spawningToolCallId="call",
        approvalPolicyOverride="reject",
        title="a",
    )
    result = await update(
        NS,
        {
            "sessionId": "s",
            "title": "b",
            "status": "closed",
            "executionTargetId": None,
            "approvalPolicyOverride": None,
        },
    )
    assert result.model_dump() == {"success": True, "clientAccountChanged": False}
    assert await get(engine, "s") == record("s", spawningToolCallId="call", title="b", status="closed")
    with pytest.raises(InvalidRecordRequest) as caught:
        await update(NS, {"sessionId": "s", "title": None})
    assert caught.value.path == ("title",)
    with pytest.raises(InvalidRecordRequest) as caught:
        await update(NS, {"sessionId": "s", "clientAccountId": "acc"})
    assert caught.value.path == ("clientId",)
    counts = (await RecordSubjects(engine).get_status_counts(NS, {})).model_dump()
    assert counts == {"active": 0, "all": 1, "archived": 0, "closed": 1, "discovered": 0}
    assert await engine.verify() == []


async def test_delete_hides_and_set_recreates(engine: Engine) -> None:
    await put(engine, "p", adapterSessionId="ad-1")
    await put(engine, "c", parentSessionId="p")
    assert (await RecordSubjects(engine).delete(NS, {"sessionId": "p"})).model_dump() == {"success": True}
    # Deleting what is not there succeeds too (Makaio's answer) and records nothing.
    assert (await RecordSubjects(engine).delete(NS, {"sessionId": "p"})).model_dump() == {"success": True}
    assert await get(engine, "p") is None
    by_adapter = await RecordSubjects(engine).get_by_adapter_session_id(NS, {"adapterSessionId": "ad-1"})
    assert by_adapter.model_dump() == {"session": None}
    listed = (await RecordSubjects(engine).list(NS, {})).model_dump()
    assert [s["sessionId"] for s in listed["sessions"]] == ["c"] and listed["total"] == 1
    assert (await RecordSubjects(engine).get_status_counts(NS)).model_dump()["all"] == 1
    assert (await RecordSubjects(engine).update(NS, {"sessionId": "p", "title": "x"})).model_dump() == {
        "success": False,
        "clientAccountChanged": False,
    }
    # History stays: the stream still holds the record's set and delete.
    types = [e.type for e in await engine.read_stream(NS, "p")]
    assert types == ["session_record_set", "session_record_deleted"]
    # A later set recreates the session from scratch (ifAbsent too: it is absent).
    request = {"sessionId": "p", "session": record("p", 5), "ifAbsent": True}
    assert (await RecordSubjects(engine).set(NS, request)).model_dump()["success"] is True
    assert await get(engine, "p") == record("p", 5)
    assert await engine.verify() == []


async def test_children_lineage(engine: Engine) -> None:
    await put(engine, "root")
    await put(
        engine, "a", parentSessionId="root", createdAt=2, title="A", branchKind="fork", forkPointMessageId="m"
    )
    await put(
        engine, "b", parentSessionId="root", createdAt=1, spawningToolCallId="call-1", branchKind="subagent"
    )
    await put(engine, "a1", parentSessionId="a", createdAt=3)
    await say(engine, "a", ("user", "one"), ("assistant", "two"))
    await say(engine, "a1", ("user", "grandchild"))
    children = (await RecordSubjects(engine).get_children(NS, {"sessionId": "root"})).model_dump()["children"]
    assert children == [
        {
            "sessionId": "b",
            "title": None,
            "forkPointMessageId": None,
            "branchKind": "subagent",
            "messageCount": 0,
            "hasChildren": False,
            "spawningToolCallId": "call-1",
        },
        {
            "sessionId": "a",
            "title": "A",
            "forkPointMessageId": "m",
            "branchKind": "fork",
            "messageCount": 2,
            "hasChildren": True,
        },
    ]
    assert (await RecordSubjects(engine).get_children(NS, {"sessionId": "a1"})).model_dump() == {
        "children": []
    }


async def test_list_filters_paging_and_previews(engine: Engine) -> None:
    await put(engine, "s1", 10, status="active", executionTargetId="t")
    await put(engine, "s2", 30, status="closed")
    await put(engine, "s3", 20, status="active", executionTargetId="t")
    await put(engine, "s4", 20, status="archived")
    await say(engine, "s1", ("system", "rules"), ("user", "x" * 600), ("user", "later"))

    async def ids(**request: Any) -> tuple[list[str], int]:
        page = (await RecordSubjects(engine).list(NS, request)).model_dump()
        return [s["sessionId"] for s in page["sessions"]], page["total"]

    assert await ids() == (["s2", "s4", "s3", "s1"], 4)  # ties: sessionId descending
    assert await ids(status="all", limit=2, offset=1) == (["s4", "s3"], 4)
    assert await ids(status="active") == (["s3", "s1"], 2)
    assert await ids(executionTargetId="t", limit=1) == (["s3"], 2)
    assert await ids(status="closed", executionTargetId="t") == ([], 0)
    assert await ids(offset=10) == ([], 4)
    page = (await RecordSubjects(engine).list(NS, {"includePreview": True, "status": "active"})).model_dump()
    assert [s["preview"] for s in page["sessions"]] == [
        {"messageCount": 0, "firstUserMessage": None},
        {"messageCount": 3, "firstUserMessage": "x" * 500},
    ]
    assert "preview" not in (await RecordSubjects(engine).list(NS, {})).model_dump()["sessions"][0]
    for bad in ({"limit": 0}, {"limit": 1001}, {"offset": -1}, {"status": "open"}, {"limit": "5"}):
        with pytest.raises(InvalidRecordRequest):
            await RecordSubjects(engine).list(NS, bad)


async def test_get_by_adapter_session_id_is_null_when_ambiguous(engine: Engine) -> None:
    by_adapter = RecordSubjects(engine).get_by_adapter_session_id
    await put(engine, "old", 1, adapterSessionId="ad")
    assert (await by_adapter(NS, {"adapterSessionId": "ad"})).model_dump()["session"]["sessionId"] == "old"
    await put(engine, "new", 2, adapterSessionId="ad")
    assert (await by_adapter(NS, {"adapterSessionId": "ad"})).model_dump() == {"session": None}
    await RecordSubjects(engine).delete(NS, {"sessionId": "old"})
    assert (await by_adapter(NS, {"adapterSessionId": "ad"})).model_dump()["session"]["sessionId"] == "new"


async def test_update_fills_spawning_tool_call_once(engine: Engine) -> None:
    update = RecordSubjects(engine).update
    await put(engine, "s")
    assert (await update(NS, {"sessionId": "s", "spawningToolCallId": "first"})).success
    result = await update(NS, {"sessionId": "s", "spawningToolCallId": "second", "title": "t"})
    assert result.model_dump() == {"success": True, "clientAccountChanged": False}
    assert await get(engine, "s") == record("s", spawningToolCallId="first", title="t")
    assert (await update(NS, {"sessionId": "s", "spawningToolCallId": None})).success  # null clears
    assert (await update(NS, {"sessionId": "s", "spawningToolCallId": "third"})).success
    assert (await get(engine, "s") or {})["spawningToolCallId"] == "third"
    # set replaces the whole record, this field included.
    await put(engine, "s", spawningToolCallId="fourth")
    assert (await get(engine, "s") or {})["spawningToolCallId"] == "fourth"
    assert await engine.verify() == []


async def test_namespaces_are_separate(engine: Engine) -> None:
    await put(engine, "s")
    assert (await RecordSubjects(engine).get("other", {"sessionId": "s"})).session is None
    assert (await RecordSubjects(engine).get_status_counts("other")).all == 0


def test_subjects_cover_the_seed() -> None:
    assert sorted(SUBJECTS) == sorted(
        [
            "delete",
            "get",
            "getByAdapterSessionId",
            "getChildren",
            "getStatusCounts",
            "list",
            "search",
            "set",
            "update",
        ]
    )
    assert SUBJECTS["set"] is RecordSubjects.set and SUBJECTS["update"] is RecordSubjects.update
