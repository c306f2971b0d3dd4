"""The write path's pipeline on PostgreSQL (engine/backends/postgres_pipeline.py).

A batch's statements leave the client in one write: counted by the kernel, as the data segments
the writer connection's socket sent (TCP_INFO). Statements are prepared once per connection, and
a failed batch, its rollback included, leaves the connection able to run the next one.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st

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
