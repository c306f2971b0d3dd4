"""Rebuilding projections from the log, into the live tables or into a scratch copy."""

from __future__ import annotations

import contextlib
import os
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from session_engine.engine.events import EventRegistry
from session_engine.engine.log import reads
from session_engine.engine.log.backend import Backend
from session_engine.engine.log.records import RecordedEvent
from session_engine.engine.projections.base import Projection, ProjectionContext
from session_engine.engine.projections.registry import ProjectionSet, write_checkpoint

Progress = Callable[[int], None]
PAGE = 5000
REPLAY_PAGE = 20_000
"""Events per page of a replay: a page costs a query, and one catalog upsert per stream in it."""


def replay(
    source: Connection,
    target: Connection,
    registry: EventRegistry,
    projections: list[Projection],
    *,
    after: int = 0,
    upto: int,
    progress: Progress | None = None,
    page: int = REPLAY_PAGE,
) -> int:
    """Apply the log's events in (after, upto] to `projections` on `target`. Returns events applied.

    Each page is read once for all projections. Payloads are decoded only for the event types some
    projection handles (`headers_only` projections see the rest as raw rows), and each projection
    gets only its own events, so runs of them batch into one executemany per statement.
    """
    by_pages = [p for p in projections if p.all_events and p.headers_only]
    full = [p for p in projections if p not in by_pages]
    everything = any(p.all_events for p in full)
    wanted = frozenset().union(*(p.event_types for p in full))
    handled = wanted.union(*(p.event_types for p in by_pages))
    own = {p.name: p.event_types for p in full if not p.all_events and len(full) > 1}
    context = ProjectionContext(target)
    applied = 0
    position = after
    while position < upto:
        chunk = reads.read_page(
            source,
            registry,
            after=position,
            upto=upto,
            limit=page,
            types=None if by_pages or everything else wanted,
            payloads=handled if by_pages and not everything else None,
        )
        if not chunk.rows:
            break
        for projection in by_pages:
            projection.apply_page(context, chunk)
        if full:
            batch = chunk.events(wanted if by_pages and not everything else None)
            for projection in full:
                types = own.get(projection.name)
                projection.apply(context, batch if types is None else [e for e in batch if e.type in types])
        context.flush()
        applied += len(chunk.rows)
        last = chunk.rows[-1][0]
        if progress is not None:
            progress(last - position)
        position = last
    if progress is not None and position < upto:
        progress(upto - position)
    return applied


def rebuild_in_place(
    connection: Connection,
    backend: Backend,
    registry: EventRegistry,
    projections: list[Projection],
    *,
    progress: Progress | None = None,
) -> int:
    """Empty the projections' live tables and replay the whole log into them (one transaction)."""
    backend.lock_log(connection)
    backend.analyze(connection)
    upto = reads.head(connection)
    context = ProjectionContext(connection)
    # Last registered first: a projection whose triggers write another's tables (records into the
    # term index) then finds them emptied already, rather than updating every row just to clear it.
    for projection in reversed(projections):
        projection.clear(context)
    applied = replay(connection, connection, registry, projections, upto=upto, progress=progress)
    for projection in projections:
        write_checkpoint(connection, projection, upto)
    return applied


def catch_up(
    connection: Connection,
    backend: Backend,
    registry: EventRegistry,
    projections: ProjectionSet,
    checkpoints: dict[str, tuple[int, int]],
) -> dict[str, str]:
    """Bring every projection level with the log: rebuild new or re-versioned ones, replay lagging ones."""
    backend.lock_log(connection)
    upto = reads.head(connection)
    done: dict[str, str] = {}
    if any(checkpoints.get(p.name, (0, 0)) != (upto, p.version) for p in projections):
        backend.analyze(connection)
    for projection in projections:
        position, version = checkpoints.get(projection.name, (0, 0))
        if version != projection.version:
            context = ProjectionContext(connection)
            projection.clear(context)
            replay(connection, connection, registry, [projection], upto=upto)
            done[projection.name] = "rebuilt"
        elif position < upto:
            replay(connection, connection, registry, [projection], after=position, upto=upto)
            done[projection.name] = "caught up"
        else:
            continue
        write_checkpoint(connection, projection, upto)
    return done


@dataclass
class Scratch:
    """An empty copy of the projections' tables: a temporary SQLite file, or a PostgreSQL schema."""

    engine: sa.Engine
    schema: str | None

    def connect(self) -> contextlib.AbstractContextManager[Connection]:
        return self._connection()

    @contextlib.contextmanager
    def _connection(self) -> Iterator[Connection]:
        with self.engine.begin() as connection:
            if self.schema is not None:
                # search_path, not schema_translate_map: driver SQL in projections must land here too.
                connection.exec_driver_sql(f'SET LOCAL search_path TO "{self.schema}"')
            yield connection


@contextlib.contextmanager
def scratch_copy(backend: Backend, projections: list[Projection]) -> Iterator[Scratch]:
    tables = [table for projection in projections for table in projection.tables]
    if backend.is_sqlite:
        directory = tempfile.mkdtemp(prefix="session-engine-verify-")
        path = os.path.join(directory, "scratch.db")
        engine = Backend(sa.make_url(f"sqlite+pysqlite:///{path}"), durability="off").create_engine(
            writer=True
        )
        try:
            with engine.begin() as connection:
                create_tables(connection, projections, tables)
            yield Scratch(engine, None)
        finally:
            engine.dispose()
            for name in os.listdir(directory):
                os.unlink(os.path.join(directory, name))
            os.rmdir(directory)
        return
    schema = f"scratch_{uuid.uuid4().hex[:12]}"
    engine = backend.create_engine(writer=True)
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
            create_tables(
                connection.execution_options(schema_translate_map={None: schema}), projections, tables
            )
        yield Scratch(engine, schema)
    finally:
        with engine.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        engine.dispose()


def create_tables(connection: Connection, projections: list[Projection], tables: list[sa.Table]) -> None:
    """Create projection tables from the metadata: scratch copies, and the live tables of extra domains
    (an embedding application's read models; the engine's own live tables come from Alembic)."""
    if tables:
        tables[0].metadata.create_all(connection, tables=tables)
    for projection in projections:
        for ddl in projection.extra_ddl:
            ddl(connection)


def events_upto(connection: Connection, registry: EventRegistry, upto: int) -> Iterator[RecordedEvent]:
    position = 0
    while True:
        batch = reads.read_all(connection, registry, after=position, limit=PAGE, upto=upto)
        if not batch:
            return
        yield from batch
        position = batch[-1].position
