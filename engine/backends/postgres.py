"""PostgreSQL through psycopg 3: an advisory lock is the log lock, pipelines and a binary COPY cut
round trips, bulk writes go as arrays, and NOTIFY tells other processes that the log grew."""

from __future__ import annotations

import contextlib
import functools
import uuid
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import sqlalchemy as sa
from psycopg.pq import TransactionStatus
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import psycopg as psycopg_dialect
from sqlalchemy.engine import Connection

from session_engine.engine.backends import driver
from session_engine.engine.backends import postgres_bulk as bulks
from session_engine.engine.backends import postgres_pipeline as pipelines
from session_engine.engine.backends import postgres_transactions as transactions
from session_engine.engine.backends.base import (
    EVENT_COLUMNS,
    LOG_LOCK_KEY,
    MIGRATE_LOCK_KEY,
    Backend,
    json_text,
    prefix_range,
    register,
)
from session_engine.engine.backends.postgres_checkout import replace_hung_up_connections
from session_engine.engine.backends.postgres_guesses import PostgresGuesses
from session_engine.engine.backends.postgres_listener import NOTIFY_OTHERS, PostgresListener
from session_engine.engine.backends.postgres_scratch import SchemaScratch, replaced_schemas
from session_engine.engine.backends.prepared import DriverStatement, Prepared
from session_engine.engine.backends.scratch import DialectDDL, Scratch
from session_engine.engine.errors import BackupUnsupported
from session_engine.engine.log.schema import events

if TYPE_CHECKING:
    from session_engine.engine.projections.base import Bulk, ProjectionContext

COPY_MIN_ROWS = 16
"""Batches of this many events or more are inserted with one binary COPY (see `copy_events`)."""
_COPY_EVENTS = f"COPY events ({', '.join(EVENT_COLUMNS)}) FROM STDIN (FORMAT BINARY)"
# Binary COPY carries no types: the server reads each field with its column's input function.
# json's binary form is its text, so the already-encoded documents go as text (oids: int8 20,
# varchar 1043, int4 23, text 25, timestamptz 1184, bytea 17).
_COPY_TYPES = [20, 1043, 1043, 23, 1043, 23, 25, 25, 1043, 1184, 17, 17]

_LOCK_LOG = Prepared(sa.select(sa.func.pg_advisory_xact_lock(sa.literal_column(str(LOG_LOCK_KEY)))))
_HEAD = Prepared(sa.select(sa.func.max(events.c.position)))


class _EncodedJson(sa.types.TypeDecorator[str]):
    """A JSON document already encoded as text: bound as it is, cast to json by the server."""

    impl = postgresql.JSON
    cache_ok = True

    def bind_processor(self, dialect: sa.Dialect) -> None:
        return None


CODE_POINT_COLLATIONS = frozenset({"C", "POSIX", "C.UTF-8", "C.utf8", "ucs_basic"})
"""Collations that order text by code point (glibc's C.UTF-8 does since 2.35; PostgreSQL 17's
builtin one too)."""
_IDS_COLLATION = """
SELECT COALESCE(
    (SELECT collation_name FROM information_schema.columns
     WHERE table_schema = current_schema() AND table_name = 'events' AND column_name = 'stream'),
    (SELECT datcollate FROM pg_database WHERE datname = current_database()))
"""


@register
class PostgresBackend(Backend):
    name = "postgresql"
    defers_log_lock = True
    guesses = PostgresGuesses()  # a replacing set's decision read would cost a round trip of its own
    poll_interval = 2.0  # a safety net under NOTIFY, which a dropped listener connection misses
    _code_point_ids: bool | None = None  # whether the log's ids are ordered by code point: asked once
    _listening = ""  # the token of this backend's listener (none yet: every listener is another's)
    mark = "%s"
    _document_text = "{}::text"  # json keeps the text it was given; psycopg would parse it
    # The documents as text (psycopg's text loader; SQLAlchemy's json loader costs more than the
    # decode), the usual empty metadata as NULL (no text to make and decode per row) and the
    # instant as a plain timestamp (its loader skips the time zone's conversion).
    _stream_row = (
        "position, version, type, schema_version, data::text, NULLIF(metadata::text, '{}'),"
        " recorded_at AT TIME ZONE 'UTC'"
    )

    # -- engines ------------------------------------------------------------------------------
    def database_exists(self) -> bool:
        engine = sa.create_engine(self.url, poolclass=sa.NullPool)
        try:
            with engine.connect():
                return True
        except sa.exc.OperationalError as error:
            # libpq reports a missing database only in its message (no SQLSTATE at connection time).
            if f'database "{self.url.database}" does not exist' in str(error.orig):
                return False
            raise
        finally:
            engine.dispose()

    def describe(self) -> str:
        return f"the PostgreSQL database {self.url.render_as_string(hide_password=True)}"

    def _engine_options(self, *, writer: bool) -> dict[str, Any]:
        return {}

    def _configure(self, engine: sa.Engine, *, writer: bool) -> None:
        if writer:
            transactions.configure_writer(engine, self.durability)
        else:
            replace_hung_up_connections(engine)

    # -- statements ---------------------------------------------------------------------------
    @classmethod
    @functools.cache
    def _compiler_dialect(cls) -> sa.Dialect:
        return psycopg_dialect.dialect(  # type: ignore[no-any-return,no-untyped-call]
            paramstyle="format", json_serializer=json_text, json_deserializer=orjson.loads
        )

    def execute(self, connection: Connection, sql: str, params: Sequence[Any] = ()) -> None:
        queue = pipelines.active(connection.connection.dbapi_connection)
        if queue is None:
            driver.execute(connection, sql, params)
        else:
            queue.execute(sql, params)

    def execute_many(self, connection: Connection, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        dbapi: Any = connection.connection.dbapi_connection
        queue = pipelines.active(dbapi)
        if queue is not None and not sql.startswith("COPY "):
            queue.execute_many(sql, rows)
            return
        try:
            with dbapi.cursor() as cursor:
                if sql.startswith("COPY "):  # `write_bulk`'s: each item is a Bulk's rows
                    with cursor.copy(sql) as copy:
                        for each in rows:
                            for row in each:
                                copy.write_row(row)
                    return
                cursor.executemany(sql, rows)
        except connection.dialect.loaded_dbapi.Error as error:
            raise driver.wrapped(connection, error) from error

    def insert(self, table: sa.Table) -> Any:
        return postgresql.insert(table)

    # -- backups ----------------------------------------------------------------------------
    def backup(self, reader: sa.Engine, target: Path) -> None:
        raise BackupUnsupported(
            "PostgreSQL is backed up with its own tools, consistent while writers go on: "
            f"`pg_dump --format=custom --file {target} {self.url.database}`, restored into an empty "
            "database with `pg_restore --dbname NEW FILE`, then `session-engine verify -d URL` "
            "checks the restored read models against the log (specs/operations.md)"
        )

    # -- the log ------------------------------------------------------------------------------
    def lock_log(self, connection: Connection) -> None:
        driver.execute(connection, self.compile(_LOCK_LOG).sql)

    def begin_writes(self, connection: Connection) -> None:
        """Nothing to send: the BEGIN goes in the lock's pipeline (`lock_and_read_head`,
        `expect_head`)."""

    def lock_and_read_head(self, connection: Connection) -> int:
        """One round trip: BEGIN, the lock and the head query go out in one pipeline; the head
        query still runs after the lock is granted, on a fresh snapshot, so it sees every earlier
        commit."""
        lock, head = self.compile(_LOCK_LOG).sql, self.compile(_HEAD).sql
        with self._pipeline(connection) as queue:
            if transactions.needs_begin(connection.connection.dbapi_connection):
                queue.execute(pipelines.BEGIN)
            queue.execute(lock)
            result = queue.execute(head, rows=True)
        assert result is not None
        return int(result.rows[0][0] or 0)

    def expect_head(self, connection: Connection, head: int) -> None:
        """BEGIN, the lock, and a statement that fails unless the head is still `head`: queued in
        the caller's pipeline, ahead of the batch's writes and COMMIT, which the server then skips
        when the head moved (else in a pipeline of their own). The check runs after the lock is
        granted, on a fresh snapshot, so it sees every earlier commit."""
        with self._pipeline(connection) as queue:
            if transactions.needs_begin(connection.connection.dbapi_connection):
                queue.execute(pipelines.BEGIN)
            queue.execute(self.compile(_LOCK_LOG).sql)
            queue.execute(transactions.EXPECT_HEAD, (head,))

    def read_expecting_head(
        self, connection: Connection, head: int, statement: DriverStatement, params: Mapping[str, Any]
    ) -> list[Any]:
        """`expect_head` and the batch's first read in one round trip."""
        with self._pipeline(connection) as queue:
            self.expect_head(connection, head)
            result = queue.execute(statement.sql, statement.parameters(params), rows=True)
        return statement.collect(result)

    def pipeline(self, connection: Connection) -> AbstractContextManager[Any]:
        """The statements inside go out together, one round trip (engine/backends/postgres_pipeline.py)."""
        return self._pipeline(connection)

    @contextlib.contextmanager
    def _pipeline(self, connection: Connection) -> Iterator[pipelines.Pipeline]:
        try:
            with driver.driver(connection) as dbapi, pipelines.pipeline(dbapi) as queue:
                yield queue
        except sa.exc.DBAPIError as error:
            transactions.raise_if_head_moved(error)
            raise

    def commit_in_pipeline(self, connection: Connection) -> None:
        # The COMMIT rides with the writes, not in a round trip of its own. psycopg's own `commit`
        # then sees an idle connection and sends nothing.
        self.execute(connection, pipelines.COMMIT)

    def copies(self, rows: int) -> bool:
        return rows >= COPY_MIN_ROWS

    def copy_events(self, connection: Connection, rows: list[tuple[Any, ...]]) -> bool:
        """One binary COPY for a batch of `COPY_MIN_ROWS` rows or more.

        A COPY is one statement however many rows it carries: the server skips a statement's
        start-up and the client a row's parameter binding per event, a large share of the client's
        work per row of an executemany. It cannot run inside a pipeline, so it costs one round trip
        of its own, which is why a batch of a few rows is not worth it.
        """
        if len(rows) < COPY_MIN_ROWS:
            return False
        with driver.driver(connection) as dbapi, dbapi.cursor() as cursor, cursor.copy(_COPY_EVENTS) as copy:
            copy.set_types(_COPY_TYPES)
            for row in rows:
                copy.write_row(row)
        return True

    def _insert_events(self) -> Prepared:
        values: dict[Any, Any] = {
            events.c[name]: sa.bindparam(name) for name in EVENT_COLUMNS if name not in ("data", "metadata")
        }
        values[events.c.data] = sa.bindparam("data", type_=_EncodedJson)
        values[events.c.meta] = sa.bindparam("metadata", type_=_EncodedJson)
        return Prepared(events.insert().values(values))

    def analyze(self, connection: Connection) -> None:
        """A log loaded in bulk (import, restore) has no statistics until autovacuum runs, and
        without them the planner may answer each page of a replay with a scan and a sort: quadratic
        in the log."""
        connection.exec_driver_sql("ANALYZE events")

    def notify(self, connection: Connection, position: int) -> None:
        """Only where another process listens (engine/backends/postgres_listener.py)."""
        self.execute(connection, NOTIFY_OTHERS, (str(int(position)), self._listening))

    def listener(self, on_head: Callable[[int], None]) -> PostgresListener:
        listener = PostgresListener(self.url, on_head)
        self._listening = listener.token  # this process's: its own commits are not notified to it
        return listener

    def _type_among(self, values: Collection[str], params: list[Any]) -> str:
        params.append(list(values))  # one array parameter: PostgreSQL plans IN lists as many ORs
        return "type = ANY(%s)"

    @contextlib.contextmanager
    def _cursor(self, driver_connection: Any, *, alone: bool) -> Iterator[Any]:
        """A binary cursor (it spares parsing numbers and instants); `alone`, on an idle connection,
        in autocommit: psycopg would send a BEGIN first, a round trip of its own, and the pool a
        ROLLBACK when the connection goes back (writers' connections are in autocommit already)."""
        switch = (
            alone
            and not driver_connection.autocommit
            and driver_connection.info.transaction_status == TransactionStatus.IDLE
        )
        if switch:
            driver_connection.autocommit = True
        try:
            with driver_connection.cursor(binary=True) as cursor:
                yield cursor
        finally:
            if switch:
                driver_connection.autocommit = False

    # -- stored forms -------------------------------------------------------------------------
    @staticmethod
    def stored_instant(instant: datetime) -> Any:
        return instant

    @staticmethod
    def stored_json(value: Any) -> str | None:
        return json_text(value)  # None is JSON null: the `Json` type binds it so on PostgreSQL

    # -- projections --------------------------------------------------------------------------
    def bulk_sql(self, bulk: Bulk) -> str:
        return bulks.arrays_sql(bulk)

    def write_bulk(self, context: ProjectionContext, bulk: Bulk, rows: Sequence[tuple[Any, ...]]) -> None:
        if context.copies and not (bulk.delete or bulk.key) and len(rows) >= COPY_MIN_ROWS:
            # A replay's inserts as a text COPY: psycopg formats its rows in C, where it dumps
            # arrays in Python (half the client's time of a replay's writes, docs/benchmarks.md).
            context.execute_sql(bulks.copy_sql(bulk), tuple(rows))
        elif len(rows) == 1:
            context.execute_sql(bulks.row_sql(bulk), rows[0])
        else:
            context.execute_sql(bulk.sql(self), bulks.column_arrays(bulk, rows))

    def run_ddl(self, connection: Connection, ddl: DialectDDL) -> None:
        if ddl.postgresql is None:
            return
        schema = (connection.get_execution_options().get("schema_translate_map") or {}).get(None)
        for statement in ddl.postgresql(schema):
            connection.exec_driver_sql(statement)

    def suspend_derived(
        self, connection: Connection, triggers: Sequence[str], indexes: Sequence[str]
    ) -> list[str]:
        """Triggers disabled (their functions run per statement, but tokenize every row they see),
        indexes dropped (a GIN index built once from its rows is many times cheaper than kept row by
        row); both of the first schema on the search_path (a scratch copy's, or the default one)."""
        restore: list[str] = []
        for table, trigger in connection.exec_driver_sql(
            "SELECT c.relname, t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
            " WHERE c.relnamespace = current_schema()::regnamespace AND t.tgname = ANY(%(names)s)"
            " AND t.tgenabled <> 'D' AND NOT t.tgisinternal",
            {"names": list(triggers)},
        ):
            connection.exec_driver_sql(f'ALTER TABLE "{table}" DISABLE TRIGGER "{trigger}"')
            restore.append(f'ALTER TABLE "{table}" ENABLE TRIGGER "{trigger}"')
        for index, definition in connection.exec_driver_sql(
            "SELECT indexname, indexdef FROM pg_indexes"
            " WHERE schemaname = current_schema() AND indexname = ANY(%(names)s)",
            {"names": list(indexes)},
        ):
            connection.exec_driver_sql(f'DROP INDEX "{index}"')
            restore.append(definition)  # schema-qualified: it lands where it was
        return restore

    @contextlib.contextmanager
    def scratch(self) -> Iterator[Scratch]:
        schema = f"scratch_{uuid.uuid4().hex[:12]}"
        engine = self.create_engine(writer=True)
        try:
            with engine.begin() as connection:
                connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
            yield SchemaScratch(engine, schema)
        finally:
            # The copy's schema, and the live tables a swap moved out (`swap_into`): dropped here,
            # off the writer, so that writers never wait for a DROP of a large table.
            with engine.begin() as connection:
                for leftover in (schema, *replaced_schemas(connection)):
                    connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{leftover}" CASCADE')
            engine.dispose()

    def code_point_order(self, column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
        """Strings in the "C" collation: the database's default may not order by code point."""
        return column.collate("C") if isinstance(column.type, sa.String) else column

    def starts_with(
        self, column: sa.ColumnElement[str], prefix: str, connection: Connection | None = None
    ) -> sa.ColumnElement[bool]:
        """LIKE, exact in any collation but answered from a btree index only in "C"; where the ids
        are ordered by code point (their collation is one of `CODE_POINT_COLLATIONS`), a range of
        that order beside it, which the index answers."""
        exact = super().starts_with(column, prefix)
        if prefix and connection is not None and self._ids_in_code_point_order(connection):
            return sa.and_(prefix_range(column, prefix), exact)
        return exact

    def _ids_in_code_point_order(self, connection: Connection) -> bool:
        if self._code_point_ids is None:
            collation = connection.exec_driver_sql(_IDS_COLLATION).scalar()
            self._code_point_ids = collation in CODE_POINT_COLLATIONS
        return self._code_point_ids

    def one_snapshot(self, connection: Connection) -> Connection:
        return connection.execution_options(isolation_level="REPEATABLE READ")

    # -- migrations ---------------------------------------------------------------------------
    @contextlib.contextmanager
    def migration_lock(self, connection: Connection) -> Iterator[None]:
        """A session advisory lock, taken and released in transactions of their own."""
        connection.exec_driver_sql(f"SELECT pg_advisory_lock({MIGRATE_LOCK_KEY})")
        connection.commit()
        try:
            yield
        finally:
            connection.rollback()
            connection.exec_driver_sql(f"SELECT pg_advisory_unlock({MIGRATE_LOCK_KEY})")
            connection.commit()
