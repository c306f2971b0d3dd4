"""Decision reads answered from kept rows, checked under the log lock, on PostgreSQL (the protocol
is `engine/backends/guesses.py`; the bookkeeping `engine/stream_versions.py`'s `BatchReads`).

A replacing `values.set` decides from one read, whose round trip would come before the writes'. At
the end of each write pipeline, after the batch's writes and before its COMMIT, the batch's
decision reads run again with a digest of their rows made by the server; a later batch that answers
the same read from those rows queues, right after the lock and the head check, a statement that
fails unless the read's rows under the lock have the same digest (as `EXPECT_HEAD` fails when the
head moved): its writes and COMMIT are then skipped, and the batch runs again reading.

Both statements digest the read's rows the same way: materialized once (a MATERIALIZED CTE is
planned on its own, so the rows come in the read's own order), as the same session's row text.
"""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy.engine import Connection

from session_engine.engine.backends import postgres_pipeline as pipelines
from session_engine.engine.backends.postgres_pipeline import Result
from session_engine.engine.backends.postgres_transactions import GUESS_CHANGED
from session_engine.engine.backends.prepared import DriverStatement

_DIGEST = "md5(count(*)::text || ':' || coalesce(string_agg(g::text, E'\\n'), ''))"
"""The digest of the CTE `t`'s rows, read as `g`: their count and each row's text, in order."""
EMPTY_DIGEST = hashlib.md5(b"0:").hexdigest()
"""`_DIGEST` of no rows (no row carries it back from `read_again`)."""


class PostgresGuesses:
    """`ReadGuesses` for PostgreSQL: each statement's two wrappings are built once."""

    def __init__(self) -> None:
        # As bytes: psycopg would encode (and hash, for its cache) a str at every execution.
        self._again: dict[DriverStatement, bytes] = {}
        self._expect: dict[DriverStatement, bytes] = {}

    def read_again(self, connection: Connection, statement: DriverStatement, args: tuple[Any, ...]) -> Result:
        sql = self._again.get(statement)
        if sql is None:
            sql = self._again[statement] = (
                f"WITH t AS MATERIALIZED ({statement.sql}) SELECT *, (SELECT {_DIGEST} FROM t AS g) FROM t"
            ).encode()
        result = _queue(connection).execute(sql, args, rows=True)
        assert result is not None
        return result

    def kept(self, statement: DriverStatement, handle: Result) -> tuple[list[Any], str]:
        rows = statement.collect(handle)  # converts the read's columns; the digest is the last
        if not rows:
            return [], EMPTY_DIGEST
        return [row[:-1] for row in rows], str(rows[0][-1])

    def expect(
        self, connection: Connection, statement: DriverStatement, args: tuple[Any, ...], digest: str
    ) -> None:
        sql = self._expect.get(statement)
        if sql is None:
            # The message depends on the rows read, so the planner cannot fold the failing cast.
            sql = self._expect[statement] = (
                f"WITH t AS MATERIALIZED ({statement.sql}) SELECT CASE WHEN {_DIGEST} = %s THEN 0"
                f" ELSE ('{GUESS_CHANGED} ' || {_DIGEST})::int END FROM t AS g"
            ).encode()
        _queue(connection).execute(sql, (*args, digest))


def _queue(connection: Connection) -> pipelines.Pipeline:
    queue = pipelines.active(connection.connection.dbapi_connection)
    if queue is None:
        raise RuntimeError("a guessed read's statements go in the batch's open pipeline")
    return queue
