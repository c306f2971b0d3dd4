"""`engine.records` speaks the domain's types: records as stored documents in, dataclasses out.

The wire tests (the rest of this folder, through `RecordSubjects`) check Makaio's shapes; these
check that the engine needs none of them, and that its own rules refuse bad input unchanged.
"""

from __future__ import annotations

import pytest

from session_engine.engine import Engine, ValidationFailed
from session_engine.engine.records import (
    Child,
    Listed,
    ListQuery,
    Page,
    SearchQuery,
    StatusCounts,
    WriteResult,
)
from session_engine.engine.records.errors import InvalidRecordRequest
from tests.records.helpers import NS, identity, record, say

pytestmark = pytest.mark.anyio


async def test_writes_and_reads_in_domain_types(engine: Engine) -> None:
    records = engine.records
    root, child = record("root", 10, title="Root"), record("kid", 20, parentSessionId="root")
    assert await records.set(NS, "root", root) == WriteResult(success=True, client_account_changed=False)
    assert await records.set(NS, "root", root, if_absent=True) == WriteResult(success=False)
    assert (await records.set(NS, "kid", {**child, **identity("c1", "acc")})).client_account_changed
    await say(engine, "kid", ("user", "hello there"))
    assert await records.get(NS, "root") == root
    assert await records.get(NS, "nobody") is None
    assert await records.children(NS, "root") == [
        Child("kid", None, None, None, message_count=1, has_children=False)
    ]
    assert await records.update(NS, "root", {"status": "closed", "title": None}) == WriteResult(True, False)
    assert await records.update(NS, "nobody", {"status": "closed"}) == WriteResult(False, False)
    counts = StatusCounts(discovered=0, active=1, closed=1, archived=0, all=2)
    assert await records.status_counts(NS) == counts
    page = await records.list(NS, ListQuery(status="closed"))
    assert page == Page([Listed({k: v for k, v in root.items() if k != "title"} | {"status": "closed"})], 1)
    found = await records.search(NS, SearchQuery("hello"))
    assert [hit.record["sessionId"] for hit in found.sessions] == ["kid"] and found.total == 1
    preview = found.sessions[0].preview
    assert preview is not None and preview.first_user_message == "hello there"
    assert await records.delete(NS, "kid") is True
    assert await records.delete(NS, "kid") is False


async def test_the_engine_refuses_what_breaks_its_rules(engine: Engine) -> None:
    records = engine.records
    head = await engine.head()
    with pytest.raises(InvalidRecordRequest) as refused:
        await records.set(NS, "a", record("b"))
    assert refused.value.path == ("sessionId",)
    with pytest.raises(InvalidRecordRequest) as refused:
        await records.set(NS, "a", record("a", clientAccountId="acc"))
    assert refused.value.path == ("clientId",)
    with pytest.raises(InvalidRecordRequest) as refused:
        await records.set(NS, "a", record("a", title="x" * (1024 * 1024)))
    assert refused.value.under("session").path == ("session",)
    with pytest.raises(ValidationFailed):
        await records.set("bad\x00namespace", "a", record("a"))
    with pytest.raises(ValidationFailed):
        await records.delete(NS, "")
    assert await engine.head() == head  # nothing was written
