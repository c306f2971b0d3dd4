"""search: full text over a session's messages (from objects) or its title, on both backends."""

from __future__ import annotations

import random
from typing import Any

import pytest
import sqlalchemy as sa

from session_engine.adapters.conformance.models.records import STATUSES, Model
from session_engine.adapters.rpc.bus.subjects import RecordSubjects
from session_engine.engine import Engine
from session_engine.engine.records import queries
from session_engine.engine.records.errors import InvalidRecordRequest, InvalidSearchSyntax
from tests.records.helpers import NS, put, record, say

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
    await RecordSubjects(engine).delete(NS, {"sessionId": "gone"})


async def found(engine: Engine, query: str, **request: Any) -> list[str]:
    response = (await RecordSubjects(engine).search(NS, {"query": query, **request})).model_dump()
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
    page = (await RecordSubjects(engine).search(NS, {"query": "bread", "limit": 1})).model_dump()
    assert [s["sessionId"] for s in page["sessions"]] == ["bake"] and page["total"] == 2
    both = (await RecordSubjects(engine).search(NS, {"query": "bread or marathon"})).model_dump()["sessions"]
    assert [s["preview"] for s in both] == [
        {"messageCount": 2, "firstUserMessage": "How do I bake bread?"},
        {"messageCount": 1, "firstUserMessage": "Running shoes for marathons"},
    ]
    titled = (await RecordSubjects(engine).search(NS, {"query": "sourdough"})).model_dump()["sessions"][0]
    assert titled["preview"] == {"messageCount": 0, "firstUserMessage": None}


@pytest.mark.parametrize("live", [True, False], ids=["live", "in-place"])
async def test_a_rebuild_answers_every_search_as_before_and_keeps_indexing(
    engine: Engine, live: bool
) -> None:
    """A replay from the start fills the full-text, title and term indexes in bulk at its end (their
    row triggers dropped meanwhile): the same answers after it, and later writes indexed again."""
    await seed(engine)
    await say(engine, "bake", ("user", "a sourdough starter"), alias="second")  # a replaced object's terms
    await say(engine, "bake", ("user", "Bread, bread and marathons"), alias="second")
    queries = [
        "bread",
        "kne*",
        '"let it rise"',
        "sourdough",
        "SOURD",
        "marathon",
        "kitchen",
        "gone",
        "starter",
    ]
    before = {query: await found(engine, query) for query in queries}
    assert before["marathon"] == ["bake", "run"] and before["starter"] == []
    await engine.rebuild(live=live)
    assert {query: await found(engine, query) for query in queries} == before
    assert await engine.verify() == []
    await put(engine, "fresh", 70, title="Harbour log")
    await say(engine, "fresh", ("user", "tidal harbours"))
    await RecordSubjects(engine).delete(NS, {"sessionId": "titled"})
    assert await found(engine, "harbour") == ["fresh"]
    assert await found(engine, "HARBOUR LO") == ["fresh"]
    assert await found(engine, "sourdough") == []
    assert await engine.verify() == []


async def test_empty_and_malformed_queries(engine: Engine) -> None:
    await seed(engine)
    for empty in ("", "   ", "\t\n"):
        assert (await RecordSubjects(engine).search(NS, {"query": empty})).model_dump() == {
            "sessions": [],
            "total": 0,
        }
    for malformed in ('"unbalanced', "-only", "a or -b", "!!!", "x" * 2000):
        with pytest.raises(InvalidSearchSyntax) as caught:
            await RecordSubjects(engine).search(NS, {"query": malformed})
        assert caught.value.path == ("query",)
    for bad in ({}, {"query": 5}, {"query": "a", "limit": 0}, {"query": "a\x00"}):
        with pytest.raises(InvalidRecordRequest):
            await RecordSubjects(engine).search(NS, bad)


# -- the two page plans and the title index --------------------------------------------------------
VOCABULARY = ["alpha", "bravo", "charlie", "delta", "echo"]
TITLES = ["Alpha notes", "BRAVO run", "zeta Charlie", "Straße 100%_done", "al", None]


async def seed_random(engine: Engine, rng: random.Random) -> None:
    """Ties in lastActivityAt, every status, imported or not, deleted records, messages without one."""
    for i in range(40):
        sid = f"r{rng.randrange(100):02d}"
        fields: dict[str, Any] = {
            "status": rng.choice(STATUSES),
            **({"isImported": rng.random() < 0.3} if rng.random() < 0.8 else {}),
        }
        title = rng.choice(TITLES)
        if title is not None:
            fields["title"] = title
        await put(engine, sid, rng.choice([1, 2, 2.5, 3, 4]), **fields)
        if rng.random() < 0.7:
            words = " ".join(rng.choice(VOCABULARY) for _ in range(rng.randrange(1, 4)))
            await say(engine, sid, (rng.choice(["user", "assistant"]), words), alias=f"m{i}")
        if rng.random() < 0.1:
            await RecordSubjects(engine).delete(NS, {"sessionId": sid})
    await say(engine, "no-record", ("user", "alpha bravo charlie delta echo"))


QUERIES = ["alpha", "bravo or echo", "charlie -delta", "al", "alp*", "strasse", "100%_", "zeta", "notes"]
REQUESTS: list[dict[str, Any]] = [
    {},
    {"limit": 1},
    {"limit": 3},
    {"status": "active"},
    {"status": "all", "limit": 2},
    {"isImported": True},
    {"isImported": False, "status": "closed"},
]


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_walk_and_sort_plans_agree(engine: Engine, monkeypatch: pytest.MonkeyPatch, seed: int) -> None:
    await seed_random(engine, random.Random(seed))
    for query in QUERIES:
        for extra in REQUESTS:
            answers = []
            for factor in (0.0, 1e30):  # always walk the list index / always sort the matches
                monkeypatch.setattr(queries, "WALK_FACTOR", factor)
                answers.append(
                    (await RecordSubjects(engine).search(NS, {"query": query, **extra})).model_dump()
                )
            assert answers[0] == answers[1], (query, extra)
    # The single-word, title-or-message rule against the model of tests/records.
    model = await model_of(engine)
    for word in ("alpha", "bravo", "zeta"):
        for status in (None, "all", "active", "closed"):
            for factor in (0.0, 1e30):
                monkeypatch.setattr(queries, "WALK_FACTOR", factor)
                request = {"query": word, "limit": 3, **({"status": status} if status else {})}
                got = (await RecordSubjects(engine).search(NS, request)).model_dump()
                assert got == model.search(word, status, 3)


async def model_of(engine: Engine) -> Model:
    """The model holding the engine's live records and every session's messages."""
    model = Model()
    listed = (await RecordSubjects(engine).list(NS, {"limit": 1000})).model_dump()["sessions"]
    for item in listed:
        record = (await RecordSubjects(engine).get(NS, {"sessionId": item["sessionId"]})).model_dump()[
            "session"
        ]
        model.records[record["sessionId"]] = record
    rows = await engine.read(
        lambda c: c.execute(
            sa.text("SELECT session_id, role, text FROM messages WHERE namespace = :ns ORDER BY id"),
            {"ns": NS},
        ).all()
    )
    for session_id, role, text in rows:
        model.say(session_id, role, text)
    return model


async def test_title_index_follows_every_change_and_rebuild(engine: Engine) -> None:
    await put(engine, "a", 10, title="Straße Café")
    await put(engine, "b", 20, title='He said "hi" 100%_done')
    await put(engine, "c", 30)
    assert await found(engine, "STRASSE") == ["a"]  # casefold: ß is ss
    assert await found(engine, "afé") == ["a"]
    assert await found(engine, "ss") == ["a"]  # under 3 characters: no trigram, still found
    assert await found(engine, '"hi"') == ["b"]  # the quotes are part of the title rule's text
    assert await found(engine, "100%_") == ["b"]  # LIKE wildcards are literal
    assert await found(engine, "0%_d") == ["b"]
    assert await found(engine, "10%x") == []
    await RecordSubjects(engine).update(NS, {"sessionId": "a", "title": "Other"})
    await RecordSubjects(engine).update(NS, {"sessionId": "c", "title": "Café au lait"})
    assert await found(engine, "café") == ["c"]
    assert await found(engine, "other") == ["a"]
    await RecordSubjects(engine).set(NS, {"sessionId": "a", "session": record("a", 10)})  # title removed
    assert await found(engine, "other") == []
    await RecordSubjects(engine).delete(NS, {"sessionId": "b"})
    assert await found(engine, "100%_") == []
    await put(engine, "b", 5, title="100%_ again")
    before = [await found(engine, q) for q in ("café", "100%_", "other", "again", "ss")]
    assert before == [["c"], ["b"], [], ["b"], []]
    await engine.rebuild()
    assert [await found(engine, q) for q in ("café", "100%_", "other", "again", "ss")] == before
    assert await engine.verify() == []
