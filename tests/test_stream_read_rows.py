"""A session's read gives back exactly what was appended, whatever the row shape its backend reads
(SQLite's columns or rows, PostgreSQL's rows with the usual empty metadata sent as NULL)."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from session_engine.engine import Engine, ManualClock, NewEvent

_values = st.one_of(st.none(), st.booleans(), st.integers(-(2**53), 2**53), st.text(max_size=12))
_documents = st.dictionaries(st.text(max_size=6), _values, max_size=4)
_events = st.tuples(st.sampled_from(["noted", "said", "{}"]), _documents, st.one_of(st.just({}), _documents))
_appends = st.lists(st.lists(_events, min_size=1, max_size=5), min_size=1, max_size=8)


async def _append_and_read(url: str, appends: list[list[tuple[str, dict[str, Any], dict[str, Any]]]]) -> None:
    clock = ManualClock()
    async with Engine.open(url, migrate=False, clock=clock) as engine:
        stream = f"s{await engine.head()}"  # the examples share the database: a stream of its own
        for batch in appends:
            await engine.append("ns", stream, [NewEvent(t, data, metadata=meta) for t, data, meta in batch])
            clock.advance(1)
        sent = [event for batch in appends for event in batch]
        read = await engine.read_stream("ns", stream)
        assert [(e.type, e.data, e.metadata) for e in read] == sent
        assert read == await engine.read_all(namespace="ns", stream=stream)
        # Each event has its own metadata: changing one changes no other, nor the next read.
        assert len({id(e.metadata) for e in read}) == len(read)
        read[0].metadata["changed"] = True
        assert [e.metadata for e in read[1:]] == [meta for _, _, meta in sent[1:]]
        assert [e.metadata for e in await engine.read_stream("ns", stream)] == [meta for _, _, meta in sent]

        def rows(connection: Any) -> Any:
            return engine.backend.read_stream_rows(
                connection,
                "ns",
                stream,
                from_version=1,
                to_version=None,
                to_position=None,
                until=None,
                types=None,
                limit=None,
                descending=False,
            )

        if engine.backend.name == "postgresql":  # the empty metadata comes as NULL, any other as text
            metadata = [row[5] for row in await engine.read(rows)]
            assert [found is None for found in metadata] == [not meta for _, _, meta in sent]


@given(appends=_appends)
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_a_session_reads_back_every_appended_type_data_and_metadata(
    database_url: str, appends: list[list[tuple[str, dict[str, Any], dict[str, Any]]]]
) -> None:
    anyio.run(_append_and_read, database_url, appends)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
