"""The event log contract, on SQLite and on PostgreSQL: versions, conflicts, idempotency, reads."""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Callable
from datetime import timedelta

import anyio
import pytest
import sqlalchemy as sa

from session_engine.engine import (
    ANY,
    NO_STREAM,
    Engine,
    ManualClock,
    Metadata,
    NewEvent,
    ValidationFailed,
    WrongExpectedVersion,
)
from session_engine.engine.backends.sqlite_converters import stream_rows
from session_engine.engine.catalog import catalog_domain, streams
from session_engine.engine.log import reads
from session_engine.engine.log.records import RecordedEvent

pytestmark = pytest.mark.anyio


def ev(kind: str = "noted", **data: object) -> NewEvent:
    return NewEvent(kind, dict(data))


async def test_versions_and_positions_start_at_one_and_have_no_gaps(engine: Engine) -> None:
    first = await engine.append("ns", "a", [ev(n=1), ev(n=2)])
    second = await engine.append("ns", "b", [ev(n=3)])
    third = await engine.append("ns", "a", [ev(n=4)])
    assert (first.first_version, first.last_version, first.first_position, first.last_position) == (
        1,
        2,
        1,
        2,
    )
    assert (second.first_version, second.first_position) == (1, 3)
    assert (third.first_version, third.first_position) == (3, 4)
    log = await engine.read_all(after=0)
    assert [e.position for e in log] == [1, 2, 3, 4]
    assert [(e.stream, e.version) for e in log] == [("a", 1), ("a", 2), ("b", 1), ("a", 3)]


async def test_expected_version_no_stream(engine: Engine) -> None:
    await engine.append("ns", "s", [ev()], expected_version=NO_STREAM)
    with pytest.raises(WrongExpectedVersion) as raised:
        await engine.append("ns", "s", [ev()], expected_version=NO_STREAM)
    assert (raised.value.expected, raised.value.actual) == (0, 1)


async def test_expected_version_exact_and_stale(engine: Engine) -> None:
    await engine.append("ns", "s", [ev(), ev()])
    await engine.append("ns", "s", [ev()], expected_version=2)
    with pytest.raises(WrongExpectedVersion) as raised:
        await engine.append("ns", "s", [ev()], expected_version=2)
    assert raised.value.actual == 3
    with pytest.raises(WrongExpectedVersion):
        await engine.append("ns", "other", [ev()], expected_version=5)
    # a refused append writes nothing
    assert [e.version for e in await engine.read_stream("ns", "s")] == [1, 2, 3]
    assert await engine.read_stream("ns", "other") == []


async def test_namespaces_separate_streams(engine: Engine) -> None:
    await engine.append("one", "s", [ev()], expected_version=NO_STREAM)
    await engine.append("two", "s", [ev()], expected_version=NO_STREAM)
    assert len(await engine.read_stream("one", "s")) == 1
    assert len(await engine.read_stream("two", "s")) == 1


async def test_idempotency_key_repeat_returns_first_result_and_appends_nothing(engine: Engine) -> None:
    first = await engine.append("ns", "s", [ev(n=1), ev(n=2)], idempotency_key="k")
    await engine.append("ns", "s", [ev(n=3)])
    again = await engine.append("ns", "s", [ev(n=9)], idempotency_key="k", expected_version=NO_STREAM)
    assert again.repeated and not first.repeated
    assert (again.first_position, again.last_position) == (first.first_position, first.last_position)
    assert (again.first_version, again.last_version) == (1, 2)
    assert [e.data["n"] for e in await engine.read_stream("ns", "s")] == [1, 2, 3]


async def test_a_many_event_append_round_trips_every_field(engine: Engine, clock: ManualClock) -> None:
    """Enough events for one append to be written as a bulk COPY on PostgreSQL: every field comes
    back as it went in, the first event carries the key, and a repeat appends nothing."""
    odd = {"nul": "a\u0000b", "emoji": "\U0001f600", "quote": "\"'\\", "big": 2**62, "f": 0.1, "none": None}
    events = [NewEvent(f"kind{i % 3}", {**odd, "i": i}, metadata={"n": i}) for i in range(12)]
    meta = Metadata(actor="ünïcode", adapter="test", correlation_id="c" * 200)
    first = await engine.append("ns", "s" * 200, events, idempotency_key="k" * 200, metadata=meta)
    stored = await engine.read_stream("ns", "s" * 200)
    assert [(e.type, e.data, e.version, e.position) for e in stored] == [
        (f"kind{i % 3}", {**odd, "i": i}, i + 1, i + 1) for i in range(12)
    ]
    assert all(e.recorded_at == clock.now() for e in stored)
    assert stored[0].metadata["idempotency_key"] == "k" * 200 and stored[0].metadata["append_size"] == 12
    assert [e.metadata["n"] for e in stored] == list(range(12))
    assert all(e.metadata["actor"] == "ünïcode" for e in stored)
    again = await engine.append("ns", "s" * 200, events[:1], idempotency_key="k" * 200, metadata=meta)
    assert again.repeated and (again.first_position, again.last_position) == (first.first_position, 12)
    assert await engine.head() == 12


async def test_idempotency_keys_are_per_stream(engine: Engine) -> None:
    a = await engine.append("ns", "a", [ev()], idempotency_key="k")
    b = await engine.append("ns", "b", [ev()], idempotency_key="k")
    assert not b.repeated and b.first_position != a.first_position


async def test_idempotency_keys_are_stored_as_given_and_absent_ones_as_null(engine: Engine) -> None:
    await engine.append("ns", "s", [ev(), ev()], idempotency_key="0")
    await engine.append("ns", "s", [ev()])
    stored = sa.text("SELECT idempotency_key FROM events ORDER BY position")
    keys = await engine.read(lambda c: [row[0] for row in c.execute(stored)])
    assert keys == ["0", None, None]
    assert (await engine.append("ns", "s", [ev()], idempotency_key="0")).repeated


@pytest.mark.parametrize("key", ["", "k" * 201, "a\x00b", 7], ids=["empty", "long", "NUL", "not a string"])
async def test_a_malformed_idempotency_key_is_refused(engine: Engine, key: object) -> None:
    with pytest.raises(ValidationFailed):
        await engine.append("ns", "s", [ev()], idempotency_key=key)  # type: ignore[arg-type]
    assert await engine.head() == 0
    assert (await engine.append("ns", "s", [ev()])).first_position == 1


async def test_concurrent_repeats_of_one_key_append_once(engine: Engine) -> None:
    results = []

    async def send() -> None:
        results.append(await engine.append("ns", "s", [ev()], idempotency_key="same"))

    async with anyio.create_task_group() as tasks:
        for _ in range(10):
            tasks.start_soon(send)
    assert len(await engine.read_stream("ns", "s")) == 1
    assert sum(not r.repeated for r in results) == 1
    assert {r.first_position for r in results} == {1}


async def test_metadata_and_clock_are_recorded(engine: Engine, clock: ManualClock) -> None:
    clock.advance(3600)
    meta = Metadata(actor="alice", adapter="test", correlation_id="c1", causation_id="c0")
    await engine.append("ns", "s", [NewEvent("noted", {"x": 1}, metadata={"extra": True})], metadata=meta)
    [event] = await engine.read_stream("ns", "s")
    assert event.recorded_at == clock.now()
    assert event.metadata == {
        "actor": "alice",
        "adapter": "test",
        "correlation_id": "c1",
        "causation_id": "c0",
        "extra": True,
    }


async def test_recorded_at_never_decreases_even_if_the_clock_does(engine: Engine, clock: ManualClock) -> None:
    await engine.append("ns", "s", [ev()])
    clock.advance(-60)
    await engine.append("ns", "s", [ev()])
    first, second = await engine.read_stream("ns", "s")
    assert second.recorded_at >= first.recorded_at


async def test_read_all_pages_by_position(engine: Engine) -> None:
    for i in range(25):
        await engine.append("ns", f"s{i % 3}", [ev(i=i)])
    seen: list[int] = []
    after = 0
    while page := await engine.read_all(after=after, limit=7):
        seen.extend(e.position for e in page)
        after = page[-1].position
    assert seen == list(range(1, 26))
    only = await engine.read_all(after=0, stream="s1")
    assert [e.data["i"] for e in only] == [1, 4, 7, 10, 13, 16, 19, 22]


async def test_read_stream_cutoffs(engine: Engine, clock: ManualClock) -> None:
    for i in range(5):
        await engine.append("ns", "s", [ev(i=i)])
        clock.advance(10)
    assert [e.version for e in await engine.read_stream("ns", "s", to_version=3)] == [1, 2, 3]
    assert [e.version for e in await engine.read_stream("ns", "s", from_version=4)] == [4, 5]
    third = (await engine.read_stream("ns", "s"))[2]
    until = await engine.read_stream("ns", "s", until=third.recorded_at + timedelta(seconds=1))
    assert [e.version for e in until] == [1, 2, 3]


async def test_read_stream_agrees_with_the_log_under_every_cutoff(engine: Engine, clock: ManualClock) -> None:
    """A stream's read (its own row shape and decode) gives the events the log's pages give, for
    random cut-offs, orders, limits and types; metadata, schema versions and instants included."""
    for n in range(12):
        kind = "noted" if n % 3 else "other"
        meta = {} if n % 2 else {"n": n, "why": "é\x00"}
        await engine.append(
            "ns", "s", [NewEvent(kind, {"n": n, "k": i}, metadata=meta) for i in range(n % 3 + 1)]
        )
        await engine.append("ns", "other", [ev(n=n)])
        clock.advance(1 + n % 2)
    log = await engine.read_all(namespace="ns", stream="s")
    assert len(log) == 24
    chosen = random.Random(21)
    for _ in range(60):
        low, high = sorted(chosen.sample(range(0, 27), 2))
        cut = chosen.choice(log)
        cutoff = {
            "to_version": chosen.choice([None, high]),
            "to_position": chosen.choice([None, cut.position]),
            "until": chosen.choice([None, cut.recorded_at]),
            "types": chosen.choice([None, [], ["noted"], ["other", "x"]]),
            "descending": chosen.random() < 0.5,
        }
        limit = chosen.choice([None, 0, 1, 5])
        expected = [
            e
            for e in log
            if e.version >= low
            and (cutoff["to_version"] is None or e.version <= high)
            and (cutoff["to_position"] is None or e.position <= cut.position)
            and (cutoff["until"] is None or e.recorded_at <= cut.recorded_at)
            and (cutoff["types"] is None or e.type in cutoff["types"])
        ]
        if cutoff["descending"]:
            expected.reverse()
        if limit is not None:
            expected = expected[:limit]
        found = await engine.read_stream("ns", "s", from_version=low, limit=limit, **cutoff)
        assert found == expected, (low, limit, cutoff)


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_a_whole_stream_read_as_columns_falls_back_to_rows_when_they_cannot_hold_it(
    engine: Engine, clock: ManualClock
) -> None:
    """SQLite reads a whole stream as one row of columns (`sqlite_converters.STREAM_COLUMNS`); a
    column longer than SQLite's longest string, or a type holding the columns' separator, is read
    row by row instead: the same events either way."""
    for n in range(6):
        await engine.append("ns", "s", [ev("odd\x1ftype" if n == 4 else "noted", n=n, text="x" * 300)])
        clock.advance(1)
    log = await engine.read_all(namespace="ns", stream="s")
    assert await engine.read_stream("ns", "s") == log  # the separator in a type

    def with_strings_at_most(length: int) -> Callable[[sa.Connection], list[RecordedEvent]]:
        def read(connection: sa.Connection) -> list[RecordedEvent]:
            driver = connection.connection.driver_connection
            before = driver.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, length)
            try:
                return reads.read_stream(connection, engine.backend, engine.registry, "ns", "t", alone=True)
            finally:
                driver.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, before)

        return read

    await engine.append("ns", "t", [ev(n=n, text="y" * 300) for n in range(6)])
    whole = await engine.read_all(namespace="ns", stream="t")
    assert await engine.read(with_strings_at_most(1000)) == whole  # a column too long: rows
    assert await engine.read(with_strings_at_most(10**6)) == whole


def test_a_stream_read_as_columns_is_put_in_version_order() -> None:
    """An aggregate's order is SQLite's to choose: the rows come out in version order whatever it was."""
    rows = [(9 + v, v, f"t{v}", 1, {"v": v}, {}, f"2026-01-0{v} 00:00:00") for v in (3, 1, 2)]
    columns = [list(column) for column in zip(*rows, strict=True)]
    columns[2] = "\x1f".join(columns[2])  # type: ignore[call-overload]
    columns[6] = "\x1f".join(columns[6])  # type: ignore[call-overload]
    assert list(stream_rows(tuple(columns)) or ()) == sorted(rows, key=lambda row: row[1])
    assert stream_rows((None,) * 7) == []


@pytest.mark.parametrize("backend", [pytest.param("postgres", marks=pytest.mark.postgres)])
async def test_reads_carry_on_after_the_server_drops_a_reader_connection(database_url: str) -> None:
    """A pooled read connection whose server process was terminated is replaced at checkout, not
    handed to the read (which would fail): the pool looks at its socket instead of a ping."""
    async with Engine.open(database_url, migrate=False) as engine:
        await engine.append("ns", "s", [ev(n=1), ev(n=2)])
        pid = await engine.read(lambda c: c.exec_driver_sql("SELECT pg_backend_pid()").scalar())
        admin = sa.create_engine(engine.url, poolclass=sa.NullPool)
        with admin.connect() as connection:
            assert connection.exec_driver_sql(f"SELECT pg_terminate_backend({int(pid)}, 5000)").scalar()
        admin.dispose()
        assert [e.data["n"] for e in await engine.read_stream("ns", "s")] == [1, 2]
        assert await engine.read(lambda c: c.exec_driver_sql("SELECT pg_backend_pid()").scalar()) != pid


async def test_empty_append_is_refused(engine: Engine) -> None:
    with pytest.raises(ValidationFailed):
        await engine.append("ns", "s", [])


async def test_status_counts_the_log(engine: Engine) -> None:
    await engine.append("ns", "a", [ev(), ev()])
    await engine.append("ns", "b", [ev()])
    status = await engine.status()
    assert (status["head"], status["events"], status["streams"]) == (3, 3, 2)
    assert status["projections"]["values"]["position"] == 3
    assert "streams" not in status["projections"]  # the catalog is opt-in


async def test_the_opt_in_catalog_is_built_from_the_existing_log(
    database_url: str, clock: ManualClock
) -> None:
    async with Engine.open(database_url, migrate=False, clock=clock) as engine:
        await engine.append("ns", "a", [ev(), ev()])
        clock.advance(5)
        await engine.append("ns", "b", [ev()])
    async with Engine.open(
        database_url, migrate=False, clock=clock, extra_domains=[catalog_domain]
    ) as engine:
        await engine.append("ns", "a", [ev()])
        rows = await engine.read(lambda c: c.execute(sa.select(streams).order_by(streams.c.stream)).all())
        assert [(r.stream, r.version, r.first_position, r.last_position) for r in rows] == [
            ("a", 3, 1, 4),
            ("b", 1, 3, 3),
        ]
        assert (await engine.status())["projections"]["streams"]["position"] == 4
        assert await engine.verify() == []


async def test_writes_survive_a_restart(database_url: str) -> None:
    async with Engine.open(database_url, migrate=False) as engine:
        await engine.append("ns", "s", [ev(n=1)], expected_version=ANY)
    async with Engine.open(database_url, migrate=False) as engine:
        await engine.append("ns", "s", [ev(n=2)], expected_version=1)
        assert [e.data["n"] for e in await engine.read_stream("ns", "s")] == [1, 2]


async def test_json_is_stored_verbatim_on_every_backend(engine: Engine) -> None:
    data = {"text": 'nul \x00 inside, emoji \U0001f600, quote " and \\\\', "n": 1.5, "none": None}
    await engine.append("ns", "s", [NewEvent("noted", data)])
    [event] = await engine.read_stream("ns", "s")
    assert event.data == data


@pytest.mark.parametrize("stream", ["", "x" * 201, "nul\x00"])
async def test_bad_stream_ids_are_refused(engine: Engine, stream: str) -> None:
    with pytest.raises(ValidationFailed):
        await engine.append("ns", stream, [ev()])
    assert await engine.head() == 0


async def test_data_that_is_not_valid_json_text_is_refused(engine: Engine) -> None:
    with pytest.raises(ValidationFailed, match="not valid JSON text"):
        await engine.append("ns", "s", [ev(text="lone \ud800 surrogate")])
    assert await engine.head() == 0
