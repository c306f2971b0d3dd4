"""A replay folds a batched projection's events across its pages into one batch (`ReplayFolds`):
whatever the page and however often the folds are drained, the rebuilt rows are the rows the write
path made event by event - values set again and deleted, records replaced and deleted, objects
replaced and deleted with their children, graph elements changed and cascaded pages later."""

from __future__ import annotations

import gc
import weakref
from typing import Any, cast

import anyio
import pytest
import sqlalchemy as sa

from session_engine.adapters.rpc.bus.subjects import RecordSubjects
from session_engine.engine import Engine
from session_engine.engine.backends import Backend
from session_engine.engine.log import reads
from session_engine.engine.log.records import RecordedEvent
from session_engine.engine.projections.base import BatchedProjection, ProjectionContext, WriteBatch
from session_engine.engine.projections.rebuild import replay, scratch_copy
from session_engine.engine.projections.replay_folds import ReplayFolds
from session_engine.engine.projections.verify import diff_projections
from tests.records.helpers import record

pytestmark = pytest.mark.anyio
NS = "folds"
THREAD = {"type": "thread", "thread": {"attributes": {"title": "t"}}}
GRAPH = {"type": "graph", "graph": {"attributes": {}}}


def text(value: str) -> list[dict[str, Any]]:
    return [{"type": "text", "text": value}]


def message(role: str, value: str) -> dict[str, Any]:
    return {"role": role, "content": text(value)}


async def write_a_log(engine: Engine) -> None:
    """Three sessions' writes of every domain, interleaved, so that each key's writes span pages."""
    records, objects = RecordSubjects(engine), engine.objects
    await records.set(NS, {"sessionId": "d", "session": record("d", 10)})
    for session in ("a", "b", "c"):
        await records.set(NS, {"sessionId": session, "session": record(session, 10)})
        await objects.upload(NS, session, "chat", THREAD)
        await objects.upload(NS, session, "memory", GRAPH)
        conversation = {"type": "messages", "messages": [message("user", "hello")]}
        await objects.upload(NS, session, "conv", conversation)
    start: dict[str, int] = {}
    """Each session's first turn of its graph (c's is deleted and uploaded again)."""
    for turn in range(6):
        for session in ("a", "b", "c"):
            await engine.values.set(NS, session, f"k{turn % 3}", {"turn": turn})
            if turn % 2:
                await engine.values.delete(NS, session, f"k{(turn + 1) % 3}")
            await objects.post_thread_item(NS, session, "chat", text(f"harbour {turn}"))
            await objects.append_messages(NS, session, "conv", [message("assistant", f"boat {turn}")])
            operations: list[dict[str, Any]] = [
                {"op": "add_vertex", "element_id": f"v{turn}", "labels": ["Note"], "props": {"n": turn}}
            ]
            first = start.get(session, 0)
            if turn > first:
                operations += [
                    {"op": "add_edge", "label": "next", "from_id": f"v{turn - 1}", "to_id": f"v{turn}"},
                    {"op": "set_vertex_props", "element_id": f"v{first}", "props": {"seen": turn}},
                ]
            if turn == 4 and first + 1 < turn:  # edges made pages before go with their vertex
                operations.append({"op": "delete_vertex", "element_id": f"v{first + 1}"})
            await objects.apply_graph_mutations(NS, session, "memory", operations)
            last = 100.0 + turn
            await records.update(NS, {"sessionId": session, "changes": {"lastActivityAt": last}})
        if turn < 2:
            await records.update(NS, {"sessionId": "d", "changes": {"lastActivityAt": 20.0 + turn}})
        if turn == 2:
            await objects.upload(NS, "b", "chat", THREAD)  # a re-upload that keeps its items
            await objects.delete(NS, "c", "memory")
            start["c"] = turn + 1
            await objects.upload(NS, "c", "memory", GRAPH)
            await records.delete(NS, {"sessionId": "d"})
            await engine.values.clear(NS, "b")
        if turn == 4:
            await objects.upload(NS, "a", "draft", {"type": "message", "message": message("user", "one")})
            await objects.upload(NS, "a", "draft", {"type": "message", "message": message("user", "two")})
            await records.set(NS, {"sessionId": "a", "session": record("a", 50, status="closed")})


@pytest.mark.parametrize(("page", "fold"), [(1, 1), (2, 5), (3, 1_000_000), (7, 20), (50, 50)])
async def test_a_folded_replay_leaves_the_rows_of_the_writes_one_by_one(
    engine: Engine, page: int, fold: int
) -> None:
    await write_a_log(engine)
    projections = list(engine.projections)
    backend = engine.backend

    def rebuilt_differences() -> list[str]:
        with scratch_copy(backend, projections) as scratch, engine._reader.connect() as live:
            upto = reads.head(live)
            with scratch.connect() as target:
                replay(live, target, backend, engine.registry, projections, upto=upto, page=page, fold=fold)
            with scratch.connect() as target:
                return [d.describe() for d in diff_projections(live, target, backend, projections)]

    assert await anyio.to_thread.run_sync(rebuilt_differences) == []
    assert await engine.verify() == []


async def test_a_replay_reads_no_stored_element_of_a_graph_its_batch_created(engine: Engine) -> None:
    """Every graph of the log is uploaded in the one folded batch: nothing of theirs is stored, so the
    graph mutations replay without a query of the graph elements (the rows are still the write path's:
    the test above, whose small folds store graphs that later batches read)."""
    await write_a_log(engine)
    projections = list(engine.projections)
    backend = engine.backend
    statements: list[str] = []

    def note(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    def replayed() -> None:
        with scratch_copy(backend, projections) as scratch, engine._reader.connect() as live:
            upto = reads.head(live)
            with scratch.connect() as target:
                sa.event.listen(target, "before_cursor_execute", note)
                replay(live, target, backend, engine.registry, projections, upto=upto)

    await anyio.to_thread.run_sync(replayed)
    assert statements
    assert [s for s in statements if s.lstrip().upper().startswith("SELECT") and "graph_elements" in s] == []


async def test_a_replay_page_holds_the_documents_as_text_and_decodes_them_once(engine: Engine) -> None:
    """A replay's page leaves the payloads as the stored JSON text (PostgreSQL's `jsonb` too: its
    driver's loader would decode each in the fetch, a copy and a parse the page's own decode makes
    again), and `LogRows.events` decodes them into the same payloads as a stream read."""
    await write_a_log(engine)

    def read() -> None:
        with engine._reader.connect() as connection:
            upto = reads.head(connection)
            backend, registry = engine.backend, engine.registry
            page = reads.read_page(connection, backend, registry, after=0, upto=upto, limit=upto)
            assert {type(row[6]) for row in page.rows} == {str}
            assert {type(row[7]) for row in page.rows} == {str}
            stream = reads.read_stream(connection, backend, registry, NS, "a")
            decoded = {(e.stream, e.version): (e.data, e.metadata) for e in page.events()}
            assert [decoded[("a", e.version)] for e in stream] == [(e.data, e.metadata) for e in stream]

    await anyio.to_thread.run_sync(read)


class _Batch(WriteBatch):
    def drain(self) -> None:
        pass


class _Folded(BatchedProjection[_Batch]):
    def new_batch(self, context: ProjectionContext, events: list[RecordedEvent]) -> _Batch:
        return _Batch(context)


def test_the_collection_after_a_drain_finds_no_batch_alive() -> None:
    """`ReplayFolds.drain` collects the young generation once the batches are written: a batch
    still named then (the loop's last) is walked with every row it holds, for nothing."""
    context = ProjectionContext(cast(sa.Connection, None), cast(Backend, None))
    folds = ReplayFolds(context)
    projections = [_Folded(name, [], rows=[]) for name in ("first", "last")]
    for projection in projections:
        folds.apply(projection, [])
    batches = [weakref.ref(batch) for batch in folds._batches.values()]
    alive_at_collection: list[bool] = []

    def started(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            alive_at_collection.append(any(batch() is not None for batch in batches))

    gc.callbacks.append(started)
    try:
        folds.drain()
    finally:
        gc.callbacks.remove(started)
    assert alive_at_collection == [False]
