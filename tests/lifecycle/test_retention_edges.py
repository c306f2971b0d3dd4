"""What retention left open (issue #22, session 10): a dropped and recreated session shortened by
`keep_last`, exports of a retained log imported elsewhere, idempotency keys of removed events, and
the `$`-system streams no client may write. On SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import io
import zlib
from collections.abc import Callable
from datetime import timedelta

import orjson
import pytest
import sqlalchemy as sa

from session_engine.engine import Engine, ManualClock, NewEvent, ReservedStream, ValidationFailed
from session_engine.engine.catalog import catalog_domain, streams
from session_engine.engine.errors import StateUnavailable
from session_engine.engine.log.gaps import RETENTION_RUN, RETENTION_STREAM
from session_engine.engine.log.records import RecordedEvent
from session_engine.engine.log.schema import snapshots as snapshot_rows
from session_engine.engine.modules import Domain
from session_engine.engine.projections.base import Projection, ProjectionContext
from session_engine.engine.projections.snapshots import digest_of
from session_engine.engine.retention import RetentionPolicy
from session_engine.engine.retention.bases import retention_bases
from tests.lifecycle.test_retention import MESSAGE, NS, clean, fill_session
from tests.records.helpers import record

pytestmark = pytest.mark.anyio


async def test_keep_last_shortens_a_session_recreated_after_retention_dropped_it(
    engine: Engine, clock: ManualClock
) -> None:
    await fill_session(engine, "s")
    clock.advance(days=10)
    [dropped] = await engine.retain([RetentionPolicy(NS, max_idle_days=5)])
    assert dropped.dropped == ["s"]
    await engine.values.set(NS, "s", "k", {"n": -1}, recreate=True)
    for n in range(8):
        await engine.values.set(NS, "s", f"k{n % 3}", {"n": n})
    stream = await engine.read_stream(NS, "s")
    marker, last = stream[0].version, stream[-1].version
    assert stream[0].type == "session_expired"
    empty = await engine.state_as_of(NS, "s", version=marker)  # retention forgot every row there
    assert empty.values == {} and empty.record is None and empty.objects == {}
    assert empty.version == marker
    with pytest.raises(StateUnavailable):  # before the marker: gone with its events
        await engine.state_as_of(NS, "s", version=marker - 1)
    with pytest.raises(StateUnavailable):
        await engine.state_as_of(NS, "s", at=stream[0].recorded_at - timedelta(seconds=1))
    states = {v: await engine.state_as_of(NS, "s", version=v) for v in range(last - 3, last + 1)}
    values = await engine.values.get_all(NS, "s")

    [report] = await engine.retain([RetentionPolicy(NS, keep_last=4)])
    assert report.truncated == {"s": last - 4}
    assert [e.version for e in await engine.read_stream(NS, "s")] == list(range(last - 3, last + 1))
    for version, state in states.items():
        assert await engine.state_as_of(NS, "s", version=version) == state
    assert await engine.values.get_all(NS, "s") == values
    await clean(engine)
    await engine.rebuild(live=False)
    assert await engine.values.get_all(NS, "s") == values
    await clean(engine)


async def test_keep_last_on_a_recreated_session_removes_the_old_incarnation_first(
    engine: Engine, clock: ManualClock
) -> None:
    """A session deleted by its record and recreated: the old incarnation's events are the oldest,
    so `keep_last` takes them first; the state of the new one is unchanged."""
    await fill_session(engine, "s")
    assert await engine.records.delete(NS, "s")
    await engine.append(NS, "s", [NewEvent("noted", {"n": 0})], recreate=True)
    for n in range(1, 4):
        await engine.append(NS, "s", [NewEvent("noted", {"n": n})])
    values = await engine.values.get_all(NS, "s")
    [report] = await engine.retain([RetentionPolicy(NS, keep_last=3)])
    kept = [e.data for e in await engine.read_stream(NS, "s")]
    assert kept == [{"n": 1}, {"n": 2}, {"n": 3}] and report.events_removed > 0
    assert await engine.values.get_all(NS, "s") == values
    await clean(engine)


async def test_no_client_writes_or_deletes_a_system_stream(engine: Engine, clock: ManualClock) -> None:
    """`$retention` and every `$` stream: refused on every write path with `ReservedStream` (a
    `ValidationFailed`), nothing recorded; reads answer; retention itself still records there."""
    await fill_session(engine, "old")
    clock.advance(days=10)
    [report] = await engine.retain([RetentionPolicy(NS, max_idle_days=5)])
    head = await engine.head()
    before = await engine.read_stream(NS, RETENTION_STREAM)
    for stream in (RETENTION_STREAM, "$anything"):
        attempts = [
            engine.append(NS, stream, [NewEvent(RETENTION_RUN, {"removed": []})]),
            engine.append(NS, stream, [NewEvent("noted", {})], recreate=True, idempotency_key="k"),
            engine.values.set(NS, stream, "k", 1),
            engine.values.clear(NS, stream),
            engine.records.set(NS, stream, record(stream)),
            engine.records.delete(NS, stream),
            engine.objects.upload(NS, stream, "doc", {"type": "message", "message": MESSAGE}),
        ]
        for attempt in attempts:
            with pytest.raises(ReservedStream) as refused:
                await attempt
            assert refused.value.code == "reserved_stream" and isinstance(refused.value, ValidationFailed)
    assert await engine.head() == head
    assert await engine.read_stream(NS, RETENTION_STREAM) == before
    assert before[-1].position == report.recorded_at
    await clean(engine)


async def test_erase_refuses_a_system_stream(fresh_url: Callable[[], str], clock: ManualClock) -> None:
    async with Engine.open(fresh_url(), migrate=False, clock=clock, encrypted_namespaces=[NS]) as engine:
        await fill_session(engine, "old")
        clock.advance(days=10)
        await engine.retain([RetentionPolicy(NS, max_idle_days=5)])
        head = await engine.head()
        with pytest.raises(ReservedStream):
            await engine.erase(NS, RETENTION_STREAM)
        assert await engine.head() == head
        await clean(engine)  # the `$retention` record is never sealed: it vouches in the clear


notes_metadata = sa.MetaData()
notes = sa.Table(
    "test_notes",
    notes_metadata,
    sa.Column("namespace", sa.String(200), primary_key=True),
    sa.Column("stream", sa.String(200), primary_key=True),
    sa.Column("text", sa.Text, nullable=False),
)
"""A read model keyed by (namespace, stream), not session_id, holding a payload's text."""
notes_projection = Projection("test_notes", [notes])


@notes_projection.on("noted")
def _note(context: ProjectionContext, event: RecordedEvent) -> None:
    context.connection.execute(
        notes.delete().where(notes.c.namespace == event.namespace, notes.c.stream == event.stream)
    )
    context.connection.execute(
        notes.insert().values(namespace=event.namespace, stream=event.stream, text=str(event.data))
    )


async def test_erasure_forgets_what_each_projection_says_a_session_left(
    fresh_url: Callable[[], str], clock: ManualClock
) -> None:
    """Erasure follows the rule retention follows, `Projection.forget_session`: a read model keyed
    by (namespace, stream) loses the erased session's plaintext; a projection built from headers
    alone (the streams catalog) keeps its row, which a rebuild makes again; verify is clean."""
    domains = [catalog_domain, Domain("test_notes", projections=[notes_projection])]
    async with Engine.open(
        fresh_url(), migrate=False, clock=clock, encrypted_namespaces=[NS], extra_domains=domains
    ) as engine:
        for sid in ("s", "kept"):
            await fill_session(engine, sid)

        async def stored(table: sa.Table) -> list[str]:
            found = await engine.read(lambda c: c.execute(sa.select(table.c.stream)).scalars().all())
            return sorted(str(stream) for stream in found)

        assert await stored(notes) == ["kept", "s"]
        erased = await engine.erase(NS, "s")
        assert erased.rows_removed > 0
        assert await stored(notes) == ["kept"]  # its plaintext gone from a read model keyed by stream
        assert await stored(streams) == ["kept", "s"]  # headers only: kept, as a rebuild makes it
        assert (await engine.verify_chain()).ok
        assert await engine.verify() == []


async def test_a_retried_write_whose_events_retention_removed_is_not_applied_twice(
    engine: Engine, clock: ManualClock
) -> None:
    first = await engine.append(
        NS, "cut", [NewEvent("noted", {"n": 0}), NewEvent("noted", {"n": 1})], idempotency_key="k"
    )
    for n in range(2, 6):
        await engine.append(NS, "cut", [NewEvent("noted", {"n": n})])
    await fill_session(engine, "gone")
    await engine.append(NS, "gone", [NewEvent("noted", {})], idempotency_key="g")
    gone = (await engine.read_stream(NS, "gone"))[-1]
    clock.advance(days=10)
    await engine.append(NS, "cut", [NewEvent("noted", {"n": 6})])
    [report] = await engine.retain([RetentionPolicy(NS, max_idle_days=5, keep_last=3)])
    assert report.dropped == ["gone"] and report.truncated["cut"] >= first.last_version
    head = await engine.head()

    again = await engine.append(NS, "cut", [NewEvent("noted", {"n": 0})], idempotency_key="k")
    assert again.repeated and (again.first_version, again.last_version) == (
        first.first_version,
        first.last_version,
    )
    assert (again.first_position, again.last_position) == (first.first_position, first.last_position)
    retried = await engine.append(NS, "gone", [NewEvent("noted", {})], idempotency_key="g")
    assert retried.repeated and retried.first_version == gone.version
    assert await engine.head() == head  # nothing applied twice
    [run] = await engine.read_stream(NS, RETENTION_STREAM)
    assert sorted(entry[:2] for entry in run.data["keys"]) == [["cut", "k"], ["gone", "g"]]
    fresh = await engine.append(NS, "cut", [NewEvent("noted", {})], idempotency_key="new")
    assert not fresh.repeated
    await clean(engine)


async def retained_export(engine: Engine, clock: ManualClock) -> list[bytes]:
    """A log with every kind of removal: a session dropped, one dropped and recreated, one cut by
    `keep_last` (a retention base), a removed keyed append; exported whole."""
    await fill_session(engine, "dropped")
    await fill_session(engine, "again")
    await engine.append(NS, "cut", [NewEvent("noted", {"n": 0})], idempotency_key="k")
    for n in range(1, 8):
        await engine.values.set(NS, "cut", f"k{n % 3}", {"n": n})
    clock.advance(days=10)
    await engine.values.set(NS, "cut", "k0", "fresh")
    await engine.retain([RetentionPolicy(NS, max_idle_days=5)])
    await engine.values.set(NS, "again", "k", "back", recreate=True)
    await engine.retain([RetentionPolicy(NS, keep_last=4)])
    await fill_session(engine, "whole")
    out = io.BytesIO()
    await engine.export(out)
    return out.getvalue().splitlines()


async def test_an_export_of_a_retained_log_imports_and_verifies_clean(
    engine: Engine, clock: ManualClock, fresh_url: Callable[[], str]
) -> None:
    lines = await retained_export(engine, clock)
    assert any(b'"retention_base"' in line for line in lines)
    sessions = ("dropped", "again", "cut", "whole")
    before = {sid: await engine.values.get_all(NS, sid) for sid in sessions}
    states = {
        sid: await engine.state_as_of(NS, sid, version=(await engine.read_stream(NS, sid))[-1].version)
        for sid in sessions
    }
    head = await engine.verify_chain()
    async with Engine.open(fresh_url(), migrate=False, clock=clock) as target:
        assert await target.import_(lines) == sum(1 for line in lines if b'"retention_base"' not in line)
        checked = await target.verify_chain()
        assert checked.ok and (checked.head, checked.head_hash) == (head.head, head.head_hash)
        assert await target.verify() == []
        assert await target.verify_snapshots() == []
        for sid in sessions:
            assert await target.values.get_all(NS, sid) == before[sid]
            last = (await target.read_stream(NS, sid))[-1].version
            assert await target.state_as_of(NS, sid, version=last) == states[sid]
        retried = await target.append(NS, "cut", [NewEvent("noted", {"n": 0})], idempotency_key="k")
        assert retried.repeated  # the removed append's key travelled in its run's record
        out = io.BytesIO()
        await target.export(out)
        assert out.getvalue().splitlines() == lines  # the same file again


async def test_an_import_refuses_a_gap_no_run_vouches_for(
    engine: Engine, clock: ManualClock, fresh_url: Callable[[], str]
) -> None:
    lines = await retained_export(engine, clock)
    records = [orjson.loads(line) for line in lines]
    events = [(i, r) for i, r in enumerate(records) if "retention_base" not in r]
    whole = [i for i, r in events if r["stream"] == "whole"]
    run = next(i for i, r in events if r["stream"] == RETENTION_STREAM)
    base = next(i for i, r in enumerate(records) if "retention_base" in r)

    def without(index: int) -> list[bytes]:
        return [line for i, line in enumerate(lines) if i != index]

    forged_run = orjson.loads(lines[run])
    forged_run["data"]["removed"][0][2] = "00" * 32
    forged_base = orjson.loads(lines[base])
    fields = forged_base["retention_base"]
    tables = zlib.compress(b"another state")  # a made-up state, its own digest made to match
    fields["tables"] = base64.b64encode(tables).decode()
    fields["digest"] = digest_of(
        fields["namespace"],
        fields["stream"],
        fields["fingerprint"],
        fields["version"],
        fields["position"],
        bytes.fromhex(fields["event_hash"]),
        tables,
        None if fields["state"] is None else base64.b64decode(fields["state"]),
    ).hex()
    cases = [
        (without(whole[1]), "missing"),  # a removed event no run vouches for (a forged gap)
        (without(run), "missing"),  # the record that vouches for the gaps left out
        ([*lines[:run], orjson.dumps(forged_run), *lines[run + 1 :]], "no retention run records"),
        (without(base), "no retention base"),
        ([*lines[:base], orjson.dumps(forged_base), *lines[base + 1 :]], "digest its retention run recorded"),
    ]
    async with Engine.open(fresh_url(), migrate=False, clock=clock) as target:
        for bad, reason in cases:
            with pytest.raises(ValidationFailed, match=reason):
                await target.import_(bad)
            assert await target.head() == 0 and (await target.status())["events"] == 0
        assert await target.import_(lines) > 0


async def test_verify_snapshots_reports_a_retention_base_its_run_did_not_record(
    engine: Engine, clock: ManualClock
) -> None:
    await retained_export(engine, clock)
    assert await engine.verify_snapshots() == []
    [base] = await engine.read(lambda c: [s for s in retention_bases(c) if s.stream == "cut"])
    tables = zlib.compress(b"another state")
    digest = digest_of(
        NS, "cut", base.fingerprint, base.version, base.position, base.event_hash, tables, base.state
    )

    def forge(connection: sa.Connection) -> None:
        with connection.begin():
            connection.execute(
                snapshot_rows.update()
                .where(snapshot_rows.c.stream == "cut", snapshot_rows.c.version == base.version)
                .values(tables=tables, digest=digest)
            )

    await engine.read(forge)
    [problem] = await engine.verify_snapshots()
    assert problem.session == "cut" and "did not record" in problem.reason
