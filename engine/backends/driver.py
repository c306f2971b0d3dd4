"""Statements sent straight to the DB-API driver, inside the SQLAlchemy connection's transaction.

The write path runs a handful of fixed statements per batch, and SQLAlchemy's per-statement work
(bind and result processing, the execution context) costs several times what the driver does for
such a statement. Errors come out as SQLAlchemy's `DBAPIError`s, as if from `execute`, so callers
handle one kind of error. SQLAlchemy's statement logging does not see these.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection


@contextmanager
def driver(connection: Connection) -> Iterator[Any]:
    """The connection's DB-API connection; driver errors inside are raised as `DBAPIError`s."""
    try:
        yield connection.connection.dbapi_connection
    except connection.dialect.loaded_dbapi.Error as error:
        raise wrapped(connection, error) from error


# The helpers below are the write path's: each runs once or more per batch, so they catch the
# driver's errors themselves instead of entering `driver` (a generator context has a cost of its own).


def execute(connection: Connection, sql: str, params: Sequence[Any] = ()) -> None:
    dbapi: Any = connection.connection.dbapi_connection
    try:
        dbapi.execute(sql, params)
    except connection.dialect.loaded_dbapi.Error as error:
        raise wrapped(connection, error) from error


def fetch_all(connection: Connection, sql: str, params: Sequence[Any] = ()) -> list[Any]:
    dbapi: Any = connection.connection.dbapi_connection
    try:
        rows: list[Any] = dbapi.execute(sql, params).fetchall()
        return rows
    except connection.dialect.loaded_dbapi.Error as error:
        raise wrapped(connection, error) from error


def commit(connection: Connection) -> None:
    """Commit the transaction: SQLAlchemy's if it began one (a Core statement ran through it),
    else the driver's own, which the write path began on the driver (`Backend.begin_writes`)."""
    if connection.in_transaction():
        connection.commit()
        return
    dbapi: Any = connection.connection.dbapi_connection
    try:
        dbapi.commit()
    except connection.dialect.loaded_dbapi.Error as error:
        raise wrapped(connection, error) from error


def rollback(connection: Connection) -> None:
    """Roll back SQLAlchemy's transaction and the driver's (either may be open, see `commit`)."""
    connection.rollback()
    dbapi: Any = connection.connection.dbapi_connection
    try:
        dbapi.rollback()
    except connection.dialect.loaded_dbapi.Error as error:
        raise wrapped(connection, error) from error


def wrapped(connection: Connection, error: Exception) -> sa.exc.StatementError:
    return sa.exc.DBAPIError.instance(None, None, error, connection.dialect.loaded_dbapi.Error)
