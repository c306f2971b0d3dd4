"""SQLite: a file in WAL mode; `BEGIN IMMEDIATE` is the log lock; the writer checkpoints the WAL."""

from __future__ import annotations

import contextlib
import functools
import os
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import sqlite
from sqlalchemy.dialects.sqlite import pysqlite
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.pool import StaticPool

from session_engine.engine.backends import driver
from session_engine.engine.backends.base import (
    EVENT_COLUMNS,
    Backend,
    Durability,
    json_text,
    prefix_range,
    register,
)
from session_engine.engine.backends.prepared import Conversion, Prepared
from session_engine.engine.backends.scratch import DialectDDL, Scratch
from session_engine.engine.backends.sqlite_converters import (
    INSTANT,
    JSON,
    NAME,
    STREAM_COLUMNS,
    labelled,
    stream_rows,
)
from session_engine.engine.backends.sqlite_shadows import SqliteShadows
from session_engine.engine.clock import as_utc
from session_engine.engine.errors import CommandFailed
from session_engine.engine.log.schema import UtcDateTime, events

if TYPE_CHECKING:
    from session_engine.engine.projections.base import Bulk, ProjectionContext

WAL_CHECKPOINT_PAGES = 10_000
BUSY_TIMEOUT_MS = 30_000
"""How long a connection waits for a lock another holds (every one but a batch run on the event
loop's thread, `begin_writes_now`, and the point reads there, `inline_reader`)."""
_SQLITE_BUSY, _SQLITE_LOCKED = 5, 6
"""SQLite's primary result codes for a lock held elsewhere (extended codes keep them in the low byte)."""
"""The writer checkpoints SQLite's WAL once it holds this many pages (40 MiB at 4 KiB pages).

SQLite's default, 1,000, checkpoints every few group commits of 64 sessions, and each checkpoint
copies back the same hot index leaves the last one did: a large share of the commit's cost on the
write path. Ten times fewer checkpoints copy about as many distinct pages each
(`docs/benchmarks.md`, "Where the write path's time goes"). The price is a WAL of up to 40 MiB on
disk and a longer pause for the one batch that checkpoints.
"""

_HEAD = Prepared(sa.select(sa.func.max(events.c.position)))

_last_stored: tuple[datetime | None, str] = (None, "")


@register
class SqliteBackend(Backend):
    name = "sqlite"
    inline_point_reads = True  # a WAL reader never waits for the writer, and a thread hop costs more
    # sqlite3 binds None through its adaptation protocol, which raises and formats an AttributeError
    # for every None it binds: a row without a key carries 0, which the insert stores as NULL
    # (`_insert_events`); a key is always a non-empty string, never 0.
    no_idempotency_key = 0
    mark = "?"
    # The documents, the type and the instant made by sqlite3's converters (`sqlite_converters`).
    _stream_row = (
        f"position, version, {labelled('type', NAME)}, schema_version, {labelled('data', JSON)},"
        f" {labelled('metadata', JSON)}, {labelled('recorded_at', INSTANT)}"
    )

    def _whole_stream_rows(
        self, connection: Connection, where: str, params: list[Any], *, alone: bool
    ) -> Sequence[Any]:
        """A stream's rows read as one row of columns (`sqlite_converters.STREAM_COLUMNS`): sqlite3
        hands over each value of a row with calls, a GIL hand-over and an object of its own, which
        cost more than the values; a column of a read is one value, decoded by one `orjson.loads`.
        Row by row when a column would be longer than SQLite's longest string, or a type holds
        the columns' separator."""
        try:
            [found] = self._driver_rows(connection, f"{STREAM_COLUMNS} {where}", params, alone=alone)
        except sqlite3.DataError:  # SQLITE_TOOBIG
            found = None
        rows = None if found is None else stream_rows(found)
        if rows is None:
            return self._stream_rows(connection, where, params, alone=alone)
        return rows

    def __init__(
        self, url: URL, durability: Durability = "full", *, wal_checkpoint_pages: int = WAL_CHECKPOINT_PAGES
    ) -> None:
        super().__init__(url, durability)
        self.wal_checkpoint_pages = wal_checkpoint_pages

    # -- engines ------------------------------------------------------------------------------
    def database_exists(self) -> bool:
        return os.path.isfile(self.path)

    @property
    def path(self) -> str:
        """The database file, as an absolute path (relative ones are the working directory's)."""
        return os.path.abspath(self.url.database or "")

    def describe(self) -> str:
        return f"the SQLite file {self.path}"

    def _engine_options(self, *, writer: bool) -> dict[str, Any]:
        if self.url.database in (None, "", ":memory:"):
            raise ValueError("the engine needs an SQLite file; ':memory:' cannot be shared by its pools")
        connect_args = {"check_same_thread": False, "timeout": 30, "detect_types": sqlite3.PARSE_COLNAMES}
        return {"connect_args": connect_args, "poolclass": sa.QueuePool}

    def _configure(self, engine: sa.Engine, *, writer: bool) -> None:
        synchronous = {"full": "FULL", "normal": "NORMAL", "off": "OFF"}[self.durability]
        checkpoint_pages = int(self.wal_checkpoint_pages)
        secure_delete = self.secure_delete

        @event.listens_for(engine, "connect")
        def _connect(dbapi_connection: Any, _record: Any) -> None:
            # Take transaction control away from pysqlite so BEGIN is ours (SQLAlchemy's recipe).
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA synchronous={synchronous}")
            cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA foreign_keys=ON")
            if writer and secure_delete:  # freed pages zeroed: an erasure leaves no copy
                cursor.execute("PRAGMA secure_delete=ON")
            if writer:  # only the writer commits, so only its setting matters
                cursor.execute(f"PRAGMA wal_autocheckpoint={checkpoint_pages}")
                # A WAL that a long reader let grow past twice that is cut back after its checkpoint.
                cursor.execute(f"PRAGMA journal_size_limit={2 * checkpoint_pages * 4096}")
            cursor.close()

        begin = "BEGIN IMMEDIATE" if writer else "BEGIN"

        @event.listens_for(engine, "begin")
        def _begin(connection: Connection) -> None:
            # The writer takes the write lock up front, so its reads and writes see one state. In a
            # write batch (`begin_writes`) the driver's transaction is open already: SQLAlchemy joins it.
            if not connection.connection.dbapi_connection.in_transaction:  # type: ignore[union-attr]
                driver.execute(connection, begin)

    def create_memory_engine(self) -> sa.Engine:
        """A private in-memory database on one connection (a session's state as of a cut-off)."""
        return sa.create_engine(
            "sqlite+pysqlite://",
            poolclass=StaticPool,
            connect_args={"check_same_thread": False},
            json_serializer=json_text,
            json_deserializer=orjson.loads,
        )

    # -- statements ---------------------------------------------------------------------------
    @classmethod
    @functools.cache
    def _compiler_dialect(cls) -> sa.Dialect:
        return pysqlite.dialect(paramstyle="qmark", json_serializer=json_text, json_deserializer=orjson.loads)

    def _bind_conversion(self, type_: Any) -> Conversion | None:
        if isinstance(type_, UtcDateTime):
            return self.stored_instant  # what the type binds, remembering the last instant converted
        return super()._bind_conversion(type_)

    def execute_many(self, connection: Connection, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        dbapi: Any = connection.connection.dbapi_connection
        try:
            dbapi.executemany(sql, rows)
        except connection.dialect.loaded_dbapi.Error as error:
            raise driver.wrapped(connection, error) from error

    def insert(self, table: sa.Table) -> Any:
        return sqlite.insert(table)

    # -- backups ----------------------------------------------------------------------------
    def backup(self, reader: sa.Engine, target: Path) -> None:
        """SQLite's online backup API: pages copied in steps, restarted when a write lands in
        between (so a busy writer makes it take longer, never inconsistent). The copy is a plain
        database file: WAL content included, nothing to replay."""
        with reader.connect() as connection, driver.driver(connection) as source:
            copy = sqlite3.connect(target)
            try:
                source.backup(copy)
            finally:
                copy.close()

    # -- point reads on the event loop -------------------------------------------------------
    def inline_reader(self, reader: sa.Engine) -> Connection:
        """A read connection with no busy timeout: a WAL reader rarely meets a lock (another process
        holding the file exclusively, a file that could not enter WAL mode, a recovery), and when
        it does it answers SQLITE_BUSY at once rather than holding the event loop for 30 s."""
        connection = reader.connect()
        driver.execute(connection, "PRAGMA busy_timeout=0")
        return connection

    def busy(self, error: sa.exc.DBAPIError) -> bool:
        code = getattr(error.orig, "sqlite_errorcode", None)
        return isinstance(code, int) and code & 0xFF in (_SQLITE_BUSY, _SQLITE_LOCKED)

    # -- erasure ------------------------------------------------------------------------------
    def scrub(self, connection: Connection, text_indexes: Sequence[str] = ()) -> None:
        """Merge the full-text indexes (a contentless FTS5 index keeps deleted tokens in older
        segments until a merge), then copy the WAL into the database and truncate it: with `secure_delete`,
        neither file keeps the erased rows. Readers holding an old snapshot delay the checkpoint:
        it is retried for up to a minute, then refused as a `CommandFailed` (run erase again)."""
        with driver.driver(connection) as dbapi:
            for index in text_indexes:
                dbapi.execute(f"INSERT INTO {index}({index}) VALUES ('optimize')")
            for _ in range(600):
                busy, _, _ = dbapi.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
                if not busy:
                    return
                time.sleep(0.1)
        raise CommandFailed(
            "the erasure committed, but readers kept the WAL from being truncated; run erase again"
        )

    # -- the log ------------------------------------------------------------------------------
    def lock_log(self, connection: Connection) -> None:
        """The writer's BEGIN IMMEDIATE has taken SQLite's write lock already."""

    def begin_writes(self, connection: Connection) -> None:
        driver.execute(connection, "BEGIN IMMEDIATE")

    def begin_writes_now(self, connection: Connection) -> bool:
        """BEGIN IMMEDIATE with no busy timeout for it: another connection's write lock (or a WAL
        recovery) answers SQLITE_BUSY at once, and nothing is begun. Once it holds the write lock a
        WAL writer waits for nobody: its reads, writes and COMMIT (whose automatic checkpoint is a
        passive one) never meet another connection's lock."""
        dbapi: Any = connection.connection.dbapi_connection
        try:
            dbapi.execute("PRAGMA busy_timeout=0")
            try:
                dbapi.execute("BEGIN IMMEDIATE")
            finally:
                dbapi.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        except sqlite3.Error as error:
            failure = driver.wrapped(connection, error)
            if isinstance(failure, sa.exc.DBAPIError) and self.busy(failure):
                return False
            raise failure from error
        return True

    def lock_and_read_head(self, connection: Connection) -> int:
        head = self.compile(_HEAD)
        return int(driver.fetch_all(connection, head.sql)[0][0] or 0)

    def data_version(self, connection: Connection) -> int | None:
        """SQLite's `PRAGMA data_version`: inside the transaction that `BEGIN IMMEDIATE` began, it
        counts the commits of other connections (other processes, this process's other engines)
        up to the snapshot the write lock sees."""
        return int(driver.fetch_all(connection, "PRAGMA data_version")[0][0])

    def _insert_events(self) -> Prepared:
        values: dict[Any, Any] = {
            events.c[name]: sa.bindparam(name) for name in EVENT_COLUMNS if name != "metadata"
        }
        values[events.c.meta] = sa.bindparam("metadata")
        values[events.c.idempotency_key] = sa.func.nullif(
            sa.bindparam("idempotency_key"), sa.literal_column("0")
        )
        return Prepared(events.insert().values(values))

    # -- stored forms -------------------------------------------------------------------------
    @staticmethod
    def stored_instant(instant: datetime) -> Any:
        global _last_stored
        # Every event of one commit shares its instant: remember the last conversion.
        last_in, last_out = _last_stored
        if instant is last_in:
            return last_out
        utc = as_utc(instant)
        # What `isoformat(sep=" ", timespec="microseconds")` of the naive instant writes, without
        # the copy `replace(tzinfo=None)` makes and the keyword parsing of both calls.
        text = "%04d-%02d-%02d %02d:%02d:%02d.%06d" % (  # noqa: UP031 - %-formatting is the fastest here
            utc.year,
            utc.month,
            utc.day,
            utc.hour,
            utc.minute,
            utc.second,
            utc.microsecond,
        )
        _last_stored = (instant, text)
        return text

    @staticmethod
    def stored_json(value: Any) -> str | None:
        return None if value is None else json_text(value)

    # -- projections --------------------------------------------------------------------------
    def bulk_sql(self, bulk: Bulk) -> str:
        """A one-row statement, for an executemany: SQLite runs each row as fast as a multi-row form."""
        table, columns = bulk.table, bulk.columns
        if bulk.delete:
            statement: Any = table.delete().where(*(table.c[c] == sa.bindparam(c) for c in columns))
        else:
            statement = self.insert(table).values({table.c[c]: sa.bindparam(c) for c in columns})
            if bulk.update is not None:
                if bulk.update:
                    statement = statement.on_conflict_do_update(
                        index_elements=list(bulk.key), set_={c: statement.excluded[c] for c in bulk.update}
                    )
                else:
                    statement = statement.on_conflict_do_nothing(index_elements=list(bulk.key))
        return self.compile(Prepared(statement)).takes_rows_of(columns)

    def write_bulk(self, context: ProjectionContext, bulk: Bulk, rows: Sequence[tuple[Any, ...]]) -> None:
        sql = bulk.sql(self)
        for row in rows:
            context.execute_sql(sql, row)

    def run_ddl(self, connection: Connection, ddl: DialectDDL) -> None:
        for statement in ddl.sqlite:
            connection.exec_driver_sql(statement)

    def suspend_derived(
        self, connection: Connection, triggers: Sequence[str], indexes: Sequence[str]
    ) -> list[str]:
        """Triggers only: SQLite's run once per row, while its indexes are read by the replay itself.
        Their SQL is read back, so they return verbatim."""
        return _drop_triggers(connection, lambda name, table, sql: name in triggers)

    def starts_with(
        self, column: sa.ColumnElement[str], prefix: str, connection: Connection | None = None
    ) -> sa.ColumnElement[bool]:
        """A range of the column's binary order (UTF-8 bytes: code point order), which its index
        answers; SQLite's LIKE ignores ASCII case and is never answered from a binary index."""
        return prefix_range(column, prefix)

    @contextlib.contextmanager
    def scratch(self) -> Iterator[Scratch]:
        directory = tempfile.mkdtemp(prefix="session-engine-verify-")
        path = os.path.join(directory, "scratch.db")
        engine = SqliteBackend(make_url(f"sqlite+pysqlite:///{path}"), durability="off").create_engine(
            writer=True
        )
        try:
            yield _FileScratch(engine, path)
        finally:
            engine.dispose()
            for name in os.listdir(directory):
                os.unlink(os.path.join(directory, name))
            os.rmdir(directory)


class _FileScratch(Scratch):
    """A scratch copy in a file of its own (its live rebuild moves it beside the live tables)."""

    def __init__(self, engine: sa.Engine, path: str) -> None:
        super().__init__(engine)
        self.path = path

    def shadows(self, tables: Sequence[str]) -> SqliteShadows:
        return SqliteShadows(self, list(tables), self.path)


def _drop_triggers(connection: Connection, which: Callable[[str, str, str], bool]) -> list[str]:
    """Drop the main database's triggers that `which(name, table, sql)` picks; returns their SQL."""
    rows = connection.exec_driver_sql(
        "SELECT name, tbl_name, sql FROM main.sqlite_master WHERE type = 'trigger'"
    ).fetchall()
    found = [(name, sql) for name, table, sql in rows if which(name, table, sql)]
    for name, _ in found:
        connection.exec_driver_sql(f'DROP TRIGGER main."{name}"')
    return [sql for _, sql in found]
