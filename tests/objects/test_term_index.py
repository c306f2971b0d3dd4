"""The per-session term index (`message_terms`): kept exact by the triggers on `messages`."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command

from session_engine.engine import Engine
from session_engine.engine.objects.search.terms import Fts5Terms, fts5_terms
from session_engine.engine.upgrade import alembic_config
from tests.objects.term_index import expected_terms, stored_terms

pytestmark = pytest.mark.anyio
NS = "terms"


async def assert_exact(engine: Engine) -> set[tuple[str, str, str, int]]:
    stored, expected = await engine.read(lambda c: (stored_terms(c), expected_terms(c)))
    assert stored == expected
    assert all(n > 0 for *_, n in stored)
    return stored


async def counts(engine: Engine, session_id: str) -> dict[str, int]:
    stored = await assert_exact(engine)
    return {term: n for ns, term, sid, n in stored if ns == NS and sid == session_id}


def msg(role: str, text: str) -> dict[str, Any]:
    return {"role": role, "content": [{"type": "text", "text": text}]}


async def test_writes_deletes_and_replacements_keep_the_index_exact(engine: Engine) -> None:
    # Words both backends index alike (no stop words, no diacritics; the hypothesis test has those).
    objects = engine.objects
    await objects.upload(NS, "s1", "a", {"type": "messages", "messages": [msg("user", "Harbour boats")]})
    await objects.upload(NS, "s1", "b", {"type": "message", "message": msg("user", "harboured, boat")})
    assert await counts(engine, "s1") == {"harbour": 2, "boat": 2}
    await objects.append_messages(NS, "s1", "a", [msg("assistant", "HARBOURS"), msg("user", "dock")])
    assert await counts(engine, "s1") == {"harbour": 3, "boat": 2, "dock": 1}
    await objects.delete(NS, "s1", "a")  # three messages gone at once
    assert await counts(engine, "s1") == {"harbour": 1, "boat": 1}
    await objects.upload(NS, "s1", "b", {"type": "message", "message": msg("user", "green ship")})  # replaced
    assert await counts(engine, "s1") == {"green": 1, "ship": 1}
    await objects.upload(NS, "s1", "t", {"type": "thread", "thread": {}})
    await objects.post_thread_item(NS, "s1", "t", [{"type": "text", "text": "Ship, dock"}])
    assert await counts(engine, "s1") == {"green": 1, "ship": 2, "dock": 1}
    await objects.upload(NS, "s2", "b", {"type": "message", "message": msg("user", "green ship")})
    await objects.delete(NS, "s1", "t")
    assert await counts(engine, "s1") == {"green": 1, "ship": 1}
    assert await counts(engine, "s2") == {"green": 1, "ship": 1}
    await objects.delete(NS, "s1", "b")
    assert await counts(engine, "s1") == {}


async def test_rebuild_and_verify_with_messages(engine: Engine) -> None:
    objects = engine.objects
    for i in range(6):
        texts = [msg("user", f"harbour number {i}"), msg("assistant", "the tide runs")]
        await objects.upload(NS, f"s{i}", "conv", {"type": "messages", "messages": texts})
    await objects.delete(NS, "s2", "conv")
    await objects.upload(NS, "s3", "conv", {"type": "message", "message": msg("user", "quay")})
    before = await assert_exact(engine)
    assert ("terms", "harbour", "s0", 1) in before and ("terms", "harbour", "s2", 1) not in before
    assert await engine.verify() == []
    await engine.rebuild()
    assert await assert_exact(engine) == before
    assert await engine.verify() == []
    # A wrong count in the live table is a difference verify reports.
    other = sa.create_engine(engine.backend.url)
    try:
        with other.begin() as connection:
            connection.exec_driver_sql("UPDATE message_terms SET messages = 7 WHERE session_id = 's0'")
    finally:
        other.dispose()
    assert {d.table for d in await engine.verify()} == {"message_terms"}


def test_terms_are_what_fts5_indexes() -> None:
    text = "Harbours\u00a0harboured HARBOUR, the\tcafé Straße foo_bar x1 naïve \u2003 (quay) ﬁsh 42"
    # FTS5's porter stems quay to quai; unicode61 does not fold the ligature.
    expected = ["harbour", "the", "cafe", "straß", "foo", "bar", "x1", "naiv", "quai", "ﬁsh", "42"]
    assert sorted(fts5_terms.of_text(text)) == sorted(expected)
    # Cut at whitespace and cached, or the whole text at once: the same terms.
    assert sorted(fts5_terms.of_text(text)) == sorted(Fts5Terms()._ask([text])[0])
    by_word = fts5_terms.of_words(["the", "_", "foo_bar", "Harbours"])
    assert by_word == [("the",), (), ("bar", "foo"), ("harbour",)]


async def test_the_migration_fills_the_index_from_stored_messages(engine: Engine) -> None:
    objects = engine.objects
    for i in range(4):
        texts = [msg("user", f"Harbour number {i}, café"), msg("assistant", "the tide runs")]
        await objects.upload(NS, f"s{i}", "conv", {"type": "messages", "messages": texts})
    await objects.delete(NS, "s1", "conv")
    before = await assert_exact(engine)
    other = engine.backend.create_engine(writer=True)
    try:
        with other.connect() as connection:
            command.downgrade(alembic_config(connection), "0003_objects")
            connection.commit()
            assert "message_terms" not in sa.inspect(connection).get_table_names()
            command.upgrade(alembic_config(connection), "heads")
            connection.commit()
    finally:
        other.dispose()
    assert await assert_exact(engine) == before
    await objects.upload(NS, "s1", "conv", {"type": "message", "message": msg("user", "harbour")})
    await assert_exact(engine)  # the triggers are back
