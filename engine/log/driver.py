"""Statements sent straight to the DB-API driver, inside the SQLAlchemy connection's transaction.

The write path runs a handful of fixed statements per batch. Through `exec_driver_sql` each costs
about 30 µs of CPU, through a Core statement about 100; through the driver about 10. Errors come
out as SQLAlchemy's `DBAPIError`s, as if from `execute`, so callers handle one kind of error.
SQLAlchemy's statement logging does not see these.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection


def in_dialect(sql: str) -> dict[str, str]:
    """A statement written with `?` placeholders, for each backend's driver (psycopg: `%s`)."""
    return {"sqlite": sql, "postgresql": sql.replace("?", "%s")}


@contextmanager
def driver(connection: Connection) -> Iterator[Any]:
    """The connection's DB-API connection; driver errors inside are raised as `DBAPIError`s."""
    try:
        yield connection.connection.dbapi_connection
    except connection.dialect.loaded_dbapi.Error as error:
        raise _wrapped(connection, error) from error


# The helpers below are the write path's: each runs once or more per batch, so they catch the
# driver's errors themselves instead of entering `driver` (a generator context costs ~1 µs).


def execute(connection: Connection, sql: str, params: Sequence[Any] = ()) -> None:
    dbapi: Any = connection.connection.dbapi_connection
    try:
        dbapi.execute(sql, params)
    except connection.dialect.loaded_dbapi.Error as error:
        raise _wrapped(connection, error) from error


def execute_many(connection: Connection, sql: str, rows: Sequence[Sequence[Any]]) -> None:
    dbapi: Any = connection.connection.dbapi_connection
    try:
        if connection.dialect.name == "sqlite":
            dbapi.executemany(sql, rows)
        else:
            with dbapi.cursor() as cursor:
                cursor.executemany(sql, rows)
    except connection.dialect.loaded_dbapi.Error as error:
        raise _wrapped(connection, error) from error


def fetch_all(connection: Connection, sql: str, params: Sequence[Any] = ()) -> list[Any]:
    dbapi: Any = connection.connection.dbapi_connection
    try:
        return list(dbapi.execute(sql, params).fetchall())
    except connection.dialect.loaded_dbapi.Error as error:
        raise _wrapped(connection, error) from error


def _wrapped(connection: Connection, error: Exception) -> sa.exc.StatementError:
    return sa.exc.DBAPIError.instance(None, None, error, connection.dialect.loaded_dbapi.Error)
