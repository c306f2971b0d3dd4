"""Snapshots by example: a retention base keeps later states exact once the events before it are
deleted, drops remove them, stale ones are never served, verify finds a damaged one."""

from __future__ import annotations

import sqlite3
import zlib
from typing import Any

import anyio
import pytest
import sqlalchemy as sa

from session_engine.engine import Engine, ManualClock
from session_engine.engine.errors import NotFound, StateUnavailable
from session_engine.engine.inspect import head
from session_engine.engine.inspect.state import read_state
from session_engine.engine.log.schema import checkpoints, events, snapshots
from session_engine.engine.projections import snapshots as snapshot_rows
from session_engine.engine.projections.asof import SessionAsOf
from tests.inspect.helpers import spoil
from tests.inspect.test_time_travel import _history
from tests.records.helpers import NS
from tests.test_cli_inspect import cli

S = "session-1"
pytestmark = pytest.mark.anyio


async def _delete_events_upto(engine: Engine, version: int) -> None:
    """What retention does to the log: the session's events up to `version` are gone."""

    def delete(connection: sa.Connection) -> None:
        connection.execute(
            events.delete().where(events.c.namespace == NS, events.c.stream == S, events.c.version <= version)
        )

    await engine._committer.exclusive(delete)


async def _stored(engine: Engine) -> list[tuple[int, int]]:
    await engine.flush_snapshots()  # reads store theirs in the background
    query = sa.select(snapshots.c.version, snapshots.c.pinned).order_by(snapshots.c.version)
    return await engine.read(lambda c: [(int(v), int(p)) for v, p in c.execute(query)])


async def test_a_pinned_snapshot_keeps_later_states_exact_after_the_events_before_it_are_deleted(
    engine: Engine, clock: ManualClock
) -> None:
    await _history(engine, clock)
    expected = {v: await engine.state_as_of(NS, S, version=v) for v in (6, 9, 12)}
    await engine.drop_snapshots(NS, S)  # the reads above left cached ones; the base must do alone
    taken = await engine.take_snapshot(NS, S, 6)
    assert (taken.version, taken.pinned) == (6, True)
    await _delete_events_upto(engine, 6)

    for version, state in expected.items():
        assert await engine.state_as_of(NS, S, version=version) == state
    assert await engine.state_as_of(NS, S, at=clock.now()) == expected[12].model_copy(
        update={"as_of": clock.now()}
    )
    diff = await engine.diff(NS, S, 6, 12)
    assert diff.apply(expected[6]) == expected[12]
    stepped = [state async for state in engine.states(NS, S, from_version=7)]
    assert [s.version for s in stepped] == list(range(7, 13))
    assert stepped[-1] == expected[12]
    with pytest.raises(StateUnavailable):
        await engine.state_as_of(NS, S, version=5)


async def test_every_event_deleted_leaves_the_state_of_the_pinned_snapshot(
    engine: Engine, clock: ManualClock
) -> None:
    await _history(engine, clock)
    current = await engine.state_as_of(NS, S, version=12)
    await engine.take_snapshot(NS, S)
    await _delete_events_upto(engine, 12)
    assert await engine.state_as_of(NS, S, version=12) == current
    with pytest.raises(StateUnavailable):
        await engine.state_as_of(NS, S, version=11)


async def test_a_deleted_history_without_a_snapshot_is_refused_not_guessed(
    engine: Engine, clock: ManualClock
) -> None:
    await _history(engine, clock)
    await _delete_events_upto(engine, 6)
    await engine.drop_snapshots(NS, S)
    with pytest.raises(StateUnavailable):
        await engine.state_as_of(NS, S, version=12)


async def test_drop_snapshots_removes_pinned_and_cached_ones(engine: Engine, clock: ManualClock) -> None:
    await _history(engine, clock)
    await engine.state_as_of(NS, S, version=10)  # a read keeps its state with a snapshot
    await engine.take_snapshot(NS, S, 4)
    assert await _stored(engine) == [(4, 1), (10, 0)]
    assert await engine.drop_snapshots(NS, S) == 2
    assert await _stored(engine) == []
    assert await engine.drop_snapshots(NS, S) == 0


async def test_a_snapshot_of_a_version_the_session_has_not_reached_is_refused(
    engine: Engine, clock: ManualClock
) -> None:
    await _history(engine, clock)
    with pytest.raises(NotFound):
        await engine.take_snapshot(NS, S, 13)
    with pytest.raises(NotFound):
        await engine.take_snapshot(NS, "never-written")
    assert await _stored(engine) == []


def _forge(image: bytes) -> bytes:
    """The read models' image with the value of "ttl" changed: a snapshot that lies."""
    database = sqlite3.connect(":memory:")
    try:
        database.deserialize(image)
        changed = database.execute("UPDATE value_entries SET value = '999' WHERE key = 'ttl'").rowcount
        assert changed == 1
        database.commit()
        return database.serialize()
    finally:
        database.close()


async def _rewrite(engine: Engine, version: int, **changes: Any) -> None:
    """Rewrite the stored snapshot at `version` as someone with the database could, digest included
    (`fingerprint=`, `forge=True`: its read models changed, `damage=True`: a byte flipped, digest kept)."""
    await engine.flush_snapshots()
    [found] = [s for s in await engine.read(lambda c: snapshot_rows.stored(c, NS, S)) if s.version == version]
    tables, fp = found.tables, changes.get("fingerprint", found.fingerprint)
    if changes.get("forge"):
        tables = zlib.compress(_forge(found.base.tables))
    digest = snapshot_rows.digest_of(NS, S, fp, version, found.position, found.event_hash, tables, None)
    if changes.get("damage"):
        tables, digest = tables[:-1] + bytes([tables[-1] ^ 1]), found.digest

    def write(connection: sa.Connection) -> None:
        key = (snapshots.c.namespace == NS, snapshots.c.stream == S, snapshots.c.version == version)
        connection.execute(
            snapshots.update().where(*key).values(tables=tables, state=None, fingerprint=fp, digest=digest)
        )

    await engine._committer.exclusive(write)


async def test_a_snapshot_from_other_projection_code_is_never_served(
    engine: Engine, clock: ManualClock
) -> None:
    await _history(engine, clock)
    truth = await engine.state_as_of(NS, S, version=8)  # leaves a snapshot at 8
    await _rewrite(engine, 8, forge=True, fingerprint="0" * 64)  # as if older code had written it
    assert await engine.state_as_of(NS, S, version=8) == truth
    assert await engine.state_as_of(NS, S, version=10) == (await _full_fold(engine, 10))
    assert await engine.verify_snapshots() == []  # a stale row is no defect: it is never served


async def test_verify_finds_a_snapshot_that_disagrees_with_the_fold(
    engine: Engine, clock: ManualClock
) -> None:
    await _history(engine, clock)
    await engine.state_as_of(NS, S, version=8)
    assert await engine.verify_snapshots() == []
    await _rewrite(engine, 8, forge=True)  # a consistent digest: only a fold tells it is wrong
    [problem] = await engine.verify_snapshots()
    assert (problem.namespace, problem.session, problem.version) == (NS, S, 8)
    assert "value_entries" in problem.reason


async def test_a_damaged_snapshot_is_found_by_verify_and_never_served(
    engine: Engine, clock: ManualClock
) -> None:
    await _history(engine, clock)
    truth = await engine.state_as_of(NS, S, version=8)
    await _rewrite(engine, 8, damage=True)
    [problem] = await engine.verify_snapshots()
    assert (problem.version, problem.reason) == (8, "damaged: its digest does not match its content")
    assert await engine.state_as_of(NS, S, version=8) == truth


async def test_the_command_line_verify_fails_on_a_forged_snapshot(
    engine: Engine, clock: ManualClock, database_url: str
) -> None:
    await _history(engine, clock)
    await engine.state_as_of(NS, S, version=8)
    await _rewrite(engine, 8, forge=True)
    result = await anyio.to_thread.run_sync(lambda: cli("verify", url=database_url))
    assert result.returncode == 1
    assert f"snapshot {NS}/{S} at version 8: its read models differ" in result.stderr
    assert "Traceback" not in result.stderr


async def _full_fold(engine: Engine, version: int) -> Any:
    found = await engine.read_stream(NS, S, to_version=version)
    with SessionAsOf(NS, S, found, list(engine.projections)) as state:
        return read_state(state, found[-1].recorded_at)


async def test_erasing_a_session_drops_its_snapshots(database_url: str, clock: ManualClock) -> None:
    async with Engine.open(database_url, migrate=False, clock=clock, encrypted_namespaces=[NS]) as engine:
        await _history(engine, clock)
        await engine.state_as_of(NS, S, version=9)  # a cached snapshot, stored in the background
        await engine.take_snapshot(NS, S, 5)  # a pinned one
        await engine.erase(NS, S)
        assert await _stored(engine) == []
        assert await engine.verify_snapshots() == []


async def _answered_live(engine: Engine) -> bool:
    """Whether the session's head is read off the live read models (`engine.inspect.head`)."""
    projections = list(engine.projections)

    def at_head(connection: sa.Connection) -> bool:
        with connection.begin():
            return head.live_session(connection, engine.backend, projections, NS, S) is not None

    return await engine.read(at_head)


async def test_an_erased_session_is_folded_not_read_off_the_live_rows(
    database_url: str, clock: ManualClock
) -> None:
    async with Engine.open(database_url, migrate=False, clock=clock, encrypted_namespaces=[NS]) as engine:
        await _history(engine, clock)
        assert await _answered_live(engine)
        erased = await engine.erase(NS, S)
        assert not await _answered_live(engine)  # its rows are gone; the fold decides what is left
        assert await engine.state_as_of(NS, S, version=erased.version) == await _full_fold(
            engine, erased.version
        )
        await engine.values.set(NS, S, "after", 1, recreate=True)  # recreated: still folded
        assert not await _answered_live(engine)
        last = (await engine.read_stream(NS, S))[-1].version
        assert await engine.state_as_of(NS, S, version=last) == await _full_fold(engine, last)


async def test_a_projection_behind_the_log_sends_the_head_to_the_fold(
    engine: Engine, clock: ManualClock
) -> None:
    await _history(engine, clock)
    assert await _answered_live(engine)
    expected = await _full_fold(engine, 12)
    await engine._committer.exclusive(
        lambda c: c.execute(checkpoints.update().where(checkpoints.c.name == "values").values(position=1))
    )
    assert not await _answered_live(engine)
    assert await engine.state_as_of(NS, S, version=12) == expected
    await engine._committer.exclusive(
        lambda c: c.execute(checkpoints.update().where(checkpoints.c.name == "values").values(version=99))
    )
    assert not await _answered_live(engine)
    assert await engine.state_as_of(NS, S, version=12) == expected


async def test_a_head_read_again_is_a_fresh_copy_of_the_state_first_read(
    engine: Engine, clock: ManualClock
) -> None:
    await _history(engine, clock)
    assert await _answered_live(engine)
    last = (await engine.read_stream(NS, S))[-1].version
    first = await engine.state_as_of(NS, S, version=last)
    expected = first.model_dump()
    again = await engine.state_as_of(NS, S, version=last)  # from the kept copy (`head.state_at_head`)
    assert again == first and again is not first
    assert again.model_fields_set == first.model_fields_set
    assert again.as_of == first.as_of and again.as_of.tzinfo == first.as_of.tzinfo
    spoil(again)  # a caller's change to its copy reaches no later read
    assert (await engine.state_as_of(NS, S, version=last)).model_dump() == expected
    assert first.model_dump() == expected and expected["values"] and expected["objects"]


async def _kept_at_8(engine: Engine, clock: ManualClock) -> None:
    """The history, and its state at version 8 folded once: kept with its snapshot at 8."""
    await _history(engine, clock)
    await engine.state_as_of(NS, S, version=8)
    await engine.flush_snapshots()


async def test_a_state_read_again_from_its_snapshot_is_a_fresh_copy(
    engine: Engine, clock: ManualClock
) -> None:
    await _kept_at_8(engine, clock)
    expected = (await _full_fold(engine, 8)).model_dump()
    for _ in range(3):  # the first from the stored snapshot, the next from the copy kept in memory
        again = await engine.state_as_of(NS, S, version=8)
        assert again.model_dump() == expected and expected["values"] and expected["objects"]
        spoil(again)  # a caller's change to its copy reaches no later read


async def test_a_snapshot_taken_where_a_damaged_one_is_kept_in_memory_is_folded_again(
    engine: Engine, clock: ManualClock
) -> None:
    await _kept_at_8(engine, clock)
    truth = await engine.state_as_of(NS, S, version=8)  # its state now also kept in memory

    def damage(connection: sa.Connection) -> None:  # a byte of its tables flipped, digest and state kept
        key = (snapshots.c.namespace == NS, snapshots.c.stream == S, snapshots.c.version == 8)
        [tables] = connection.execute(sa.select(snapshots.c.tables).where(*key)).one()
        connection.execute(
            snapshots.update().where(*key).values(tables=tables[:-1] + bytes([tables[-1] ^ 1]))
        )

    await engine._committer.exclusive(damage)
    assert await engine.state_as_of(NS, S, version=8) == truth
    await engine.take_snapshot(NS, S, 8)  # pinned: stores the fold's tables, never the damaged ones
    await engine.flush_snapshots()
    assert await engine.verify_snapshots() == []
