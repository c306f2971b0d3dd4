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
    dbapi = connection.dialect.loaded_dbapi
    try:
        yield connection.connection.dbapi_connection
    except dbapi.Error as error:
        raise sa.exc.DBAPIError.instance(None, None, error, dbapi.Error) from error


def execute(connection: Connection, sql: str, params: Sequence[Any] = ()) -> None:
    with driver(connection) as dbapi:
        dbapi.execute(sql, params)


def execute_many(connection: Connection, sql: str, rows: Sequence[Sequence[Any]]) -> None:
    with driver(connection) as dbapi:
        if connection.dialect.name == "sqlite":
            dbapi.executemany(sql, rows)
        else:
            with dbapi.cursor() as cursor:
                cursor.executemany(sql, rows)


def fetch_all(connection: Connection, sql: str, params: Sequence[Any] = ()) -> list[Any]:
    with driver(connection) as dbapi:
        return list(dbapi.execute(sql, params).fetchall())
