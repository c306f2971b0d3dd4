"""A pooled PostgreSQL read connection that the server closed is replaced at checkout, without a
round trip.

SQLAlchemy's `pool_pre_ping` sends `SELECT 1` at every checkout: one round trip more for every
read. A server that closes a connection (a restart, a terminated backend) sends its error and then
the end of the stream, so an idle connection with anything to read on its socket is one the server
has left: a look at the socket without waiting (`select` with a zero timeout) finds it.
"""

from __future__ import annotations

import select
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event


def hung_up(connection: Any) -> bool:
    """Whether an idle psycopg connection is gone: closed or broken on our side, or anything to
    read on its socket (an idle reader is sent nothing but the server's goodbye)."""
    if connection.closed or connection.broken:
        return True
    readable, _, _ = select.select([connection.pgconn.socket], [], [], 0)
    return bool(readable)


def replace_hung_up_connections(engine: sa.Engine) -> None:
    """Have the pool replace a hung-up connection at checkout (SQLAlchemy's `DisconnectionError`:
    the pool opens a new one and the read never sees the old)."""

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        if hung_up(dbapi_connection):
            raise sa.exc.DisconnectionError("the server closed the connection")
