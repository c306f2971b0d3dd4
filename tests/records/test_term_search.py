"""search by the per-session term index gives what the full-text index gives, on both backends.

Random sessions (messages uploaded, appended, replaced, deleted) over a small vocabulary with
stemming variants, stop words, case and diacritics; random single-word and `or` queries, each run
through both paths (`USE_TERM_INDEX`). Each example writes to a namespace of its own.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from session_engine.adapters.rpc.bus.subjects import RecordSubjects
from session_engine.engine.objects.search import queries as messages
from tests.harness import EngineHarness
from tests.objects.term_index import expected_terms, stored_terms
from tests.records.helpers import record

WORDS = [
    "harbour",
    "Harbours",
    "harboured",
    "HARBOUR",
    "harbor",
    "the",
    "and",
    "is",
    "café",
    "Cafe",
    "CAFÉ",
    "naïve",
    "Straße",
    "running",
    "runs",
    "foo_bar",
    "x1",
    "42",
    "harbour,",
    "(harbour)",
    "don't",
    "日本語",
]
SEPARATORS = [" ", "  ", "\n", "\t", ", ", "-", "\u00a0", "\u2003"]
QUERY_WORDS = [
    "harbour",
    "harbours",
    "HARBOURED",
    "harbor",
    "the",
    "café",
    "cafe",
    "naive",
    "strasse",
    "straße",
    "run",
    "running",
    "foo_bar",
    "foo",
    "_",
    "x1",
    "42",
    "don",
    "日本語",
    "missing",
]
SIDS = ["s0", "s1", "s2", "s3", "s4"]
ALIASES = ["a", "b"]

texts = st.lists(st.tuples(st.sampled_from(WORDS), st.sampled_from(SEPARATORS)), min_size=1, max_size=6).map(
    lambda parts: "".join(word + separator for word, separator in parts).strip()
)
bodies = st.lists(st.tuples(st.sampled_from(["user", "assistant"]), texts), min_size=1, max_size=3)
operations = st.lists(
    st.tuples(
        st.sampled_from(["upload", "append", "delete"]),
        st.sampled_from(SIDS),
        st.sampled_from(ALIASES),
        bodies,
    ),
    min_size=1,
    max_size=12,
)
queries = st.lists(st.sampled_from(QUERY_WORDS), min_size=1, max_size=3).map(" or ".join)


def body(parts: list[tuple[str, str]]) -> list[dict[str, Any]]:
    return [{"role": role, "content": [{"type": "text", "text": text}]} for role, text in parts]


async def write(engine: Any, ns: str, ops: list[tuple[str, str, str, list[tuple[str, str]]]]) -> None:
    present: set[tuple[str, str]] = set()
    for kind, sid, alias, parts in ops:
        if kind == "delete" and (sid, alias) in present:
            await engine.objects.delete(ns, sid, alias)
            present.discard((sid, alias))
        elif kind == "append" and (sid, alias) in present:
            await engine.objects.append_messages(ns, sid, alias, body(parts))
        else:  # an upload, which replaces the object's messages when it exists
            await engine.objects.upload(ns, sid, alias, {"type": "messages", "messages": body(parts)})
            present.add((sid, alias))
    for i, sid in enumerate(SIDS[:-1]):  # s4 has no record: message matches alone are not results
        title = {"title": "Harbour office"} if i == 0 else {}
        await RecordSubjects(engine).set(ns, {"sessionId": sid, "session": record(sid, 10 - i, **title)})


async def search_both(engine: Any, ns: str, query: str, request: dict[str, Any]) -> list[Any]:
    answers = []
    for use in (True, False):
        messages.USE_TERM_INDEX = use
        try:
            found = (await RecordSubjects(engine).search(ns, {"query": query, **request})).model_dump()
            sessions = await engine.objects.matching_sessions(ns, query)
        finally:
            messages.USE_TERM_INDEX = True
        answers.append((found, sessions))
    return answers


def test_term_index_and_full_text_agree(harness: Callable[..., EngineHarness]) -> None:
    running = harness(durability="off")
    engine = running.start()
    namespaces = (f"ns{i}" for i in itertools.count())

    @given(ops=operations, asked=st.lists(queries, min_size=1, max_size=4), limit=st.sampled_from([1, 2, 50]))
    def check(ops: list[Any], asked: list[str], limit: int) -> None:
        ns = next(namespaces)
        running.call(write, engine, ns, ops)
        for query in asked:
            for request in ({"limit": limit}, {"status": "closed"}):
                term_index, full_text = running.call(search_both, engine, ns, query, request)
                assert term_index == full_text, (query, request)
        stored, expected = running.call(engine.read, lambda c: (stored_terms(c), expected_terms(c)))
        assert stored == expected

    check()
    assert running.call(engine.verify) == []


@pytest.mark.parametrize(
    ("query", "uses_terms"),
    [
        ("harbour", True),
        ("Harbours or quay", True),
        ("the", True),  # a stop word on PostgreSQL: no term, matches nothing, as in the FTS path
        ("harbour quay", False),  # AND
        ('"harbour quay"', False),
        ("harb*", False),
        ("harbour -quay", False),
        ("foo_bar", False),  # two terms: a phrase in the full-text index
    ],
)
def test_which_queries_use_the_term_index(database_url: str, query: str, uses_terms: bool) -> None:
    import sqlalchemy as sa

    from session_engine.engine.backends import normalise_url

    engine = sa.create_engine(normalise_url(database_url))
    try:
        with engine.connect() as connection:
            statement = str(messages.matching_sessions(connection, "ns", query).compile(connection))
    finally:
        engine.dispose()
    assert ("message_terms" in statement) is uses_terms
