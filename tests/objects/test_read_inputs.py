"""Reads refuse what the database cannot compare, with the domain's own named errors, alike on
SQLite and PostgreSQL (whose text cannot hold NUL: such a query used to fail inside the driver)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from session_engine.engine import Engine, EngineError, NewEvent, ValidationFailed
from session_engine.engine.objects.errors import InvalidCursor, InvalidSessionObject, ObjectNotFound
from session_engine.engine.objects.graphs.errors import ElementNotFound, InvalidGraphQuery

pytestmark = pytest.mark.anyio
NS, S, NUL = "rev", "sess", "a\x00b"
Read = Callable[[Engine], Awaitable[Any]]

CASES: list[tuple[str, Read, type[EngineError]]] = [
    ("download, alias", lambda e: e.objects.download(NS, S, NUL), InvalidSessionObject),
    ("download, session", lambda e: e.objects.download(NS, NUL, "g"), InvalidSessionObject),
    ("list objects, after", lambda e: e.objects.list_objects(NS, S, after=NUL), InvalidCursor),
    ("thread item, id", lambda e: e.objects.get_thread_item(NS, S, "t", NUL), ObjectNotFound),
    ("thread items, cursor", lambda e: e.objects.list_thread_items(NS, S, "t", cursor=NUL), InvalidCursor),
    ("graph element, id", lambda e: e.objects.get_graph_element(NS, S, "g", NUL), ElementNotFound),
    (
        "graph elements, ids",
        lambda e: e.objects.get_graph_elements(NS, S, "g", ["v", NUL]),
        InvalidGraphQuery,
    ),
    ("graph listing, cursor", lambda e: e.objects.list_graph_elements(NS, S, "g", cursor=NUL), InvalidCursor),
    ("neighbors, ids", lambda e: e.objects.graph_neighbors(NS, S, "g", [NUL]), InvalidGraphQuery),
    (
        "neighbors, label",
        lambda e: e.objects.graph_neighbors(NS, S, "g", ["v"], label=NUL),
        InvalidGraphQuery,
    ),
    ("query", lambda e: e.objects.query_graph(NS, S, "g", {"start": [NUL], "steps": []}), InvalidGraphQuery),
    (
        "thread items, instant out of range",
        lambda e: e.objects.list_thread_items(NS, S, "t", created_since="0001-01-01T00:00:00+05:00"),
        InvalidCursor,
    ),
    (
        "graph listing, instant out of range",
        lambda e: e.objects.list_graph_elements(NS, S, "g", updated_since="0001-01-01T00:00:00+05:00"),
        InvalidCursor,
    ),
    ("history, stream", lambda e: e.read_stream(NS, NUL), ValidationFailed),
    ("history, type", lambda e: e.read_stream(NS, S, types=[NUL]), ValidationFailed),
    ("log, stream filter", lambda e: e.read_all(stream=NUL), ValidationFailed),
    (
        "as of an instant out of range",
        lambda e: e.state_as_of(NS, S, at=datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=5)))),
        ValidationFailed,
    ),
]


@pytest.mark.parametrize(("name", "read", "error"), CASES, ids=[case[0] for case in CASES])
async def test_a_read_the_database_cannot_compare_is_refused_by_name(
    engine: Engine, name: str, read: Read, error: type[EngineError]
) -> None:
    await engine.objects.upload(NS, S, "t", {"type": "thread", "thread": {}})
    await engine.objects.upload(NS, S, "g", {"type": "graph", "graph": {}})
    await engine.append(NS, S, [NewEvent("noted", {})])
    with pytest.raises(error):
        await read(engine)
    assert await engine.objects.get_graph_elements(NS, S, "g", ["v"]) == []  # still serving


async def test_instant_filters_are_taken_in_utc(engine: Engine) -> None:
    await engine.objects.upload(NS, S, "t", {"type": "thread", "thread": {}})
    await engine.objects.post_thread_item(NS, S, "t", [{"type": "text", "text": "hi"}])
    later = (datetime.now(UTC) + timedelta(days=1)).astimezone(timezone(timedelta(hours=-5)))
    page = await engine.objects.list_thread_items(NS, S, "t", created_before=later.isoformat())
    assert len(page.items) == 1
    naive_later = later.astimezone(UTC).replace(tzinfo=None).isoformat()
    assert len((await engine.objects.list_thread_items(NS, S, "t", created_before=naive_later)).items) == 1
