"""search: full text over a session's messages (from objects) or its title, on both backends."""

from __future__ import annotations

from typing import Any

import pytest

from engine import Engine
from engine.records.errors import InvalidRecordRequest, InvalidSearchSyntax
from tests.records.helpers import NS, put, say

pytestmark = pytest.mark.anyio


async def seed(engine: Engine) -> None:
    await put(engine, "bake", 50, title="Kitchen notes")
    await say(
        engine, "bake", ("user", "How do I bake bread?"), ("assistant", "Knead the dough, then let it rise.")
    )
    await put(engine, "run", 40, status="closed", isImported=True)
    await say(engine, "run", ("user", "Running shoes for marathons"))
    await put(engine, "titled", 30, title="Bread Recipes (Sourdough)")
    await put(engine, "quiet", 20, status="archived")
    await say(engine, "quiet", ("assistant", "nothing from the user here"))
    await put(engine, "gone", 60, title="bread gone")
    await engine.records.delete(NS, {"sessionId": "gone"})


async def found(engine: Engine, query: str, **request: Any) -> list[str]:
    response = (await engine.records.search(NS, {"query": query, **request})).model_dump()
    assert response["total"] >= len(response["sessions"])
    return [s["sessionId"] for s in response["sessions"]]


async def test_search_semantics(engine: Engine) -> None:
    await seed(engine)
    assert await found(engine, "bread") == ["bake", "titled"]  # message match, title match; newest first
    assert await found(engine, "kneading") == ["bake"]  # stemmed
    assert await found(engine, "marathon") == ["run"]
    assert await found(engine, '"let it rise"') == ["bake"]  # phrase
    assert await found(engine, '"rise let"') == []
    assert await found(engine, "bread or marathon") == ["bake", "run"]  # the title must contain the query
    assert await found(engine, "dough -bread") == ["bake"]
    # Title: a case-insensitive substring, so prefixes and inner fragments match there.
    assert await found(engine, "SOURD") == ["titled"]
    assert await found(engine, "kitchen") == ["bake"]
    # Messages: whole (stemmed) words, or `word*` prefixes.
    assert await found(engine, "marath") == []
    assert await found(engine, "marath*") == ["run"]
    assert await found(engine, "kne*") == ["bake"]
    assert await found(engine, "marath* -shoes") == []
    assert await found(engine, "zzz* or bread") == ["bake"]  # the title rule takes the whole query
    assert await found(engine, "run*") == ["run"]  # "run" is a word (Running stems to run)
    assert await found(engine, "gone") == []  # deleted sessions are hidden


async def test_search_filters_limits_and_previews(engine: Engine) -> None:
    await seed(engine)
    assert await found(engine, "bread or marathon", status="closed") == ["run"]
    assert await found(engine, "bread or marathon", status="all") == ["bake", "run"]
    assert await found(engine, "bread or marathon", isImported=False) == ["bake"]
    assert await found(engine, "bread", isImported=False) == ["bake", "titled"]
    page = (await engine.records.search(NS, {"query": "bread", "limit": 1})).model_dump()
    assert [s["sessionId"] for s in page["sessions"]] == ["bake"] and page["total"] == 2
    both = (await engine.records.search(NS, {"query": "bread or marathon"})).model_dump()["sessions"]
    assert [s["preview"] for s in both] == [
        {"messageCount": 2, "firstUserMessage": "How do I bake bread?"},
        {"messageCount": 1, "firstUserMessage": "Running shoes for marathons"},
    ]
    titled = (await engine.records.search(NS, {"query": "sourdough"})).model_dump()["sessions"][0]
    assert titled["preview"] == {"messageCount": 0, "firstUserMessage": None}


async def test_empty_and_malformed_queries(engine: Engine) -> None:
    await seed(engine)
    for empty in ("", "   ", "\t\n"):
        assert (await engine.records.search(NS, {"query": empty})).model_dump() == {
            "sessions": [],
            "total": 0,
        }
    for malformed in ('"unbalanced', "-only", "a or -b", "!!!", "x" * 2000):
        with pytest.raises(InvalidSearchSyntax) as caught:
            await engine.records.search(NS, {"query": malformed})
        assert caught.value.path == ("query",)
    for bad in ({}, {"query": 5}, {"query": "a", "limit": 0}, {"query": "a\x00"}):
        with pytest.raises(InvalidRecordRequest):
            await engine.records.search(NS, bad)
