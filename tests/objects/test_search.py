"""The messages read model: rows per message / text thread item, stats, full-text matching."""

from __future__ import annotations

from typing import Any

import pytest

from session_engine.engine import Engine
from session_engine.engine.errors import ValidationFailed
from session_engine.engine.objects.search.queries import parse_search

pytestmark = pytest.mark.anyio
NS = "rev"


def msg(role: str, text: str) -> dict[str, Any]:
    return {"role": role, "content": [{"type": "text", "text": text}, {"type": "image", "id": "i"}]}


async def seed(engine: Engine) -> None:
    objects = engine.objects
    await objects.upload(
        NS,
        "s1",
        "conv",
        {"type": "messages", "messages": [msg("system", "be brief"), msg("user", "How do I bake bread?")]},
    )
    await objects.append_messages(NS, "s1", "conv", [msg("assistant", "Knead the dough, then let it rise.")])
    await objects.upload(
        NS, "s2", "one", {"type": "message", "message": msg("user", "Running shoes for marathons")}
    )
    await objects.upload(NS, "s3", "t", {"type": "thread", "thread": {}})
    await objects.post_thread_item(
        NS, "s3", "t", [{"type": "text", "text": "the cats are sleeping"}], item_metadata={"role": "user"}
    )
    await objects.post_thread_item(NS, "s3", "t", [{"type": "json", "json": {"no": "text"}}])
    await objects.upload(
        "other-ns", "s9", "one", {"type": "message", "message": msg("user", "bread elsewhere")}
    )


async def sessions(engine: Engine, query: str) -> list[str]:
    return await engine.objects.matching_sessions(NS, query)


async def test_stats_and_matching(engine: Engine) -> None:
    await seed(engine)
    stats = await engine.objects.message_stats(NS, ["s1", "s2", "s3", "nobody"])
    assert stats == {
        "s1": (3, "How do I bake bread?"),
        "s2": (1, "Running shoes for marathons"),
        "s3": (1, "the cats are sleeping"),
        "nobody": (0, None),
    }
    assert await sessions(engine, "bread") == ["s1"]
    assert await sessions(engine, "kneading") == ["s1"]  # stemmed: knead
    assert await sessions(engine, "run") == ["s2"]
    assert await sessions(engine, "cat") == ["s3"]
    assert await sessions(engine, "bread or marathon") == ["s1", "s2"]
    assert await sessions(engine, "dough -knead") == []  # per message, not per session
    assert await sessions(engine, "dough -bread") == ["s1"]
    assert await sessions(engine, '"let it rise"') == ["s1"]
    assert await sessions(engine, '"rise let"') == []
    hits = await engine.objects.search_messages(NS, "dough")
    assert [(h.session_id, h.source_alias, h.ordinal, h.role) for h in hits] == [
        ("s1", "conv", 2, "assistant")
    ]
    await engine.objects.delete(NS, "s1", "conv")
    assert await sessions(engine, "bread") == []
    assert await engine.verify() == []


@pytest.mark.parametrize("query", ["", "   ", '"unbalanced', "-only", "a or -b", "x" * 2000, "!!!"])
def test_malformed_queries_are_validation_errors(query: str) -> None:
    with pytest.raises(ValidationFailed):
        parse_search(query)


async def test_matching_sessions_is_a_selectable(engine: Engine) -> None:
    await seed(engine)

    def run(connection: Any) -> list[str]:
        from session_engine.engine.objects.search.queries import matching_sessions

        return sorted(row[0] for row in connection.execute(matching_sessions(connection, NS, "shoes")))

    assert await engine.read(run) == ["s2"]
    with pytest.raises(ValidationFailed):
        await engine.objects.matching_sessions(NS, '"oops')
