"""The PostgreSQL writer connection's transactions: each begins with a BEGIN of the engine's own.

psycopg begins a transaction implicitly before a statement, and in a pipeline it waits for the
BEGIN's answer before going on: a round trip of its own per write batch. Writer connections are in
autocommit mode instead, and every transaction on them sends its BEGIN itself: SQLAlchemy's (a
`begin` listener), or the write path's, in the pipeline of the batch's first statements.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection

from session_engine.engine.backends.base import HeadMoved

_IDLE = 0  # psycopg.pq.TransactionStatus.IDLE: outside a transaction

_HEAD_MOVED = "session-engine: the log head moved to"
GUESS_CHANGED = "session-engine: a read the batch answered from kept rows changed"
"""The failure of a guessed read's check (engine/backends/postgres_guesses.py)."""
# Plain SQL has no RAISE: a cast of a message to int is the error, made only when the head moved
# (the message depends on the row read, so the planner cannot fold it into an error up front).
EXPECT_HEAD = (
    "SELECT CASE WHEN coalesce(max(position), 0) = %s THEN 0"
    f" ELSE ('{_HEAD_MOVED} ' || coalesce(max(position), 0))::int END FROM events"
)
"""Fails unless the log's head is the position given: `PostgresBackend.expect_head`'s check."""


def configure_writer(engine: sa.Engine, durability: str) -> None:
    """Writer connections in autocommit mode, every SQLAlchemy transaction beginning with BEGIN,
    and no statement prepared by psycopg."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.autocommit = True
        # The write path prepares its statements itself (engine/backends/postgres_pipeline.py);
        # psycopg's own preparing would DEALLOCATE ALL on every rollback, its statements and ours.
        dbapi_connection.prepare_threshold = None
        if durability != "full":
            dbapi_connection.execute("SET synchronous_commit = off")

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        begin(connection.connection.dbapi_connection)


def begin(dbapi: Any) -> None:
    """BEGIN, where the connection is outside a transaction and psycopg would not begin one."""
    if needs_begin(dbapi):
        dbapi.execute("BEGIN")


def needs_begin(dbapi: Any) -> bool:
    """Whether a transaction must begin with a BEGIN of its own (the connection is idle, and in
    autocommit mode, where psycopg sends none)."""
    return bool(dbapi.autocommit and dbapi.pgconn.transaction_status == _IDLE)


def raise_if_head_moved(error: sa.exc.DBAPIError) -> None:
    """`HeadMoved` for the failure of `EXPECT_HEAD`, or of a guessed read's check (nothing after
    it in its pipeline ran): either way the batch runs again, reading under the lock."""
    message = str(error.orig)
    if _HEAD_MOVED in message or GUESS_CHANGED in message:
        raise HeadMoved(message) from error
