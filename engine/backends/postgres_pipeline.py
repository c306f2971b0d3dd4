"""The write path's pipeline on PostgreSQL: a batch's statements queued in libpq's output buffer,
sent in one write with one Sync, their results read back once.

psycopg's own pipeline flushes the socket and polls it after every statement it queues: a lone
append's seven statements cost the client seven `sendto`s and a dozen `poll`s, and the server a
wake-up per packet (docs/benchmarks.md, "Session 12: PostgreSQL's write path"). Here the
statements wait in libpq's buffer (it flushes by itself only past 64 KiB) until the block ends.
Each distinct statement is prepared on the connection at its first use, so the server parses and
plans it once per connection, not per batch.

The statements between two Syncs are one transaction already (the protocol's implicit one,
committed at the Sync, rolled back at it after an error): a pipeline that would begin with BEGIN
and end with COMMIT (a lone append's whole transaction) sends neither, two statements fewer for
the server to run and the client to read back. Statements are therefore held in the pipeline and
sent when it ends, once it is known whether it commits.

Only the write path uses this, on the writer connection: the statements go through `execute` and
`execute_many` here, never through psycopg's cursors while the block is open.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any

from psycopg import errors, generators, pq
from psycopg._queries import PostgresQuery
from psycopg.adapt import Transformer

_ACTIVE = "_session_engine_pipeline"
"""The attribute of a psycopg connection holding its open `Pipeline`."""
_STATE = "_session_engine_statements"
"""The attribute holding the connection's `_Statements`."""
MAX_PREPARED = 256
"""Statements prepared per connection at most; any further ones are parsed every time."""

_NAMES = itertools.count()
"""Prepared statements' numbers: a name is never reused, as a failed pipeline's Parse may have
prepared it on the server all the same."""
BEGIN, COMMIT = "BEGIN", "COMMIT"
"""The write path's transaction statements (`PostgresBackend.expect_head`, `commit_in_pipeline`)."""
_TUPLES_OK, _COMMAND_OK = pq.ExecStatus.TUPLES_OK, pq.ExecStatus.COMMAND_OK
_SYNC = pq.ExecStatus.PIPELINE_SYNC


class Result:
    """A statement's rows, there once its pipeline has ended; `fetchall` and `description` as a
    cursor gives them (`DriverStatement.collect` reads them so)."""

    __slots__ = ("description", "rows")

    def __init__(self) -> None:
        self.rows: list[tuple[Any, ...]] = []
        self.description: list[tuple[str, int]] = []

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self.rows

    def fetchone(self) -> tuple[Any, ...] | None:
        return self.rows[0] if self.rows else None


_Queued = tuple[str | bytes, bytes, Any, tuple[int, ...], Any, Result | None]
"""A queued statement: its SQL, as sent, its parameters, their types and formats, its `Result`."""


class _Statements:
    """What a connection's pipelines share: the statements prepared on it, (SQL, parameter types)
    -> name, and the adapters' state (made once: a few µs per pipeline)."""

    __slots__ = ("limit", "prepared", "query", "transformer")

    def __init__(self, connection: Any) -> None:
        self.prepared: dict[tuple[str | bytes, tuple[int, ...]], bytes] = {}
        # Where psycopg prepares too, its rollback would deallocate ours: none are prepared there
        # (writer connections leave it to the pipeline, `configure_writer`).
        self.limit = MAX_PREPARED if connection.prepare_threshold is None else 0
        self.transformer = Transformer(connection)
        self.query = PostgresQuery(self.transformer)


class Pipeline:
    """Statements of one round trip on a psycopg connection (see the module's docstring)."""

    __slots__ = (
        "_added",
        "_connection",
        "_limit",
        "_pgconn",
        "_prepared",
        "_query",
        "_queued",
        "_transformer",
    )

    def __init__(self, connection: Any) -> None:
        self._connection = connection
        self._pgconn: Any = connection.pgconn
        shared: _Statements | None = getattr(connection, _STATE, None)
        if shared is None:
            shared = _Statements(connection)
            setattr(connection, _STATE, shared)
        self._prepared, self._limit = shared.prepared, shared.limit
        self._transformer = shared.transformer
        self._query = shared.query
        self._added: list[tuple[str | bytes, tuple[int, ...]]] = []
        """Statements prepared in this pipeline: forgotten if it fails (their Parse may have too)."""
        self._queued: list[_Queued] = []
        """The statements to send, in order, each with where its rows go (None: nobody reads them)."""

    def execute(
        self, sql: str | bytes, params: Sequence[Any] | None = (), *, rows: bool = False
    ) -> Result | None:
        """Queue a statement; with `rows`, its `Result`, filled when the pipeline ends. Long SQL
        run often goes as bytes made once: psycopg encodes and hashes a str every time."""
        query = self._query
        query.convert(sql, params or None)
        result = Result() if rows else None
        self._queued.append((sql, query.query, query.params, query.types, query.formats, result))
        return result

    def execute_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        query, queued = self._query, self._queued
        first = True
        for row in rows:
            if first:
                query.convert(sql, row)
                first = False
            else:
                query.dump(row)
            queued.append((sql, query.query, query.params, query.types, query.formats, None))

    def _send(self, queued: list[_Queued]) -> list[Result | None]:
        """Send statements, each prepared at its first use on the connection; per result to come,
        in order, where its rows go."""
        pgconn, prepared = self._pgconn, self._prepared
        results: list[Result | None] = []
        for sql, text, params, types, formats, into in queued:
            key = (sql, types)
            name = prepared.get(key)
            if name is None and len(prepared) < self._limit:
                name = f"_se_{next(_NAMES)}".encode()
                pgconn.send_prepare(name, text, param_types=types)
                prepared[key] = name
                self._added.append(key)
                results.append(None)  # the Parse's own result
            if name is None:
                pgconn.send_query_params(text, params, param_types=types, param_formats=formats)
            else:
                pgconn.send_query_prepared(name, params, param_formats=formats)
            results.append(into)
        return results

    def finish(self) -> None:
        """Send everything queued with a Sync, read every result, and raise the first error (the
        server skipped every statement after it, up to the Sync)."""
        queued = self._queued
        if len(queued) > 1 and queued[0][0] == BEGIN and queued[-1][0] == COMMIT:
            queued = queued[1:-1]  # the Sync commits them (the module's docstring)
            if not queued:
                return
        pgconn = self._pgconn
        pgconn.enter_pipeline_mode()
        try:
            pending = self._send(queued)
            pgconn.pipeline_sync()
        except BaseException:  # the connection failed: leave pipeline mode if it still can
            self._forget_added()
            with suppress(errors.Error):
                pgconn.pipeline_sync()
                self._read_back([])
            raise
        error = self._read_back(pending)
        if error is not None:
            self._forget_added()
            raise error

    def _read_back(self, pending: list[Result | None]) -> errors.Error | None:
        """Read every result up to the Sync into `pending`'s places; the first error, if any."""
        connection, pgconn = self._connection, self._pgconn
        connection.wait(generators.send(pgconn))
        results, error = iter(pending), None
        while True:
            fetched = connection.wait(generators.fetch_many(pgconn))
            for result in fetched:
                status = result.status
                if status == _SYNC:
                    break
                into = next(results, None)
                if status == _TUPLES_OK:
                    if into is not None:
                        self._read(result, into)
                elif status != _COMMAND_OK and error is None and status != pq.ExecStatus.PIPELINE_ABORTED:
                    error = errors.error_from_result(result, encoding=connection.info.encoding)
            else:
                continue
            break
        pgconn.exit_pipeline_mode()
        return error

    def _read(self, result: Any, into: Result) -> None:
        transformer = self._transformer
        transformer.set_pgresult(result)
        into.rows = transformer.load_rows(0, result.ntuples, tuple)
        into.description = [(result.fname(i), result.ftype(i)) for i in range(result.nfields)]

    def _forget_added(self) -> None:
        for key in self._added:
            self._prepared.pop(key, None)
        self._added.clear()


def active(connection: Any) -> Pipeline | None:
    """The connection's open pipeline, if any."""
    found: Pipeline | None = getattr(connection, _ACTIVE, None)
    return found


@contextmanager
def pipeline(connection: Any) -> Iterator[Pipeline]:
    """A pipeline on the psycopg connection, ended (sent, synced, read) when the block ends; an
    open one is reused by a nested block."""
    open_one = active(connection)
    if open_one is not None:
        yield open_one
        return
    with connection.lock:
        opened = Pipeline(connection)
        setattr(connection, _ACTIVE, opened)
        try:
            yield opened  # a failure in the block: nothing was sent (the statements wait in `opened`)
            opened.finish()
        finally:
            setattr(connection, _ACTIVE, None)
