"""A database the engine keeps its log in: one class per database, each owning its SQL.

As pyeventsourcing has a recorder per database (`eventsourcing/sqlite.py`, `postgres.py`), every
statement whose text or way of running differs between SQLite and PostgreSQL lives in
`SqliteBackend` or `PostgresBackend`: engine creation and connection settings, the log lock and the
head read, the events insert (PostgreSQL's binary COPY included), pipelines, NOTIFY and its
listener, bulk writes, upserts, extra DDL, scratch copies, the log's page reads and the migration
lock. The log's reads are built once for both in `log_reads.py` (`LogReads`, which `Backend` mixes
in); the shapes of extra DDL, scratch copies and shadows are in `scratch.py`. Everything else in
the engine asks its backend and never branches on the database's name
(`tests/test_backend_boundary.py` holds that line). `Backend.for_url` picks the class.

The write path runs on one connection of a single-connection "writer" pool; reads use a separate
pool, which SQLite's WAL mode serves concurrently with the writer.
"""

from __future__ import annotations

import contextlib
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol, overload

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.sql import Executable

from session_engine.engine.backends import driver
from session_engine.engine.backends.log_reads import LogReads
from session_engine.engine.backends.prepared import (
    Conversion,
    DriverStatement,
    Prepared,
    Query,
    Rows,
    compile_statement,
)
from session_engine.engine.backends.scratch import DialectDDL, Scratch
from session_engine.engine.errors import BackupUnsupported

if TYPE_CHECKING:
    from session_engine.engine.backends.guesses import ReadGuesses
    from session_engine.engine.projections.base import Bulk, ProjectionContext

Durability = Literal["full", "normal", "off"]
DEFAULT_URL = "sqlite:///session-engine.db"
NOTIFY_CHANNEL = "session_engine_events"
LOG_LOCK_KEY = 0x5E55_E7E1  # arbitrary: the advisory lock that serialises appends across processes
MIGRATE_LOCK_KEY = 0x5E55_0001  # arbitrary: the advisory lock that serialises migrators


class HeadMoved(BaseException):
    """A batch begun without the log lock found, under it, that another process had appended since
    this one's last batch (`Backend.expect_head`): nothing of it was written. The committer rolls it
    back and runs it again the usual way. A BaseException, like a cancellation: it must pass through
    the handlers' and projections' `except Exception` untouched, not count as their crash."""


EVENT_COLUMNS = (
    "position",
    "namespace",
    "stream",
    "version",
    "type",
    "schema_version",
    "data",
    "metadata",
    "idempotency_key",
    "recorded_at",
    "hash",
    "sealed",
)
"""The events table's columns in the order the write path's rows hold them."""


def json_text(value: Any) -> str:
    return orjson.dumps(value).decode()


def normalise_url(url: str | URL | None) -> URL:
    """`postgresql://` means psycopg 3; a bare path means an SQLite file."""
    if url is None:
        url = os.environ.get("SESSION_ENGINE_DATABASE") or DEFAULT_URL
    if isinstance(url, str) and "://" not in url:
        url = f"sqlite:///{url}"
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.drivername == "sqlite":
        parsed = parsed.set(drivername="sqlite+pysqlite")
    if parsed.get_backend_name() not in _CLASSES:
        raise ValueError(f"unsupported database {parsed.get_backend_name()!r}: use sqlite or postgresql")
    return parsed


def prefix_range(column: sa.ColumnElement[str], prefix: str) -> sa.ColumnElement[bool]:
    """`column` starts with `prefix` as a range of code point order: exact where the column is
    ordered by code point, and answered from its index."""
    if not prefix:
        return sa.true()
    at_least = column >= prefix
    kept = prefix.rstrip(chr(0x10FFFF))  # nothing is above U+10FFFF: the last character left grows
    if not kept:
        return at_least
    following = ord(kept[-1]) + 1
    if 0xD800 <= following <= 0xDFFF:  # surrogates are no characters: UTF-8 cannot hold them
        following = 0xE000
    return sa.and_(at_least, column < kept[:-1] + chr(following))


class Listener(Protocol):
    def start(self) -> None: ...

    def stop(self) -> None: ...


class Backend(LogReads, ABC):
    """What the engine needs of a database, and the SQL it takes to get it there."""

    name: ClassVar[str]
    """The SQLAlchemy dialect's name."""
    poll_interval: ClassVar[float | None] = None
    """How often subscribers look at the log without being told (None: this process sees every commit)."""
    inline_point_reads: ClassVar[bool] = False
    """True when a point read is cheaper run on the event loop than sent to a worker thread."""
    no_idempotency_key: ClassVar[Any] = None
    """What an event row without an idempotency key carries in that column."""
    mark: ClassVar[str]
    """The driver's positional parameter marker."""

    def __init__(self, url: URL, durability: Durability = "full") -> None:
        self.url = url
        self.durability = durability

    @staticmethod
    def for_url(url: str | URL | None = None, durability: Durability = "full", **options: Any) -> Backend:
        """The backend for a database URL (None: `SESSION_ENGINE_DATABASE`, else the default file)."""
        parsed = normalise_url(url)
        return _CLASSES[parsed.get_backend_name()](parsed, durability, **options)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url.render_as_string(hide_password=True)!r})"

    # -- engines ------------------------------------------------------------------------------
    @abstractmethod
    def database_exists(self) -> bool:
        """True when the database the URL names exists (without creating it: opening an SQLite
        file creates it). Raises the driver's error, wrapped by SQLAlchemy, when the server cannot
        be reached."""

    def describe(self) -> str:
        """The database for messages: its URL with the password hidden."""
        return self.url.render_as_string(hide_password=True)

    def create_engine(self, *, writer: bool, pool_size: int = 4) -> sa.Engine:
        """An engine for the writer (a pool of one connection) or for readers."""
        options: dict[str, Any] = {
            "json_serializer": json_text,
            "json_deserializer": orjson.loads,
            "pool_size": 1 if writer else pool_size,
            "max_overflow": 0 if writer else pool_size,
            **self._engine_options(writer=writer),
        }
        engine = sa.create_engine(self.url, **options)
        self._configure(engine, writer=writer)
        return engine

    @abstractmethod
    def _engine_options(self, *, writer: bool) -> dict[str, Any]: ...

    @abstractmethod
    def _configure(self, engine: sa.Engine, *, writer: bool) -> None: ...

    # -- statements ---------------------------------------------------------------------------
    @classmethod
    @abstractmethod
    def _compiler_dialect(cls) -> sa.Dialect:
        """A dialect with the driver's positional paramstyle, for compiling Core statements once."""

    def _bind_conversion(self, type_: Any) -> Conversion | None:
        dialect = self._compiler_dialect()
        conversion: Conversion | None = type_.dialect_impl(dialect).bind_processor(dialect)
        return conversion

    def compile(self, prepared: Prepared) -> DriverStatement:
        """The statement in this backend's driver SQL (compiled on first use, then remembered)."""
        compiled = prepared.compiled.get(self.name)
        if compiled is None:
            compiled = prepared.compiled[self.name] = compile_statement(
                prepared.statement, self._compiler_dialect(), self._bind_conversion
            )
        return compiled

    @overload
    def rows(
        self, connection: Connection, statement: Prepared, params: dict[str, Any] | None = None
    ) -> list[Any]: ...

    @overload
    def rows(
        self, connection: Connection, statement: Executable, params: dict[str, Any] | None = None
    ) -> Rows: ...

    def rows(
        self, connection: Connection, statement: Query, params: dict[str, Any] | None = None
    ) -> list[Any] | Rows:
        """Run a query and fetch its rows: a `Prepared` statement on the driver (a list of tuples),
        any other Core statement through SQLAlchemy, whose statement cache compiles it once (`Rows`)."""
        if isinstance(statement, Prepared):
            compiled = statement.compiled.get(self.name) or self.compile(statement)
            return compiled.fetch(connection, params or {})
        return Rows(connection.execute(statement, params or {}).all())

    def execute(self, connection: Connection, sql: str, params: Sequence[Any] = ()) -> None:
        driver.execute(connection, sql, params)

    @abstractmethod
    def execute_many(self, connection: Connection, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """One driver statement over many rows of positional parameters."""

    @abstractmethod
    def insert(self, table: sa.Table) -> Any:
        """This database's INSERT construct (the one with `on_conflict_do_update`)."""

    def upsert(self, table: sa.Table, key: Sequence[str], update: Sequence[str] | None = None) -> Executable:
        """An `INSERT ... ON CONFLICT (key) DO UPDATE` of `update` (default: every other column)."""
        cache_key = (self.name, table.name, tuple(key), tuple(update) if update is not None else None)
        statement = _UPSERTS.get(cache_key)
        if statement is None:
            insert = self.insert(table)
            columns = update if update is not None else [c.name for c in table.columns if c.name not in key]
            if not columns:
                statement = insert.on_conflict_do_nothing(index_elements=list(key))
            else:
                statement = insert.on_conflict_do_update(
                    index_elements=list(key), set_={name: insert.excluded[name] for name in columns}
                )
            _UPSERTS[cache_key] = statement
        return statement

    # -- backups --------------------------------------------------------------------------------
    def backup(self, reader: sa.Engine, target: Path) -> None:
        """Copy the whole database, consistent as of one instant, into the new file `target` while
        writers go on. Raises `BackupUnsupported` (with the database's own way) where there is none."""
        raise BackupUnsupported(f"{type(self).__name__} has no file backup")

    # -- point reads on the event loop (`inline_point_reads`) ----------------------------------
    def inline_reader(self, reader: sa.Engine) -> Connection:
        """The connection point reads use on the event loop: one that never waits for a lock there
        (a wait would freeze every connection the loop serves). Only when `inline_point_reads`."""
        raise NotImplementedError(f"{type(self).__name__} runs no reads on the event loop")

    def busy(self, error: sa.exc.DBAPIError) -> bool:
        """True when `error` says the database was locked: the read may be retried, waiting."""
        return False

    # -- erasure --------------------------------------------------------------------------------
    secure_delete = False
    """Whether the writer overwrites what it deletes (set before `create_engine`: the engine turns
    it on when a namespace seals its payloads, so no freed page keeps an erased session's rows)."""

    def scrub(self, connection: Connection, text_indexes: Sequence[str] = ()) -> None:
        """After an erasure commits, on the writer connection outside a transaction: leave no copy
        of the deleted rows in the database's files (`text_indexes`: full-text indexes to merge).
        PostgreSQL's dead tuples need a VACUUM of the tables involved, an operator's step
        (specs/lifecycle.md)."""

    # -- the log ------------------------------------------------------------------------------
    @abstractmethod
    def lock_log(self, connection: Connection) -> None:
        """Serialise appends across processes until this transaction ends.

        Positions are taken under this lock and the lock is released only after commit, so
        positions are gap-free and strictly increasing in commit order: a reader that has seen
        position N will never later find a committed N-1.
        """

    def begin_writes(self, connection: Connection) -> None:
        """Begin a write batch's transaction on the driver: SQLAlchemy's `begin` and `commit`
        bookkeeping cost a lone writer's batch more than the statements (`driver.commit` ends it).
        A Core statement run through SQLAlchemy inside it joins it (SQLAlchemy's autobegin)."""
        connection.begin()

    def begin_writes_now(self, connection: Connection) -> bool:
        """`begin_writes` with the log lock taken, unless that means waiting (another process holds
        it): then False, with nothing begun. For a batch on the event loop's thread
        (`Committer._run_inline`), which must never wait for another process. Here always False:
        the write path cannot take the lock without a wait it does not bound."""
        return False

    @abstractmethod
    def lock_and_read_head(self, connection: Connection) -> int:
        """Take the log lock (see `lock_log`) and read the head position."""

    def data_version(self, connection: Connection) -> int | None:
        """After `begin_writes`: a number that changes whenever another connection has committed to
        the database since this one's last transaction, and not when this one commits. Where it
        has not changed since the writer's last batch, the head, its hash and the checkpoints are
        as that batch left them (level only if it left them so: `engine/batches.py`). None: the
        backend cannot tell (every batch reads the head)."""
        return None

    defers_log_lock: ClassVar[bool] = False
    """A batch may begin before it takes the log lock, when this process appended the last event:
    the lock goes with its first statement (`expect_head`), in the same round trip (PostgreSQL;
    SQLite's lock costs no round trip)."""

    def expect_head(self, connection: Connection, head: int) -> None:
        """Begin the batch's transaction, take the log lock, and raise `HeadMoved` unless the head
        is still `head`. Inside `pipeline`, the statements after it run only if the head is as
        expected, and `HeadMoved` may come at the block's end."""
        self.begin_writes(connection)
        if self.lock_and_read_head(connection) != head:
            raise HeadMoved(f"the log head is no longer {head}")

    guesses: ClassVar[ReadGuesses | None] = None
    """Answers decision reads from kept rows, checked under the lock (engine/stream_versions.py)."""

    def read_expecting_head(
        self, connection: Connection, head: int, statement: DriverStatement, params: Mapping[str, Any]
    ) -> list[Any]:
        """`expect_head`, then the batch's first read (in one round trip where the driver pipelines)."""
        self.expect_head(connection, head)
        return statement.fetch(connection, params)

    def pipeline(self, connection: Connection) -> AbstractContextManager[None]:
        """Send the writes inside as one batch where the driver can; errors surface at the end of
        the block, raised as SQLAlchemy's `DBAPIError`s. Only for statements whose results nobody
        reads before the block ends."""
        return _NO_PIPELINE

    def commit_in_pipeline(self, connection: Connection) -> None:
        """Inside `pipeline`, as its last statement: commit the transaction with the batch's writes,
        where that spares a round trip of its own. The caller's `commit` afterwards then finds
        nothing left to commit. Where the driver has no pipeline this does nothing: the caller's
        `commit` commits."""
        return None

    def copies(self, rows: int) -> bool:
        """Whether `copy_events` would insert this many rows (it needs the log lock taken first)."""
        return False

    def copy_events(self, connection: Connection, rows: list[tuple[Any, ...]]) -> bool:
        """Insert a batch's event rows in bulk if this database has a faster way than `insert_events`
        for them; False when the caller should insert them with `insert_events`."""
        return False

    def insert_events(self, connection: Connection, rows: list[tuple[Any, ...]]) -> None:
        """Insert event rows in `EVENT_COLUMNS` order, already in their stored form."""
        sql = self._insert_events_sql
        if sql is None:
            sql = type(self)._insert_events_sql = self.compile(self._insert_events()).takes_rows_of(
                EVENT_COLUMNS
            )
        self.execute_many(connection, sql, rows)

    _insert_events_sql: ClassVar[str | None] = None

    @abstractmethod
    def _insert_events(self) -> Prepared:
        """The events insert, taking rows in `EVENT_COLUMNS` order."""

    def analyze(self, connection: Connection) -> None:  # most databases need nothing
        """Refresh the planner's statistics on the log before reading all of it (where it has any)."""

    def suspend_derived(
        self, connection: Connection, triggers: Sequence[str], indexes: Sequence[str]
    ) -> list[str]:
        """Stop these triggers and drop these indexes (of the tables the connection reaches first) for
        the rest of the transaction; returns the statements that put them back as they were."""
        return []

    def notify(self, connection: Connection, position: int) -> None:  # most need nothing
        """Tell other processes that the log grew (delivered on commit, dropped on rollback)."""

    def listener(self, on_head: Callable[[int], None]) -> Listener | None:
        """A listener reporting other processes' new heads, where the database can tell them."""
        return None

    # -- stored forms -------------------------------------------------------------------------
    @staticmethod
    @abstractmethod
    def stored_instant(instant: datetime) -> Any:
        """An instant exactly as `UtcDateTime` binds it, for rows handed to the driver."""

    @staticmethod
    @abstractmethod
    def stored_json(value: Any) -> str | None:
        """A document exactly as the shared `Json` type binds it, for rows handed to the driver."""

    # -- projections --------------------------------------------------------------------------
    @abstractmethod
    def bulk_sql(self, bulk: Bulk) -> str:
        """The driver SQL of a bulk write (see `Bulk`)."""

    @abstractmethod
    def write_bulk(self, context: ProjectionContext, bulk: Bulk, rows: Sequence[tuple[Any, ...]]) -> None:
        """Queue a bulk write's rows on the context (in order with its other writes)."""

    @abstractmethod
    def run_ddl(self, connection: Connection, ddl: DialectDDL) -> None:
        """Run this database's part of a projection's extra DDL."""

    @abstractmethod
    def scratch(self) -> AbstractContextManager[Scratch]:
        """An empty scratch place for copies of projection tables; removed on exit."""

    def code_point_order(self, column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
        """`column` for an ORDER BY in Python's string order (code points)."""
        return column

    def starts_with(
        self, column: sa.ColumnElement[str], prefix: str, connection: Connection | None = None
    ) -> sa.ColumnElement[bool]:
        """`column` (one of the log's id columns) starts with `prefix`, exactly (case and every
        character as given), in a form the database can answer from an index on `column` where it
        is able to. `connection`: where a backend may look up how the column is ordered."""
        return column.startswith(prefix, autoescape=True)

    def one_snapshot(self, connection: Connection) -> Connection:
        """`connection`, reading one snapshot of the database for the whole of its transaction."""
        return connection

    # -- migrations ---------------------------------------------------------------------------
    def migration_lock(self, connection: Connection) -> AbstractContextManager[None]:
        """Held while migrating: keeps several processes from migrating one database at once."""
        return _NO_PIPELINE


_NO_PIPELINE: AbstractContextManager[None] = contextlib.nullcontext()
_UPSERTS: dict[tuple[Any, ...], Executable] = {}
"""Upsert statements by (backend, table, key, update): building one is costly, so each is built once."""
_CLASSES: dict[str, type[Backend]] = {}


def register(backend: type[Backend]) -> type[Backend]:
    """Make a backend class the one for its dialect's URLs."""
    _CLASSES[backend.name] = backend
    return backend
