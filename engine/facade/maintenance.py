"""Keeping the read models and the log whole: rebuild (live or in place), verification of the
projections, snapshots and hash chain, backup, export and import (`Engine.rebuild`,
`rebuild_live`, `verify`, `verify_snapshots`, `verify_chain`, `backup`, `export`, `import_`).

The work itself is in engine/projections (rebuild, live, verify), engine/inspect/snapshot_check.py
and engine/log (chain, transfer); here it runs on the engine's connections and under its writer.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeVar

import anyio
from sqlalchemy.engine import Connection

from session_engine.engine.backends.scratch import Scratch, Shadows
from session_engine.engine.errors import ValidationFailed
from session_engine.engine.facade.arguments import comparable, instant
from session_engine.engine.inspect import snapshot_check
from session_engine.engine.inspect.snapshot_check import SnapshotProblem
from session_engine.engine.log import reads, transfer
from session_engine.engine.log.chain import ChainCheck, check_chain
from session_engine.engine.projections import live as live_rebuild
from session_engine.engine.projections.base import Projection
from session_engine.engine.projections.live import LiveRebuild
from session_engine.engine.projections.rebuild import rebuild_in_place, replay, scratch_copy
from session_engine.engine.projections.registry import pin_level_checkpoints
from session_engine.engine.projections.verify import Difference, diff_projections

if TYPE_CHECKING:
    from session_engine.engine.engine import Engine

T = TypeVar("T")


async def rebuild(
    engine: Engine, names: Iterable[str] | None, *, progress: Callable[[int], None] | None, live: bool
) -> int:
    """`Engine.rebuild`: live (`rebuild_live`), or emptied and replayed in place under the log lock."""
    if live:
        return (await engine.rebuild_live(names, progress=progress)).applied
    projections = engine.projections.named(names)

    def run(connection: Connection) -> int:
        return rebuild_in_place(connection, engine.backend, engine.registry, projections, progress=progress)

    return await engine._committer.exclusive(run)


async def rebuild_live(
    engine: Engine,
    names: Iterable[str] | None,
    *,
    progress: Callable[[int], None] | None,
    locked_tail: int,
) -> LiveRebuild:
    """`Engine.rebuild_live`: fill a scratch copy lock-free, catch it up, swap it in under the lock."""
    backend = engine.backend
    projections = engine.projections.named(names)  # with those they depend on
    holds, drops = live_rebuild.Holds(), live_rebuild.Holds()

    async def exclusive(
        work: Callable[[Connection], T], *also: live_rebuild.Holds, transaction: bool = True
    ) -> T:
        """`work` in its own transaction on the writer (or, not `transaction`, in the one it makes
        itself), timed with its COMMIT by `holds` (and `also`)."""

        def committed(connection: Connection) -> T:
            with connection.begin():
                return work(connection)

        job: Callable[[Connection], T] = committed if transaction else work
        for timer in (holds, *also):
            job = timer.timed(job)
        return await engine._committer.exclusive(job, transaction=False)

    async def discard(shadows: Shadows) -> None:
        """Remove what a rebuild leaves, a batch per job: writers wait at most a batch, however
        big the leftovers are. Shielded: once begun, a cancelled caller does not stop it halfway."""
        with anyio.CancelScope(shield=True):
            while await exclusive(shadows.discard, drops):
                pass

    stack = contextlib.ExitStack()
    scratch = await anyio.to_thread.run_sync(stack.enter_context, scratch_copy(backend, projections))
    tables = [table.name for projection in projections for table in projection.tables]
    shadows = scratch.shadows(tables)
    try:
        await anyio.to_thread.run_sync(_refuse_unswappable, engine, scratch, tables, limiter=engine._readers)
        copy = live_rebuild.Copy(
            scratch, backend, engine.registry, projections, progress, full_text=shadows is None
        )

        def fill_from(after: int) -> tuple[int, int]:
            with engine._reader.connect() as source:
                return copy.fill(backend.one_snapshot(source), after=after)

        async def catch_up(covered: int, applied: int) -> tuple[int, int]:
            """Lock-free rounds while the log is more than `locked_tail` ahead of the copy
            (each round's changes moved into the shadows, where there are any)."""
            for _ in range(live_rebuild.CATCH_UP_ROUNDS):
                if await engine.head() - covered <= locked_tail:
                    break
                covered, more = await anyio.to_thread.run_sync(fill_from, covered, limiter=engine._readers)
                applied += more
                while shadows is not None and await exclusive(shadows.apply):
                    pass
            return covered, applied

        first, applied = await anyio.to_thread.run_sync(fill_from, 0, limiter=engine._readers)
        covered, applied = await catch_up(first, applied)
        try:
            if shadows is None:
                await anyio.to_thread.run_sync(scratch.analyze)
                upto, tail = await exclusive(functools.partial(copy.swap, after=covered))
            else:
                await discard(shadows)  # what an interrupted rebuild left
                await _move_into_shadows(scratch, shadows, exclusive)
                covered, applied = await catch_up(covered, applied)
                upto, tail = await exclusive(functools.partial(copy.rename, shadows=shadows, after=covered))
        except BaseException:
            if shadows is not None:
                await discard(shadows)
            raise
        if shadows is not None:  # swapped: the replaced tables go, cancelled or not
            await discard(shadows)
    finally:
        await anyio.to_thread.run_sync(stack.close)
    return LiveRebuild(
        upto=upto,
        applied=applied + tail,
        caught_up=upto - first,
        locked=upto - covered,
        projections=[projection.name for projection in projections],
        longest_hold=holds.longest,
        longest_drop=drops.longest,
    )


def _refuse_unswappable(engine: Engine, scratch: Scratch, tables: list[str]) -> None:
    with engine._reader.connect() as connection:
        scratch.refuse_unswappable(connection, tables)


async def _move_into_shadows(
    scratch: Scratch,
    shadows: Shadows,
    exclusive: Callable[..., Awaitable[Any]],
) -> None:
    """Create shadows beside the live tables, note the copy's changes from now on, and move its
    rows into them, one short writer transaction per batch (writers wait at most a batch)."""

    def track() -> None:
        with scratch.connect() as connection:
            shadows.track(connection)

    await exclusive(shadows.prepare)
    await anyio.to_thread.run_sync(track)
    while await exclusive(shadows.copy, transaction=False):
        pass


async def verify(
    engine: Engine, names: Iterable[str] | None, *, progress: Callable[[int], None] | None
) -> list[Difference]:
    """`Engine.verify`: rebuild into a scratch copy and compare it with the live read models."""
    projections = engine.projections.named(names)
    return await anyio.to_thread.run_sync(_verify_sync, engine, projections, progress)


def _verify_sync(
    engine: Engine, projections: list[Projection], progress: Callable[[int], None] | None
) -> list[Difference]:
    backend = engine.backend
    with scratch_copy(backend, projections) as scratch, engine._reader.connect() as live:
        # One snapshot for the whole comparison: writers go on, verification sees one state.
        live = backend.one_snapshot(live)
        upto = reads.head(live)
        with scratch.connect() as target:
            replay(live, target, backend, engine.registry, projections, upto=upto, progress=progress)
        with scratch.connect() as target:
            return diff_projections(live, target, backend, projections)


async def verify_snapshots(engine: Engine) -> list[SnapshotProblem]:
    """`Engine.verify_snapshots`: every stored snapshot against a fresh fold, on one snapshot."""
    await engine.flush_snapshots()
    projections = list(engine.projections)

    def run(connection: Connection) -> list[SnapshotProblem]:
        return snapshot_check.check_all(
            engine.backend.one_snapshot(connection), engine.backend, engine.registry, projections
        )

    return await anyio.to_thread.run_sync(engine._read_sync, run)


async def backup(engine: Engine, target: str | Path) -> None:
    """`Engine.backup`: never over an existing file."""
    path = Path(target)
    if path.exists():
        raise ValidationFailed(f"{path} exists: a backup never overwrites a file")
    await anyio.to_thread.run_sync(engine.backend.backup, engine._reader, path)


async def verify_chain(
    engine: Engine, *, at: int | None, progress: Callable[[int], None] | None
) -> ChainCheck:
    """`Engine.verify_chain`: the chain recomputed on a read connection."""

    def run(connection: Connection) -> ChainCheck:
        return check_chain(connection, engine.backend, at=at, progress=progress)

    return await anyio.to_thread.run_sync(engine._read_sync, run)


async def export(
    engine: Engine,
    out: IO[bytes],
    *,
    progress: Callable[[int], None] | None,
    scope: transfer.ExportScope,
) -> int:
    """`Engine.export`: the scope checked, then the events written as JSON Lines."""
    comparable(scope.namespace, scope.stream)
    since, until = instant("since", scope.since), instant("until", scope.until)
    scope = transfer.ExportScope(scope.namespace, scope.stream, since, until)
    return await anyio.to_thread.run_sync(
        engine._read_sync, lambda c: transfer.write_export(c, out, progress, scope)
    )


async def import_(engine: Engine, lines: Iterable[bytes], *, progress: Callable[[int], None] | None) -> int:
    """`Engine.import_`: load into the empty log and rebuild every projection, under the log lock."""

    def run(connection: Connection) -> int:
        engine.backend.lock_log(connection)
        # What follows the head has not seen the imported events: another engine's domain catches up.
        pin_level_checkpoints(connection, reads.head(connection))
        count = transfer.import_lines(connection, lines, progress)
        rebuild_in_place(connection, engine.backend, engine.registry, list(engine.projections))
        engine.hub.head = max(engine.hub.head, count)
        engine._committer.forget_state()
        return count

    return await engine._committer.exclusive(run)
