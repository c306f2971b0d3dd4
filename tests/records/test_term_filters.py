"""The term index's copy of each session's record filters (`record_status`, `record_imported`),
which a bare-word search counts by: exact after every record and message change, rebuilt and
verified with both projections, filled by its migration - on both backends."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command

from session_engine.adapters.rpc.bus.subjects import RecordSubjects
from session_engine.engine import Engine, ManualClock
from session_engine.engine.objects.projection import projection as objects_projection
from session_engine.engine.objects.search import queries as messages
from session_engine.engine.projections.base import Projection
from session_engine.engine.projections.registry import ProjectionSet
from session_engine.engine.records.projection import records as records_projection
from session_engine.engine.upgrade import alembic_config
from tests.objects.term_index import expected_filters, stored_filters
from tests.records.helpers import NS, record, say

pytestmark = pytest.mark.anyio
QUERIES = ["harbour", "harbour or quay", "quay"]
REQUESTS: list[dict[str, Any]] = [
    {},
    {"status": "active"},
    {"status": "closed"},
    {"isImported": True},
    {"isImported": False, "status": "active"},
]


async def assert_exact(engine: Engine) -> set[tuple[Any, ...]]:
    """The copies equal the live records', and every search answers as the full-text path does."""
    stored, expected = await engine.read(lambda c: (stored_filters(c), expected_filters(c)))
    assert stored == expected
    for query in QUERIES:
        for request in REQUESTS:
            answers = []
            for use in (True, False):
                messages.USE_TERM_INDEX = use
                try:
                    answers.append(
                        (await RecordSubjects(engine).search(NS, {"query": query, **request})).model_dump()
                    )
                finally:
                    messages.USE_TERM_INDEX = True
            assert answers[0] == answers[1], (query, request)
    return stored


async def filters_of(engine: Engine, session_id: str) -> set[tuple[str | None, bool | None]]:
    stored = await assert_exact(engine)
    return {(status, imported) for ns, _, sid, status, imported in stored if ns == NS and sid == session_id}


async def test_the_copies_follow_every_record_change(engine: Engine) -> None:
    records = RecordSubjects(engine)
    await say(engine, "a", ("user", "harbour boats"))  # messages before any record
    assert await filters_of(engine, "a") == {(None, None)}
    await records.set(NS, {"sessionId": "a", "session": record("a", 10)})
    assert await filters_of(engine, "a") == {("active", False)}
    await records.update(NS, {"sessionId": "a", "status": "closed"})
    assert await filters_of(engine, "a") == {("closed", False)}
    await records.update(NS, {"sessionId": "a", "lastActivityAt": 11})  # neither column changes
    assert await filters_of(engine, "a") == {("closed", False)}
    # A whole-record set (the projection's upsert) that changes isImported and status.
    await records.set(NS, {"sessionId": "a", "session": record("a", 12, status="archived", isImported=True)})
    assert await filters_of(engine, "a") == {("archived", True)}
    await say(engine, "a", ("assistant", "a quay"), alias="more")  # new term rows copy the filters
    assert await filters_of(engine, "a") == {("archived", True)}
    await records.delete(NS, {"sessionId": "a"})
    assert await filters_of(engine, "a") == {(None, None)}
    assert (await records.search(NS, {"query": "harbour"})).total == 0
    await records.set(NS, {"sessionId": "a", "session": record("a", 13, status="discovered")})  # recreated
    assert await filters_of(engine, "a") == {("discovered", False)}
    await records.set(NS, {"sessionId": "b", "session": record("b", 20, isImported=True)})  # record first
    await say(engine, "b", ("user", "Harbours"))
    assert await filters_of(engine, "b") == {("active", True)}
    await engine.objects.delete(NS, "a", "more")
    await assert_exact(engine)
    assert (await records.search(NS, {"query": "harbour", "isImported": True})).total == 1


async def test_rebuild_verify_and_a_wrong_copy(engine: Engine) -> None:
    records = RecordSubjects(engine)
    for i, status in enumerate(["active", "closed", "archived", "active"]):
        await records.set(NS, {"sessionId": f"s{i}", "session": record(f"s{i}", i, status=status)})
        await say(engine, f"s{i}", ("user", f"harbour number {i}"), ("assistant", "the quay"))
    await say(engine, "orphan", ("user", "harbour without a record"))
    await records.delete(NS, {"sessionId": "s2"})
    await records.update(NS, {"sessionId": "s3", "status": "closed"})
    before = await assert_exact(engine)
    assert await engine.verify() == []
    for names in (["records"], ["objects"], None):
        await engine.rebuild(names)
        assert await assert_exact(engine) == before
    # Either projection alone is verified with the other: its triggers need the other's tables.
    assert await engine.verify(["objects"]) == []
    assert await engine.verify(["records"]) == []
    other = sa.create_engine(engine.backend.url)
    try:
        with other.begin() as connection:
            connection.exec_driver_sql(
                "UPDATE message_terms SET record_status = 'archived' WHERE session_id = 's0'"
            )
    finally:
        other.dispose()
    assert {d.table for d in await engine.verify(["records"])} == {"message_terms"}


@pytest.mark.parametrize("alone", [records_projection, objects_projection], ids=["records", "objects"])
async def test_a_projection_rebuilt_alone_keeps_the_copies(
    database_url: str, clock: ManualClock, monkeypatch: pytest.MonkeyPatch, alone: Projection
) -> None:
    """A new projection version rebuilds that projection alone when the engine opens (no closure):
    clearing the records then nulls every copy, and replaying them sets each again."""
    async with Engine.open(database_url, migrate=False, clock=clock) as engine:
        for i, status in enumerate(["active", "closed", "archived"]):
            await RecordSubjects(engine).set(
                NS, {"sessionId": f"s{i}", "session": record(f"s{i}", i, status=status)}
            )
            await say(engine, f"s{i}", ("user", f"harbour {i}"))
        await RecordSubjects(engine).delete(NS, {"sessionId": "s1"})
        before = await assert_exact(engine)
    monkeypatch.setattr(alone, "version", alone.version + 1)
    async with Engine.open(database_url, migrate=False, clock=clock) as engine:
        assert await assert_exact(engine) == before
        assert await engine.verify() == []


async def test_the_migration_fills_the_copies(engine: Engine) -> None:
    records = RecordSubjects(engine)
    await records.set(NS, {"sessionId": "s1", "session": record("s1", 1, status="closed", isImported=True)})
    await say(engine, "s1", ("user", "harbour"))
    await say(engine, "s2", ("user", "harbour quay"))  # no record
    before = await assert_exact(engine)
    other = engine.backend.create_engine(writer=True)
    try:
        with other.connect() as connection:
            command.downgrade(alembic_config(connection), "0008_message_terms")
            connection.commit()
            columns = {c["name"] for c in sa.inspect(connection).get_columns("message_terms")}
            assert "record_status" not in columns
            command.upgrade(alembic_config(connection), "heads")
            connection.commit()
    finally:
        other.dispose()
    assert await assert_exact(engine) == before
    await records.set(NS, {"sessionId": "s2", "session": record("s2", 2)})  # the triggers are back
    await say(engine, "s1", ("assistant", "quay"), alias="more")
    assert await filters_of(engine, "s2") == {("active", False)}
    assert await filters_of(engine, "s1") == {("closed", True)}


def test_named_projections_bring_what_they_depend_on() -> None:
    table = sa.Table("t", sa.MetaData(), sa.Column("k", sa.Integer, primary_key=True))
    a, b = Projection("a", [table], depends_on=["b"]), Projection("b", [table], depends_on=["a"])
    c, d = Projection("c", [table], depends_on=["a", "missing"]), Projection("d", [table])
    projections = ProjectionSet([a, b, c, d])
    assert [p.name for p in projections.named(["b"])] == ["a", "b"]
    assert [p.name for p in projections.named(["c"])] == ["a", "b", "c"]
    assert [p.name for p in projections.named(["d"])] == ["d"]
    assert [p.name for p in projections.named(None)] == ["a", "b", "c", "d"]
