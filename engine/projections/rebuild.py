"""Rebuilding projections from the log, into the live tables or into a scratch copy."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Callable, Iterator

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from session_engine.engine.backends import Backend, Scratch
from session_engine.engine.events import EventRegistry
from session_engine.engine.log import reads
from session_engine.engine.projections.base import BatchedProjection, Projection, ProjectionContext
from session_engine.engine.projections.registry import ProjectionSet, read_checkpoints, write_checkpoint
from session_engine.engine.projections.replay_folds import FOLD_EVENTS, ReplayFolds

Progress = Callable[[int], None]
REPLAY_PAGE = 20_000
"""Events per page of a replay: a page costs a query, and one catalog upsert per stream in it."""


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off while a page is applied: a page makes some hundred
    thousand containers that live until its end and hold no cycles, and the collector's passes over
    them cost a fifth of a replay (docs/benchmarks.md). Its thresholds apply again after the page."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def replay(
    source: Connection,
    target: Connection,
    backend: Backend,
    registry: EventRegistry,
    projections: list[Projection],
    *,
    after: int = 0,
    upto: int,
    progress: Progress | None = None,
    page: int = REPLAY_PAGE,
    fold: int = FOLD_EVENTS,
    full_text: bool = True,
) -> int:
    """Apply the log's events in (after, upto] to `projections` on `target`. Returns events applied.

    Each page is read once for all projections. Payloads are decoded only for the event types some
    projection handles (`headers_only` projections see the rest as raw rows), and each projection
    gets only its own events, so runs of them batch into one executemany per statement. Batched
    projections fold `fold` events into one batch before writing it (`ReplayFolds`). Without
    `full_text` (a copy that goes live through shadows), the `full_text` derived indexes are
    neither kept nor filled (`DerivedIndex.full_text`).
    """
    by_pages = [p for p in projections if p.all_events and p.headers_only]
    full = [p for p in projections if p not in by_pages]
    everything = any(p.all_events for p in full)
    wanted = frozenset().union(*(p.event_types for p in full))
    handled = wanted.union(*(p.event_types for p in by_pages))
    own = {p.name: p.event_types for p in full if not p.all_events and len(full) > 1}
    context = ProjectionContext(target, backend, copies=True)
    # From the start, the tables fill from empty: indexes kept by row triggers are filled at the end.
    private = target is not source  # a scratch copy: nobody else reads it before it is done
    suspended = (
        [p.suspend_derived(context, private=private, full_text=full_text) for p in projections]
        if after == 0
        else []
    )
    # Batches folded across pages, when every projection applied to events is batched: one that is
    # not could read another's tables, which then must hold each page's writes before the next.
    folds = ReplayFolds(context, limit=fold) if all(isinstance(p, BatchedProjection) for p in full) else None
    applied = 0
    position = after
    if after == 0:
        # Sessions retention shortened start from their snapshot (imported here: asof needs rebuild).
        from session_engine.engine.retention.bases import seed

        seed(source, target, backend, projections)
    with contextlib.ExitStack() as paused:
        if folds is not None:  # the folded batches live across pages: see `ReplayFolds.drain`
            paused.enter_context(collector_paused())
        while position < upto:
            with collector_paused():
                chunk = reads.read_page(
                    source,
                    backend,
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
                    batch = chunk.events(wanted if by_pages and not everything else None, erased=False)
                    for projection in full:
                        types = own.get(projection.name)
                        mine = batch if types is None else [e for e in batch if e.type in types]
                        if folds is not None and isinstance(projection, BatchedProjection):
                            folds.apply(projection, mine)
                        else:
                            projection.apply(context, mine)
                    del batch, mine  # a drain's collection then walks none of the page's events
                    if folds is not None:
                        folds.page_done(len(chunk.rows))
                context.flush()
            applied += len(chunk.rows)
            last = chunk.rows[-1][0]
            if progress is not None:
                progress(last - position)
            position = last
        if folds is not None:
            folds.drain()
    for projection, statements in zip(projections, suspended, strict=False):
        projection.fill_derived(context, statements, full_text=full_text)
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
    context = ProjectionContext(connection, backend)
    # Last registered first: a projection whose triggers write another's tables (records into the
    # term index) then finds them emptied already, rather than updating every row just to clear it.
    for projection in reversed(projections):
        projection.clear(context)
    applied = replay(connection, connection, backend, registry, projections, upto=upto, progress=progress)
    for projection in projections:
        write_checkpoint(connection, projection, upto)
    return applied


def catch_up(
    connection: Connection,
    backend: Backend,
    registry: EventRegistry,
    projections: ProjectionSet,
) -> dict[str, str]:
    """Bring every projection level with the log: rebuild new or re-versioned ones, replay lagging ones.

    The checkpoints are read after the log lock is granted: read before it, they can be older than
    the rows another process's writer projected meanwhile, whose replay would then collide.
    """
    backend.lock_log(connection)
    checkpoints = read_checkpoints(connection)
    upto = reads.head(connection)
    done: dict[str, str] = {}
    if any(checkpoints.get(p.name, (0, 0)) != (upto, p.version) for p in projections):
        backend.analyze(connection)
    for projection in projections:
        position, version = checkpoints.get(projection.name, (0, 0))
        if version != projection.version:
            context = ProjectionContext(connection, backend)
            projection.clear(context)
            replay(connection, connection, backend, registry, [projection], upto=upto)
            done[projection.name] = "rebuilt"
        elif position < upto:
            replay(connection, connection, backend, registry, [projection], after=position, upto=upto)
            done[projection.name] = "caught up"
        else:
            continue
        write_checkpoint(connection, projection, upto)
    return done


@contextlib.contextmanager
def scratch_copy(backend: Backend, projections: list[Projection]) -> Iterator[Scratch]:
    """An empty copy of the projections' tables in the backend's scratch place (`Backend.scratch`)."""
    tables = [table for projection in projections for table in projection.tables]
    with backend.scratch() as scratch:
        with scratch.engine.begin() as connection:
            create_tables(scratch.for_ddl(connection), backend, projections, tables)
        yield scratch


def create_tables(
    connection: Connection, backend: Backend, projections: list[Projection], tables: list[sa.Table]
) -> None:
    """Create projection tables from the metadata: scratch copies, and the live tables of extra domains
    (an embedding application's read models; the engine's own live tables come from Alembic)."""
    if tables:
        tables[0].metadata.create_all(connection, tables=tables)
    for projection in projections:
        for ddl in projection.extra_ddl:
            backend.run_ddl(connection, ddl)
