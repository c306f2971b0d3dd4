"""Records commands of one batch: the records read model is applied once per batch (stream-local),
so each decision must still see the writes of its session decided before it in the batch."""

from __future__ import annotations

import pytest

from session_engine.adapters.rpc.bus.subjects import RecordSubjects
from session_engine.engine import Engine
from tests.harness import in_one_batch
from tests.records.helpers import NS, put, record, say

pytestmark = pytest.mark.anyio


async def test_decisions_see_their_sessions_earlier_writes(engine: Engine) -> None:
    records = RecordSubjects(engine)
    await put(engine, "gone")
    await say(engine, "a", ("user", "harbour lights"))
    outcomes = await in_one_batch(
        engine,
        [
            lambda: records.set(NS, {"sessionId": "a", "session": record("a", 10, title="first")}),
            lambda: records.set(NS, {"sessionId": "a", "session": record("a", 20), "ifAbsent": True}),
            lambda: records.update(NS, {"sessionId": "a", "status": "closed"}),
            lambda: records.update(NS, {"sessionId": "b", "title": "nobody yet"}),
            lambda: records.set(NS, {"sessionId": "b", "session": record("b", 30)}),
            lambda: records.delete(NS, {"sessionId": "gone"}),
            lambda: records.delete(NS, {"sessionId": "gone"}),
            lambda: records.set(NS, {"sessionId": "gone", "session": record("gone", 40), "ifAbsent": True}),
        ],
    )
    assert [o.model_dump() for o in outcomes] == [
        {"success": True, "clientAccountChanged": False},
        {"success": False, "clientAccountChanged": False},  # the record set just before exists
        {"success": True, "clientAccountChanged": False},
        {"success": False, "clientAccountChanged": False},  # no record yet
        {"success": True, "clientAccountChanged": False},
        {"success": True},
        {"success": True},  # deleted just before: nothing to do, the session is gone either way
        {"success": True, "clientAccountChanged": False},  # recreated (ifAbsent: it was deleted)
    ]
    found = (await records.get(NS, {"sessionId": "a"})).model_dump()["session"]
    assert (found["title"], found["status"]) == ("first", "closed")
    counts = (await records.get_status_counts(NS)).model_dump()
    assert (counts["all"], counts["active"], counts["closed"]) == (3, 2, 1)
    searched = (await records.search(NS, {"query": "harbour", "status": "closed"})).model_dump()
    assert [s["sessionId"] for s in searched["sessions"]] == ["a"] and searched["total"] == 1
    assert await engine.verify() == []
