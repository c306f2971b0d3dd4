"""Retention (specs/lifecycle.md, "Retention"): a run removes exactly what its policy names - the
events and read-model rows of sessions idle or closed too long, expired values' rows - and nothing
else; it is recorded (`retention_run` in `$retention`, `session_expired` in each dropped session);
the hash chain still verifies across the removed ranges and the read models still equal a rebuild;
a dropped session stays deleted. On SQLite and PostgreSQL, with writers running."""

from __future__ import annotations

from typing import Any

import anyio
import orjson
import pytest

from session_engine.engine import Engine, ManualClock, NewEvent, SessionDeleted, ValidationFailed
from session_engine.engine.errors import StateUnavailable
from session_engine.engine.log.chain import check_rows, stored_rows
from session_engine.engine.log.gaps import RETENTION_RUN, RETENTION_STREAM
from session_engine.engine.retention import RetentionPolicy
from tests.records.helpers import record

NS = "tenant"
MESSAGE = {"role": "user", "content": [{"type": "text", "text": "hello retention"}]}
pytestmark = pytest.mark.anyio


async def fill_session(engine: Engine, sid: str, namespace: str = NS) -> None:
    """A session with a bit of every domain: a record, values, an object with a message."""
    await engine.records.set(namespace, sid, record(sid))
    await engine.values.set(namespace, sid, "k", {"v": sid})
    await engine.objects.upload(namespace, sid, "doc", {"type": "message", "message": MESSAGE})
    await engine.append(namespace, sid, [NewEvent("noted", {"sid": sid})])


async def clean(engine: Engine) -> None:
    """The chain verifies across every removed range; the read models equal a rebuild; every
    snapshot (the retention bases too) agrees with a fold."""
    chain = await engine.verify_chain()
    assert chain.ok, chain
    assert await engine.verify() == []
    assert await engine.verify_snapshots() == []


async def visible(engine: Engine, sid: str, namespace: str = NS) -> dict[str, Any]:
    stored = await engine.values.get(namespace, sid, "k")
    found = await engine.records.get(namespace, sid)
    return {
        "value": None if stored is None else stored.value,
        "record": found is not None,
        "events": [e.type for e in await engine.read_stream(namespace, sid)],
    }


async def test_idle_sessions_go_whole_and_the_rest_is_untouched(engine: Engine, clock: ManualClock) -> None:
    await fill_session(engine, "old")
    await fill_session(engine, "old", namespace="other")  # another namespace: not this policy's
    clock.advance(days=40)
    await fill_session(engine, "fresh")
    before_fresh = await visible(engine, "fresh")
    before_other = await visible(engine, "old", namespace="other")
    policy = RetentionPolicy(NS, max_idle_days=30)

    [preview] = await engine.retain([policy], dry_run=True)
    assert preview.dropped == ["old"] and preview.events_removed > 0 and preview.recorded_at is None
    assert (await visible(engine, "old"))["value"] == {"v": "old"}  # a dry run changes nothing

    [report] = await engine.retain([policy])
    assert report.dropped == ["old"] and report.events_removed == preview.events_removed
    assert report.ranges == preview.ranges
    assert await visible(engine, "old") == {"value": None, "record": False, "events": ["session_expired"]}
    assert (await engine.objects.list_objects(NS, "old")).objects == []
    assert await engine.objects.matching_sessions(NS, "retention") == ["fresh"]
    assert await visible(engine, "fresh") == before_fresh
    assert await visible(engine, "old", namespace="other") == before_other

    [run] = await engine.read_stream(NS, RETENTION_STREAM)
    assert run.type == RETENTION_RUN and run.position == report.recorded_at
    assert run.data["dropped"] == ["old"] and run.data["events_removed"] == report.events_removed
    assert [tuple(r[:2]) for r in run.data["removed"]] == report.ranges
    await clean(engine)

    [again] = await engine.retain([policy])  # nothing left to remove: nothing recorded
    assert again.dropped == [] and again.recorded_at is None
    assert len(await engine.read_stream(NS, RETENTION_STREAM)) == 1


async def test_a_dropped_session_stays_deleted_until_recreated(engine: Engine, clock: ManualClock) -> None:
    await fill_session(engine, "s")
    clock.advance(days=10)
    await engine.retain([RetentionPolicy(NS, max_idle_days=5)])
    with pytest.raises(SessionDeleted):
        await engine.values.set(NS, "s", "k", 2)
    with pytest.raises(SessionDeleted):
        await engine.append(NS, "s", [NewEvent("late", {})])
    await engine.values.set(NS, "s", "k", 3, recreate=True)
    events = [(e.version, e.type) for e in await engine.read_stream(NS, "s")]
    assert events[0][1] == "session_expired" and events[1:] == [
        (events[0][0] + 1, "session_recreated"),
        (events[0][0] + 2, "value_set"),
    ]
    await clean(engine)


async def test_closed_sessions_go_sooner_than_idle_ones(engine: Engine, clock: ManualClock) -> None:
    await fill_session(engine, "closed")
    await fill_session(engine, "open")
    assert await engine.records.delete(NS, "closed")
    clock.advance(days=3)
    [report] = await engine.retain([RetentionPolicy(NS, max_idle_days=30, max_closed_days=2)])
    assert report.dropped == ["closed"]
    assert (await visible(engine, "open"))["value"] == {"v": "open"}
    await clean(engine)


async def test_expired_values_are_purged_and_counted(engine: Engine, clock: ManualClock) -> None:
    await engine.values.set(NS, "s", "short", 1, ttl_seconds=1)
    await engine.values.set(NS, "s", "long", 2)
    clock.advance(seconds=5)
    policy = RetentionPolicy(NS, purge_expired=True)
    [preview] = await engine.retain([policy], dry_run=True)
    assert preview.values_purged == 1
    [report] = await engine.retain([policy])
    assert report.values_purged == 1 and report.events_removed == 0
    [run] = await engine.read_stream(NS, RETENTION_STREAM)
    assert run.data["values_purged"] == 1 and run.data["removed"] == []
    assert (await engine.values.get(NS, "s", "long")) is not None
    await clean(engine)


async def test_retention_with_writers_running_touches_nothing_outside_its_policy(
    engine: Engine, clock: ManualClock
) -> None:
    for n in range(6):
        await fill_session(engine, f"old{n}")
    clock.advance(days=40)
    written: list[str] = []

    async def writer(sid: str) -> None:
        for n in range(15):
            await engine.values.set(NS, sid, "k", {"n": n})
            await engine.append(NS, sid, [NewEvent("noted", {"n": n})])
            written.append(sid)

    async with anyio.create_task_group() as tasks:
        for w in range(4):
            tasks.start_soon(writer, f"live{w}")
        await anyio.sleep(0)
        reports = [await engine.retain([RetentionPolicy(NS, max_idle_days=30)]) for _ in range(3)]
    dropped = sorted(sid for run in reports for report in run for sid in report.dropped)
    assert dropped == [f"old{n}" for n in range(6)]
    for w in range(4):
        state = await visible(engine, f"live{w}")
        assert state["value"] == {"n": 14} and len(state["events"]) == 30
    await clean(engine)


async def test_bad_policies_are_refused() -> None:
    for bad in ({"max_idle_days": 0}, {"max_closed_days": -1}, {"keep_last": 0}, {"max_idle_days": True}):
        with pytest.raises(ValidationFailed):
            RetentionPolicy(NS, **bad)  # type: ignore[arg-type]
    with pytest.raises(ValidationFailed):
        RetentionPolicy("")


async def test_keep_last_keeps_the_current_state_and_time_travel_from_the_cut(
    engine: Engine, clock: ManualClock
) -> None:
    await fill_session(engine, "long")
    for n in range(20):
        clock.advance(seconds=1)
        await engine.values.set(NS, "long", f"k{n % 3}", {"n": n})
    await fill_session(engine, "short")
    last = len(await engine.read_stream(NS, "long"))
    states = {v: await engine.state_as_of(NS, "long", version=v) for v in range(last - 9, last + 1)}
    short_before = await visible(engine, "short")
    values_before = await engine.values.get_all(NS, "long")

    [preview] = await engine.retain([RetentionPolicy(NS, keep_last=10)], dry_run=True)
    assert preview.truncated == {"long": last - 10}
    [report] = await engine.retain([RetentionPolicy(NS, keep_last=10)])
    assert report.truncated == {"long": last - 10} and report.events_removed == last - 10
    assert [e.version for e in await engine.read_stream(NS, "long")] == list(range(last - 9, last + 1))
    for version, state in states.items():  # from the cut on, time travel is exact
        assert await engine.state_as_of(NS, "long", version=version) == state
    with pytest.raises(StateUnavailable):
        await engine.state_as_of(NS, "long", version=last - 11)
    assert await engine.values.get_all(NS, "long") == values_before
    assert await visible(engine, "short") == short_before
    await clean(engine)  # a rebuild starts the shortened session from its snapshot

    await engine.rebuild(live=False)
    assert await engine.values.get_all(NS, "long") == values_before
    assert await engine.records.get(NS, "long") is not None
    await engine.values.set(NS, "long", "k0", "after")  # the session goes on
    [again] = await engine.retain([RetentionPolicy(NS, keep_last=10)])
    assert again.truncated == {"long": last - 9}
    await clean(engine)


async def test_keep_last_never_removes_the_delete_of_a_deleted_session(engine: Engine) -> None:
    await fill_session(engine, "gone")
    assert await engine.records.delete(NS, "gone")
    for _ in range(5):
        await engine.values.delete(NS, "gone", "k")  # removals: recorded in a deleted session
    [report] = await engine.retain([RetentionPolicy(NS, keep_last=2)])
    kept = [e.type for e in await engine.read_stream(NS, "gone")]
    assert "session_record_deleted" in kept and report.truncated["gone"] >= 1
    with pytest.raises(SessionDeleted):
        await engine.values.set(NS, "gone", "k", 1)
    await clean(engine)


async def test_the_chain_accepts_only_the_gaps_a_run_recorded(engine: Engine, clock: ManualClock) -> None:
    for sid in ("a", "b", "c"):
        await fill_session(engine, sid)
    clock.advance(days=10)
    await engine.values.set(NS, "d", "k", 1)
    before = await engine.read(lambda c: [tuple(r) for r in stored_rows(c, engine.backend)])
    [report] = await engine.retain([RetentionPolicy(NS, max_idle_days=5)])
    rows = await engine.read(lambda c: [tuple(r) for r in stored_rows(c, engine.backend)])
    assert check_rows(rows).ok
    first, last = report.ranges[0]
    removed_hash = {int(r[0]): bytes(r[9]) for r in before}[last]
    assert check_rows(rows, at=last).at_hash == removed_hash  # an anchor at a range's end still checks

    kept = [r for r in rows if r[2] != RETENTION_STREAM]
    marker = next(r for r in rows if r[2] == RETENTION_STREAM)
    missing_more = [r for r in rows if r[0] != kept[-1][0]]  # one more event gone, unrecorded
    assert check_rows(missing_more).broken_at == kept[-1][0]
    forged = orjson.loads(marker[6])
    forged["removed"][0][2] = "00" * 32
    tampered = [(*r[:6], orjson.dumps(forged).decode(), *r[7:]) if r is marker else r for r in rows]
    assert not check_rows(tampered).ok
    unrecorded = [r for r in rows if r is not marker]  # the gaps with nothing vouching for them
    assert check_rows(unrecorded).broken_at == first
