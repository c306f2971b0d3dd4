"""The write path's pipeline on PostgreSQL (engine/backends/postgres_pipeline.py).

A batch's statements leave the client in one write: counted by the kernel, as the data segments
the writer connection's socket sent (TCP_INFO). Statements are prepared once per connection, and
a failed batch, its rollback included, leaves the connection able to run the next one.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st
from psycopg import pq

from session_engine.adapters.conformance.backend import row
from session_engine.engine.backends import Backend, Prepared, driver
from session_engine.engine.log.schema import events

pytestmark = pytest.mark.postgres

_DATA_SEGMENTS_OUT = 156
"""Offset of `tcpi_data_segs_out` in Linux's `struct tcp_info` (since 4.6)."""


@pytest.fixture
def backend() -> str:
    return "postgres"


@pytest.fixture
def subject(database_url: str) -> Backend:
    return Backend.for_url(database_url, durability="off")


@pytest.fixture
def writer(subject: Backend) -> Iterator[sa.Engine]:
    engine = subject.create_engine(writer=True)
    yield engine
    engine.dispose()


def data_segments_sent(connection: sa.Connection) -> int:
    dbapi: Any = connection.connection.dbapi_connection
    with socket.socket(fileno=dbapi.pgconn.socket) as sock:
        try:
            info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256)
        finally:
            sock.detach()  # the socket is libpq's: not closed here
    if len(info) < _DATA_SEGMENTS_OUT + 4:
        pytest.skip("this kernel's TCP_INFO has no count of data segments")
    return int(struct.unpack_from("I", info, _DATA_SEGMENTS_OUT)[0])


def a_lone_append(
    subject: Backend, connection: sa.Connection, head: int, rows: list[tuple[Any, ...]]
) -> None:
    """What a writer that knows the head sends for a batch: one pipeline, the lock first."""
    with subject.pipeline(connection):
        subject.expect_head(connection, head)
        subject.insert_events(connection, rows)
        subject.notify(connection, rows[-1][0])
        subject.commit_in_pipeline(connection)
    driver.commit(connection)


def test_a_batch_leaves_the_client_in_one_write(subject: Backend, writer: sa.Engine) -> None:
    with writer.connect() as connection:
        for position in range(1, 4):  # statements prepared, connection warm
            a_lone_append(subject, connection, position - 1, [row(subject, position)])
        before = data_segments_sent(connection)
        a_lone_append(subject, connection, 3, [row(subject, 4)])
        assert data_segments_sent(connection) - before == 1
        before = data_segments_sent(connection)
        a_lone_append(subject, connection, 4, [row(subject, 5), row(subject, 6, stream="t", version=1)])
        assert data_segments_sent(connection) - before == 1


def test_a_read_in_the_pipeline_reads_what_the_driver_reads(subject: Backend, writer: sa.Engine) -> None:
    with writer.connect() as connection:
        a_lone_append(subject, connection, 0, [row(subject, 1), row(subject, 2)])
        statement = subject.compile(_POSITIONS)
        read = subject.read_expecting_head(connection, 2, statement, {"after": 0})
        driver.rollback(connection)
        assert read == subject.rows(connection, _POSITIONS, {"after": 0}) == [(1, "s"), (2, "s")]


@given(batches=st.lists(st.tuples(st.integers(1, 3), st.booleans()), min_size=1, max_size=8))
def test_failed_batches_leave_the_connection_writing(
    subject: Backend, writer: sa.Engine, batches: list[tuple[int, bool]]
) -> None:
    """Batches of 1-3 events, some refused (a position already taken), on one connection: each
    refused one writes nothing, and every later one goes in (its prepared statements still there)."""
    with writer.connect() as connection:
        head = int(subject.lock_and_read_head(connection))
        driver.rollback(connection)
        expected = list(range(1, head + 1))
        for size, refused in batches:
            first = head if refused and head else head + 1  # `head` is taken: the batch is refused
            rows = [row(subject, first + n, stream=f"s{first + n}", version=1) for n in range(size)]
            try:
                a_lone_append(subject, connection, head, rows)
            except sa.exc.DBAPIError:
                driver.rollback(connection)
                assert refused
                continue
            assert not (refused and head)
            head += size
            expected += [r[0] for r in rows]
        assert [p for p, _ in subject.rows(connection, _POSITIONS, {"after": 0})] == expected


_POSITIONS = Prepared(
    sa.select(events.c.position, events.c.stream)
    .where(events.c.position > sa.bindparam("after"))
    .order_by(events.c.position)
)


def test_a_connection_where_psycopg_prepares_keeps_writing_after_a_rollback(
    subject: Backend, writer: sa.Engine
) -> None:
    """psycopg's rollback deallocates every prepared statement once it has prepared its own: on
    such a connection the pipeline prepares none of its own."""
    with writer.connect() as connection:
        dbapi: Any = connection.connection.dbapi_connection
        dbapi.prepare_threshold = 1  # psycopg prepares from a statement's second execution
        a_lone_append(subject, connection, 0, [row(subject, 1)])
        for _ in range(3):
            assert subject.rows(connection, _POSITIONS, {"after": 0}) == [(1, "s")]
        with pytest.raises(sa.exc.DBAPIError):
            a_lone_append(subject, connection, 1, [row(subject, 1)])  # position 1 is taken
        driver.rollback(connection)  # psycopg: DEALLOCATE ALL
        a_lone_append(subject, connection, 1, [row(subject, 2)])
        assert [p for p, _ in subject.rows(connection, _POSITIONS, {"after": 0})] == [1, 2]


def statements_run(connection: sa.Connection, work: Callable[[], None], path: Path) -> int:
    """How many statements the client asked the server to run during `work` (Execute messages, in
    libpq's trace of the connection)."""
    dbapi: Any = connection.connection.dbapi_connection
    pgconn = dbapi.pgconn
    with path.open("w") as trace:
        pgconn.trace(trace.fileno())
        pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS)
        try:
            work()
        finally:
            pgconn.untrace()
    return sum(line.split("\t")[:3] == ["F", "9", "Execute"] for line in path.read_text().splitlines())


def test_a_batch_of_one_round_trip_runs_no_begin_or_commit(
    subject: Backend, writer: sa.Engine, tmp_path: Path
) -> None:
    """The statements of one pipeline are one transaction (the protocol's implicit one): a batch
    that sends its whole transaction at once runs its lock, check and writes, and nothing else."""
    with writer.connect() as connection:
        a_lone_append(subject, connection, 0, [row(subject, 1)])
        sent = statements_run(
            connection, lambda: a_lone_append(subject, connection, 1, [row(subject, 2)]), tmp_path / "trace"
        )
        assert sent == 4  # the lock, the head check, the insert, NOTIFY
        other = subject.create_engine(writer=False)
        try:
            with other.connect() as reading:  # committed: another connection sees it
                assert [p for p, _ in subject.rows(reading, _POSITIONS, {"after": 0})] == [1, 2]
        finally:
            other.dispose()


def test_a_batch_refused_at_its_last_statement_writes_nothing(subject: Backend, writer: sa.Engine) -> None:
    """Rolled back at the Sync, like a transaction of its own: the rows before the refused one are
    not written either, and the connection writes the next batch."""
    with writer.connect() as connection:
        a_lone_append(subject, connection, 0, [row(subject, 1)])
        refused = [
            row(subject, 2),
            row(subject, 3, stream="t", version=1),
            row(subject, 1, stream="u", version=1),
        ]
        with pytest.raises(sa.exc.DBAPIError):
            a_lone_append(subject, connection, 1, refused)
        driver.rollback(connection)
        a_lone_append(subject, connection, 1, [row(subject, 2, stream="v", version=1)])
        assert subject.rows(connection, _POSITIONS, {"after": 0}) == [(1, "s"), (2, "v")]
