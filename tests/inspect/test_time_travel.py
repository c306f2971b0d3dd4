"""Typed time travel by example: what a state holds, what a diff says, history lines, sessions."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from datetime import timedelta
from functools import partial
from typing import Any

import pytest
from sqlalchemy.engine import Connection

from session_engine.engine import Engine, ManualClock, ValidationFailed
from session_engine.engine.inspect import history
from tests.records.helpers import NS, put

S = "session-1"
pytestmark = pytest.mark.anyio


def _message(text: str) -> dict[str, Any]:
    return {"role": "user", "content": [{"type": "text", "text": text}]}


async def _history(engine: Engine, clock: ManualClock) -> None:
    """v1 value with a TTL, v2 part, v3 thread, v4 item, v5 graph, v6 vertices, v7 messages, v8
    record, v9 vertex changed and one deleted, v10 more messages, v11 thread deleted, v12 record changed."""
    await engine.values.set(NS, S, "ttl", 1, ttl_seconds=5)
    await engine.values.set_text_part(NS, S, "note", "hi")
    await engine.objects.upload(NS, S, "t", {"type": "thread", "thread": {}})
    await engine.objects.post_thread_item(NS, S, "t", [{"type": "text", "text": "one"}])
    await engine.objects.upload(NS, S, "g", {"type": "graph", "graph": {}})
    await engine.objects.apply_graph_mutations(
        NS,
        S,
        "g",
        [
            {"op": "add_vertex", "element_id": "a", "labels": ["n"], "props": {"v": 1}},
            {"op": "add_vertex", "element_id": "b", "labels": ["n"]},
            {"op": "add_edge", "element_id": "ab", "label": "to", "from_id": "a", "to_id": "b"},
        ],
    )
    await engine.objects.upload(NS, S, "m", {"type": "messages", "messages": [_message("hello")]})
    await put(engine, S, 1000, title="first")
    clock.advance(10)
    await engine.objects.apply_graph_mutations(
        NS,
        S,
        "g",
        [
            {"op": "set_vertex_props", "element_id": "a", "props": {"v": 2}},
            {"op": "delete_edge", "element_id": "ab"},
        ],
    )
    await engine.objects.append_messages(NS, S, "m", [_message("again")])
    await engine.objects.delete(NS, S, "t")
    await put(engine, S, 2000, title="second")


async def test_a_state_holds_every_domain_as_its_reads_answer(engine: Engine, clock: ManualClock) -> None:
    await _history(engine, clock)
    state = await engine.state_as_of(NS, S, version=8)
    assert (state.version, state.position, state.session) == (8, 8, S)
    assert state.values["ttl"].value == 1 and not state.values["ttl"].expired
    assert state.user_parts["note"].value == {"part_type": "text", "data": "hi"}
    assert [i["content"][0]["text"] for i in state.objects["t"].items.values()] == ["one"]
    graph = state.objects["g"]
    assert set(graph.vertices) == {"a", "b"} and set(graph.edges) == {"ab"}
    assert [m["content"][0]["text"] for m in state.objects["m"].messages] == ["hello"]
    assert state.record is not None and state.record["title"] == "first"
    later = await engine.state_as_of(NS, S, version=12)
    assert later.values["ttl"].expired and later.as_of == later.recorded_at  # judged at the last event
    assert (
        list(later.objects) == ["g", "m"] and later.record is not None and later.record["title"] == "second"
    )
    instant = await engine.state_as_of(NS, S, at=state.recorded_at + timedelta(seconds=1))
    assert instant.version == 8 and instant.values["ttl"].expired is False
    assert (await engine.state_as_of(NS, S, position=0)).version == 0


async def test_a_diff_names_what_changed_in_each_part(engine: Engine, clock: ManualClock) -> None:
    await _history(engine, clock)
    found = await engine.diff(NS, S, 8, 12)
    assert set(found.values.changed) == {"ttl"} and found.values.changed["ttl"].after.expired
    assert found.user_parts.added == {} and not found.user_parts
    assert set(found.objects.deleted) == {"t"} and found.objects.created == {}
    graph = found.objects.changed["g"]
    assert graph.vertices is not None and set(graph.vertices.changed) == {"a"}
    assert graph.vertices.changed["a"].after["props"] == {"v": 2}
    assert graph.edges is not None and set(graph.edges.removed) == {"ab"}
    messages = found.objects.changed["m"].messages
    assert (
        messages is not None and messages.kept == 1 and messages.appended[0]["content"][0]["text"] == "again"
    )
    assert found.record.changed["title"].before == "first" and found.record_exists is None
    earlier = await engine.diff(NS, S, 3, 4)
    items = earlier.objects.changed["t"].items
    assert items is not None and [i["content"][0]["text"] for i in items.added.values()] == ["one"]
    assert (await engine.diff(NS, S, 7, 8)).record_exists is not None
    assert (await engine.diff(NS, S, 5, 5)).empty
    first, last = await engine.state_as_of(NS, S, version=0), await engine.state_as_of(NS, S, version=12)
    assert (await engine.diff(NS, S, 0, 12)).apply(first) == last
    assert (await engine.diff(NS, S, 12, 0)).apply(last) == first


async def test_stepping_folds_once_and_matches_each_version(engine: Engine, clock: ManualClock) -> None:
    await _history(engine, clock)
    stepped = [state async for state in engine.states(NS, S, from_version=3)]
    assert [s.version for s in stepped] == list(range(3, 13))
    for state in stepped:
        assert state == await engine.state_as_of(NS, S, version=state.version)


async def test_history_lines(engine: Engine, clock: ManualClock) -> None:
    await _history(engine, clock)
    await engine.values.set(NS, S, "long", "x" * 500, metadata=None)
    entries = await engine.history(NS, S)
    assert [e.version for e in entries] == list(range(1, 14))
    assert entries[0].summary.startswith('value_set key="ttl", value=1')
    assert all(len(e.summary) <= 120 and "\n" not in e.summary for e in entries)
    assert "x" * 38 + "…, size=500" in entries[-1].summary and entries[-1].position == 13
    assert [e.version for e in await engine.history(NS, S, from_version=12, limit=1)] == [12]


async def test_sessions_newest_activity_first_in_pages(engine: Engine) -> None:
    for i in range(5):
        await engine.values.set(NS, f"s{i}", "k", i)
    await engine.values.set("other", "x", "k", 1)
    await engine.values.set(NS, "s1", "k", 9)  # s1 becomes the newest
    page = await engine.sessions(NS, limit=2)
    assert [s.session for s in page.sessions] == ["s1", "s4"] and page.sessions[0].version == 2
    seen = [s.session for s in page.sessions]
    while page.next_after is not None:
        page = await engine.sessions(NS, after=page.next_after, limit=2)
        seen += [s.session for s in page.sessions]
    assert seen == ["s1", "s4", "s3", "s2", "s0"]
    everywhere = await engine.sessions(limit=100)
    assert [(s.namespace, s.session) for s in everywhere.sessions][:2] == [(NS, "s1"), ("other", "x")]
    for bad in ({"limit": 0}, {"after": -1}, {"limit": 2**40}):
        with pytest.raises(ValidationFailed):
            await engine.sessions(NS, **bad)
    with pytest.raises(ValidationFailed):
        await engine.sessions("a\x00b")


async def test_sessions_found_by_id_prefix_newest_first_in_pages(engine: Engine) -> None:
    ids = ["chat-1", "chat-2", "Chat-3", "chat_x", "chat%y", "chatter", "job-1", "é-1", "chat-10"]
    for i, sid in enumerate(ids):
        await engine.values.set(NS, sid, "k", i)
    await engine.values.set("other", "chat-9", "k", 1)  # another namespace: never listed
    await engine.values.set(NS, "chat-1", "k", 9)  # chat-1 becomes the newest
    for prefix in ("chat-", "chat", "Chat", "chat_", "chat%", "é", "nothing", "chat-1"):
        want = [sid for sid in ["chat-1", *reversed(ids)] if sid.startswith(prefix)]
        want = list(dict.fromkeys(want))
        page = await engine.sessions(NS, prefix=prefix, limit=2)
        seen = [s.session for s in page.sessions]
        while page.next_after is not None:
            page = await engine.sessions(NS, prefix=prefix, after=page.next_after, limit=2)
            seen += [s.session for s in page.sessions]
        assert seen == want, prefix
    assert (await engine.sessions(NS, prefix="")).sessions == (await engine.sessions(NS)).sessions
    for bad in ("a\x00", "\ud800", "x" * 201):
        with pytest.raises(ValidationFailed):
            await engine.sessions(NS, prefix=bad)


async def test_bad_points_are_refused(engine: Engine) -> None:
    for call in (
        lambda: engine.diff(NS, S, -1, 1),
        lambda: engine.diff(NS, S, 1, 2**31),
        lambda: engine.diff(NS, "a\x00", 1, 2),
        lambda: engine.state_as_of(NS, S, version=1, position=1),
    ):
        with pytest.raises(ValidationFailed):
            await call()


async def test_the_sessions_list_walks_indexes_without_sorting(engine: Engine, backend: str) -> None:
    """The plan SQLite chooses on any table size (PostgreSQL's depends on statistics: measured at
    100,000 sessions in specs/audit.md)."""
    if backend != "sqlite":
        pytest.skip("PostgreSQL plans by statistics")
    query = history.sessions_query(NS, 10, 100)

    def plan(connection: Connection) -> str:
        sql = str(query.compile(connection, compile_kwargs={"literal_binds": True}))
        return " | ".join(str(row[3]) for row in connection.exec_driver_sql("EXPLAIN QUERY PLAN " + sql))

    found = await engine.read(plan)
    assert "ix_events_namespace_position (namespace=? AND position<?)" in found, found
    assert "TEMP B-TREE" not in found and "SCAN" not in found.replace("SCALAR", ""), found


async def test_a_prefix_search_pages_alike_however_far_it_walks(engine: Engine) -> None:
    """The search walks the newest events first and asks the index of ids below them: wherever
    that split falls (the walk's length), the pages are the same as a filter of the whole list."""
    rng = random.Random(7)
    ids = [f"{rng.choice(['a', 'ab', 'b', 'A'])}-{n}" for n in range(12)]
    for n in range(40):
        await engine.values.set(NS, rng.choice(ids), "k", n)
    everything = await engine.sessions(NS, limit=100)
    for prefix in ("a", "ab", "A", "b-1", "c"):
        want = [s.session for s in everything.sessions if s.session.startswith(prefix)]
        starting = partial(engine.backend.starts_with, prefix=prefix)
        for walk, limit in ((1, 1), (2, 3), (5, 2), (13, 4), (100, 3)):

            def page(
                after: int | None, walk: int = walk, limit: int = limit, starting: Any = starting
            ) -> Awaitable[history.SessionsPage]:
                return engine.read(lambda c: history.sessions(c, NS, after, limit, starting, walk))

            found = await page(None)
            seen = [s.session for s in found.sessions]
            while found.next_after is not None:
                found = await page(found.next_after)
                seen += [s.session for s in found.sessions]
            assert seen == want, (prefix, walk, limit)


async def test_a_prefix_search_plans_a_walk_then_an_index_range(engine: Engine, backend: str) -> None:
    """SQLite walks the newest events by position, then answers the rest of the prefix from the
    (namespace, stream, version) index: a rare prefix costs the sessions it finds, a common one
    the walk, whatever the namespace holds."""
    if backend != "sqlite":
        pytest.skip("PostgreSQL plans by statistics")
    starting = partial(engine.backend.starts_with, prefix="chat-")
    walk = history.sessions_query(NS, None, 100, starting, walk_from=10)
    rest = history.sessions_query(NS, 10, 100, starting)

    def plan(query: Any) -> Callable[[Connection], str]:
        def run(connection: Connection) -> str:
            sql = str(query.compile(connection, compile_kwargs={"literal_binds": True}))
            return " | ".join(str(row[3]) for row in connection.exec_driver_sql("EXPLAIN QUERY PLAN " + sql))

        return run

    walked = await engine.read(plan(walk))
    assert "ix_events_namespace_position (namespace=? AND position>?)" in walked, walked
    assert "TEMP B-TREE" not in walked, walked
    ranged = await engine.read(plan(rest))
    assert "(namespace=? AND stream>? AND stream<?)" in ranged, ranged
