"""The shared suite every event-log backend class passes: run it against your own `Backend`.

As pyeventsourcing runs one recorder test case per database: each test takes a backend class and
a fresh, migrated database of its kind, and checks one promise of `Backend`
(engine/backends/base.py) directly, below the engine: the log lock, the events insert (PostgreSQL's
COPY included), the log's page reads, statements prepared for the driver, stored forms, bulk
writes, upserts, extra DDL, scratch copies, snapshots, code-point order, pipelines and
notifications. SQLite and PostgreSQL pass it (tests/test_backend_conformance.py).

A new backend runs it from a test module of its own that provides two fixtures:

    from session_engine.adapters.conformance.backend import *  # noqa: F403 - the suite's tests

    @pytest.fixture
    def backend_class() -> type[Backend]:
        return MyBackend                      # Backend.for_url must pick it for the URL below

    @pytest.fixture
    def database_url() -> str:
        return fresh_migrated_database()      # an empty database, `session_engine.migrate(url)` run

(`pytest` must be installed; specs/conformance.md.)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa

from session_engine.engine.backends import (
    Backend,
    DialectDDL,
    Prepared,
)
from session_engine.engine.backends.base import json_text
from session_engine.engine.events import EventRegistry
from session_engine.engine.log import reads
from session_engine.engine.log.schema import Json, UtcDateTime, events
from session_engine.engine.projections.base import Bulk, ProjectionContext

NOW = datetime(2026, 12, 4, 18, 30, 15, 123456, tzinfo=UTC)


@pytest.fixture
def subject(backend_class: type[Backend], database_url: str) -> Backend:
    found = Backend.for_url(database_url, durability="off")
    assert type(found) is backend_class
    return found


@pytest.fixture
def writer(subject: Backend) -> Iterator[sa.Engine]:
    engine = subject.create_engine(writer=True)
    yield engine
    engine.dispose()


@pytest.fixture
def reader(subject: Backend) -> Iterator[sa.Engine]:
    engine = subject.create_engine(writer=False)
    yield engine
    engine.dispose()


def row(
    backend: Backend, position: int, *, stream: str = "s", version: int | None = None, **more: Any
) -> tuple[Any, ...]:
    """An event row in `EVENT_COLUMNS` order, in its stored form."""
    return (
        position,
        more.get("namespace", "ns"),
        stream,
        position if version is None else version,
        more.get("type", "noted"),
        1,
        json_text(more.get("data", {"n": position})),
        "{}",
        more.get("key", backend.no_idempotency_key),
        backend.stored_instant(more.get("at", NOW)),
        more.get("hash", bytes(32)),  # below the engine: no chain is kept here
        more.get("sealed"),
    )


def append(backend: Backend, engine: sa.Engine, rows: list[tuple[Any, ...]]) -> None:
    with engine.connect() as connection:
        connection.begin()
        backend.lock_and_read_head(connection)
        if not backend.copy_events(connection, rows):
            backend.insert_events(connection, rows)
        connection.commit()


def test_for_url_picks_the_class_of_the_url(subject: Backend, backend_class: type[Backend]) -> None:
    assert subject.name == backend_class.name
    assert type(Backend.for_url(subject.url)) is backend_class


def test_the_log_lock_holds_a_second_writer_until_the_first_commits(
    subject: Backend, writer: sa.Engine
) -> None:
    """Positions are taken under the lock: a second writer reads the head only after the first
    writer's commit, so it never computes the same next position."""
    other = subject.create_engine(writer=True)
    seen: list[tuple[int, float]] = []

    def second() -> None:
        with other.connect() as connection:
            connection.begin()
            seen.append((subject.lock_and_read_head(connection), time.monotonic()))
            connection.rollback()

    try:
        with writer.connect() as connection:
            connection.begin()
            assert subject.lock_and_read_head(connection) == 0
            subject.insert_events(connection, [row(subject, 1)])
            thread = threading.Thread(target=second)
            thread.start()
            time.sleep(0.5)
            assert seen == []  # still waiting for the lock
            committed = time.monotonic()
            connection.commit()
        thread.join(timeout=30)
    finally:
        other.dispose()
    assert len(seen) == 1
    head, at = seen[0]
    assert head == 1 and at >= committed


@pytest.mark.parametrize("count", [1, 7, 8, 40])
def test_events_read_back_as_inserted_whichever_way_they_went_in(
    subject: Backend, writer: sa.Engine, count: int
) -> None:
    """Small batches go through `insert_events`, large ones maybe through `copy_events` (PostgreSQL):
    every column reads back the same either way, the idempotency key NULL unless given."""
    rows = [
        row(subject, n, stream=f"s{n % 3}", version=(n + 2) // 3, data={"n": n, "t": "é\x00"})
        for n in range(1, count + 1)
    ]
    rows[0] = row(subject, 1, stream="s1", version=1, key="k-1", data={"n": 1, "t": "é\x00"})
    append(subject, writer, rows)
    registry = EventRegistry()
    with writer.connect() as connection:
        logged = reads.LogRows(subject.read_log(connection, after=0, limit=1000), registry).events()
        keys = (
            connection.execute(sa.select(events.c.idempotency_key).order_by(events.c.position))
            .scalars()
            .all()
        )
    assert [(e.position, e.stream, e.version, e.data, e.metadata, e.recorded_at) for e in logged] == [
        (r[0], r[2], r[3], {"n": r[0], "t": "é\x00"}, {}, NOW) for r in rows
    ]
    assert keys == ["k-1"] + [None] * (count - 1)


@pytest.mark.parametrize("count", [1, 8])
def test_sealed_bytes_read_back_as_inserted_on_every_log_read(
    subject: Backend, writer: sa.Engine, count: int
) -> None:
    """The `sealed` column (engine/log/sealing.py) takes any bytes (NUL and high bytes included)
    through `insert_events` and `copy_events`, and every driver read of the log gives them back as
    bytes: pages (with payloads asked for or not), stream reads and the chain's rows."""
    blobs = {n: b"\x01" + bytes(range(256)) * n for n in range(1, count + 1) if n % 2}
    rows = [
        row(subject, n, data={"$enc": None} if n in blobs else {"n": n}, sealed=blobs.get(n))
        for n in range(1, count + 1)
    ]
    append(subject, writer, rows)
    with writer.connect() as connection:
        logged = subject.read_log(connection, after=0, limit=100)
        everything = subject.read_log_page(
            connection, after=0, upto=count, limit=100, types=None, payloads=None
        )
        headers = subject.read_log_page(connection, after=0, upto=count, limit=100, types=None, payloads=[])
        streamed = subject.read_stream_rows(
            connection,
            "ns",
            "s",
            from_version=1,
            to_version=None,
            to_position=None,
            until=None,
            types=None,
            limit=None,
            descending=False,
        )
        chained = subject.read_chain(connection, after=0, limit=100)
        payloads = subject.sealed_payloads(connection, "ns", "s", 1, count)
    expected = [blobs.get(n) for n in range(1, count + 1)]
    for found in (logged, everything):
        assert [None if r[9] is None else bytes(r[9]) for r in found] == expected
    # A stream's rows leave `sealed` out (its `data` says so); its bytes come by version. The
    # documents come as JSON text, or decoded where the driver decodes them (SQLite).
    assert [r[4] if isinstance(r[4], dict) else orjson.loads(r[4]) for r in streamed] == [
        orjson.loads(r[6]) for r in rows
    ]
    assert payloads == {n: blob for n, blob in blobs.items()}
    assert [None if r[10] is None else bytes(r[10]) for r in chained] == expected
    assert [r[9] for r in headers] == [None] * count


def test_log_pages_filter_and_fetch_only_the_payloads_asked_for(subject: Backend, writer: sa.Engine) -> None:
    kinds = ["a", "b", "c"]
    append(
        subject,
        writer,
        [row(subject, n, stream=f"s{n % 2}", version=(n + 1) // 2, type=kinds[n % 3]) for n in range(1, 13)],
    )
    with writer.connect() as connection:
        some = subject.read_log(connection, after=2, limit=5, upto=11, stream="s1", types=["a", "b"])
        page = subject.read_log_page(connection, after=0, upto=9, limit=4, types=["b", "c"], payloads=["c"])
        headers = subject.read_log_page(connection, after=0, upto=3, limit=10, types=None, payloads=[])
    assert [(r[0], r[4]) for r in some] == [(3, "a"), (7, "b"), (9, "a")]
    assert [(r[0], r[4]) for r in page] == [(1, "b"), (2, "c"), (4, "b"), (5, "c")]
    assert [(r[6] is None, r[7] is None) for r in page] == [
        (True, True),
        (False, False),
        (True, True),
        (False, False),
    ]
    assert [(r[0], r[6], r[7]) for r in headers] == [(1, None, None), (2, None, None), (3, None, None)]


def test_prepared_statements_read_what_sqlalchemy_reads(subject: Backend, writer: sa.Engine) -> None:
    """A `Prepared` statement runs on the driver and gives the values the column types give
    through SQLAlchemy: instants aware, JSON decoded, fixed values (LIMIT, LIKE) bound."""
    append(
        subject,
        writer,
        [
            row(
                subject,
                n,
                stream="s_%" if n % 2 else "sx",
                version=(n + 1) // 2,
                at=NOW + timedelta(seconds=n),
            )
            for n in range(1, 9)
        ],
    )
    statement = (
        sa.select(events.c.position, events.c.stream, events.c.data, events.c.recorded_at)
        .where(
            events.c.stream.startswith("s_%", autoescape=True),
            events.c.recorded_at <= sa.bindparam("until", type_=UtcDateTime),
            events.c.position > sa.bindparam("after"),
        )
        .order_by(events.c.position)
        .limit(3)
    )
    params = {"until": NOW + timedelta(seconds=7), "after": 1}
    with writer.connect() as connection:
        prepared = subject.rows(connection, Prepared(statement), params)
        core = connection.execute(statement, params).all()
        through_core = subject.rows(connection, statement, params)
    assert [tuple(r) for r in core] == [
        (3, "s_%", {"n": 3}, NOW + timedelta(seconds=3)),
        (5, "s_%", {"n": 5}, NOW + timedelta(seconds=5)),
        (7, "s_%", {"n": 7}, NOW + timedelta(seconds=7)),
    ]
    assert list(prepared) == [tuple(r) for r in core] == [tuple(r) for r in through_core]
    assert type(prepared) is list  # the driver's own list: nothing wrapped on the hot path
    assert (
        through_core.first() == core[0] and through_core.scalar() == 3 and through_core.scalars() == [3, 5, 7]
    )
    with writer.connect() as connection:  # nothing to convert: the driver's rows as they are
        counted = Prepared(sa.select(sa.func.count()).select_from(events))
        assert subject.rows(connection, counted) == subject.rows(connection, counted) == [(8,)]


def test_prepared_statements_take_no_in_lists(subject: Backend) -> None:
    with pytest.raises(TypeError, match="IN list"):
        subject.compile(Prepared(sa.select(events.c.position).where(events.c.stream.in_(["a", "b"]))))


_probe_metadata = sa.MetaData()
probe = sa.Table(
    "backend_probe",
    _probe_metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(50), nullable=False),
    sa.Column("score", sa.Double, nullable=True),
    sa.Column("doc", Json, nullable=True),
    sa.Column("at", UtcDateTime, nullable=True),
)


def _probe_rows(engine: sa.Engine) -> list[tuple[Any, ...]]:
    with engine.connect() as connection:
        return [tuple(r) for r in connection.execute(sa.select(probe).order_by(probe.c.id))]


def test_bulk_writes_insert_upsert_and_delete_in_stored_form(subject: Backend, writer: sa.Engine) -> None:
    """A `Bulk` is an executemany on SQLite and one statement over arrays on PostgreSQL; the rows
    are the same either way (an integer in a double column is a float, a None document JSON null
    on PostgreSQL and NULL on SQLite, as the `Json` type binds them)."""
    columns = ["id", "name", "score", "doc", "at"]
    insert = Bulk(probe, columns)
    upsert = Bulk(probe, columns, key=["id"], update=["name", "score"])
    keep = Bulk(probe, columns, key=["id"], update=[])
    delete = Bulk(probe, ["id"], delete=True)
    stored = subject.stored_json, subject.stored_instant
    with writer.begin() as connection:
        _probe_metadata.create_all(connection)
    with writer.begin() as connection:
        context = ProjectionContext(connection, subject)
        insert.write(
            context,
            [(1, "one", 1, stored[0]({"a": [1]}), stored[1](NOW)), (2, "two", 2.5, stored[0](None), None)],
        )
        upsert.write(
            context,
            [
                (2, "TWO", 3, stored[0]({"ignored": True}), None),
                (3, "three", None, stored[0]("x"), stored[1](NOW)),
            ],
        )
        keep.write(context, [(1, "not kept", 9, stored[0](None), None)])
        delete.write(context, [(3,)])
        context.flush()
    assert _probe_rows(writer) == [(1, "one", 1.0, {"a": [1]}, NOW), (2, "TWO", 3.0, None, None)]
    read = _probe_rows(writer)
    with writer.connect() as connection:  # the same through the driver, NULLs included
        assert subject.rows(connection, Prepared(sa.select(probe).order_by(probe.c.id))) == read
    assert isinstance(_probe_rows(writer)[0][2], float)
    with writer.begin() as connection:  # one row each: PostgreSQL binds its values, not arrays
        context = ProjectionContext(connection, subject)
        insert.write(context, [(4, "four", 4, stored[0]({"b": "é"}), stored[1](NOW))])
        upsert.write(context, [(1, "ONE", 7, stored[0]({"ignored": True}), None)])
        keep.write(context, [(4, "not kept", 9, stored[0](None), None)])
        delete.write(context, [(2,)])
        context.flush()
    assert _probe_rows(writer) == [(1, "ONE", 7.0, {"a": [1]}, NOW), (4, "four", 4.0, {"b": "é"}, NOW)]
    assert isinstance(_probe_rows(writer)[1][2], float)


def test_an_upsert_updates_the_row_it_conflicts_with(subject: Backend, writer: sa.Engine) -> None:
    statement = subject.upsert(probe, ["id"])
    assert subject.upsert(probe, ["id"]) is statement  # built once
    with writer.begin() as connection:
        _probe_metadata.create_all(connection)
        connection.execute(statement, {"id": 1, "name": "a", "score": 1.0, "doc": None, "at": NOW})
        connection.execute(statement, {"id": 1, "name": "b", "score": 2.0, "doc": {"x": 1}, "at": None})
    assert _probe_rows(writer) == [(1, "b", 2.0, {"x": 1}, None)]


def test_extra_ddl_runs_the_backends_own_statements(subject: Backend, writer: sa.Engine) -> None:
    ddl = DialectDDL(
        sqlite=["CREATE TABLE ddl_probe (x INTEGER)"],
        postgresql=lambda schema: [f"CREATE TABLE {schema + '.' if schema else ''}ddl_probe (x INTEGER)"],
    )
    with writer.begin() as connection:
        subject.run_ddl(connection, ddl)
    assert "ddl_probe" in sa.inspect(writer).get_table_names()


def test_a_scratch_copy_is_apart_from_the_database_and_removed_after(
    subject: Backend, writer: sa.Engine
) -> None:
    with subject.scratch() as scratch:
        with scratch.engine.begin() as connection:
            _probe_metadata.create_all(scratch.for_ddl(connection))
        with scratch.connect() as connection:
            context = ProjectionContext(connection, subject)
            Bulk(probe, ["id", "name"]).write(context, [(1, "x")])  # driver SQL lands in the copy too
            context.flush()
        with scratch.connect() as connection:
            assert connection.execute(sa.select(probe.c.name)).scalars().all() == ["x"]
        assert "backend_probe" not in sa.inspect(writer).get_table_names()
        place = scratch
    where = place.engine.url.database
    if where is not None and where.endswith(".db"):  # a file of its own
        assert not Path(where).exists()
    else:  # a schema of the database
        with writer.connect() as connection:
            schemas = connection.exec_driver_sql("SELECT nspname FROM pg_namespace").scalars().all()
        assert not [name for name in schemas if name.startswith("scratch_")]


def test_one_snapshot_sees_one_state_for_its_whole_transaction(
    subject: Backend, writer: sa.Engine, reader: sa.Engine
) -> None:
    append(subject, writer, [row(subject, 1)])
    with reader.connect() as live:
        snapshot = subject.one_snapshot(live)
        with snapshot.begin():
            assert reads.head(snapshot) == 1
            append(subject, writer, [row(subject, 2)])
            assert reads.head(snapshot) == 1
        assert reads.head(snapshot) == 2


def test_code_point_order_is_pythons_string_order(subject: Backend, writer: sa.Engine) -> None:
    names = ["b", "B", "a", "é", "Z", "_", "aa", "A-"]
    append(
        subject,
        writer,
        [row(subject, n + 1, namespace=name, stream="s", version=1) for n, name in enumerate(names)],
    )
    with writer.connect() as connection:
        ordered = (
            connection.execute(
                sa.select(events.c.namespace).order_by(subject.code_point_order(events.c.namespace))
            )
            .scalars()
            .all()
        )
    assert ordered == sorted(names)


def test_starts_with_is_pythons_str_startswith(subject: Backend, writer: sa.Engine) -> None:
    """Case as given, LIKE's wildcards and escape taken literally, characters beyond the BMP and at
    the top of Unicode: a prefix test that finds what `str.startswith` finds, nothing else."""
    top = chr(0x10FFFF)
    names = [
        "ab",
        "Ab",
        "aB",
        "a",
        "a%",
        "a_c",
        "a/b",
        "abc",
        "é",
        "éa",
        "\U0001f600x",
        "a" + top,
        top,
        "b",
        "\ud7ffq",
        "\ue000",
    ]
    append(subject, writer, [row(subject, n + 1, stream=name, version=1) for n, name in enumerate(names)])
    prefixes = ["a", "A", "ab", "a%", "a_", "a/", "é", "\U0001f600", top, "a" + top, "", "z", "\ud7ff"]
    with writer.connect() as connection:
        for prefix in prefixes:
            found = connection.execute(
                sa.select(events.c.stream).where(subject.starts_with(events.c.stream, prefix, connection))
            ).scalars()
            assert sorted(found) == sorted(n for n in names if n.startswith(prefix)), prefix


def test_a_refused_write_in_a_pipeline_fails_as_a_dbapi_error(subject: Backend, writer: sa.Engine) -> None:
    append(subject, writer, [row(subject, 1)])
    with writer.connect() as connection:
        connection.begin()
        subject.lock_and_read_head(connection)
        with pytest.raises(sa.exc.DBAPIError), subject.pipeline(connection):
            subject.insert_events(connection, [row(subject, 1)])  # position 1 is taken
        connection.rollback()


def test_notifications_reach_other_processes_listeners_on_commit_only(
    subject: Backend, writer: sa.Engine, database_url: str
) -> None:
    """A committed head reaches the listener of another process (another backend object on the
    database); a rolled-back one reaches nobody; and none is sent while the only listener is the
    committing process's own (it publishes its own commits itself)."""
    own: list[int] = []
    own_listener = subject.listener(own.append)
    if own_listener is None:
        # No notifications: subscribers learn of this process's commits from the committer.
        assert subject.poll_interval is None
        return
    assert subject.poll_interval is not None  # a poll is the safety net under a dropped listener
    heard: list[int] = []
    listener = Backend.for_url(database_url, durability="off").listener(heard.append)
    assert listener is not None

    def notify(position: int, commit: bool = True) -> None:
        with writer.connect() as connection:
            connection.begin()
            subject.notify(connection, position)
            if commit:
                connection.commit()
            else:
                connection.rollback()

    own_listener.start()
    try:
        time.sleep(0.5)  # the listener connects, LISTENs and registers
        notify(3)
        time.sleep(0.5)  # time enough to hear it, were it sent
        assert own == []
        listener.start()
        time.sleep(0.5)
        notify(5, commit=False)
        notify(7)
        deadline = time.monotonic() + 10
        while not heard and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        listener.stop()
        own_listener.stop()
    assert heard == [7]


def test_a_listener_reports_the_head_it_finds_when_it_connects(subject: Backend, writer: sa.Engine) -> None:
    """What was committed before a listener (re)connected is reported at once, not at the next
    poll: a writer skips NOTIFY while nobody else is registered, and a dropped connection misses
    notifications."""
    append(subject, writer, [row(subject, n) for n in (1, 2, 3)])
    heard: list[int] = []
    listener = subject.listener(heard.append)
    if listener is None:
        return  # no notifications (see above)
    listener.start()
    try:
        deadline = time.monotonic() + 10
        while not heard and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        listener.stop()
    assert heard == [3]


def test_the_migration_lock_is_released_on_exit(
    subject: Backend, writer: sa.Engine, reader: sa.Engine
) -> None:
    """Another process can migrate once the first is done (while its connection stays open)."""
    taken = threading.Event()

    def other() -> None:
        with reader.connect() as connection, subject.migration_lock(connection):
            taken.set()

    with writer.connect() as connection:
        with subject.migration_lock(connection):
            subject.analyze(connection)
        thread = threading.Thread(target=other)
        thread.start()
        assert taken.wait(timeout=10)
        thread.join()
