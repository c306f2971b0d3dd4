"""What differs between SQLite and PostgreSQL: engines, pragmas, the log lock, notifications.

The write path runs on one connection of a single-connection "writer" pool; reads use a separate
pool, which SQLite's WAL mode serves concurrently with the writer.
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import orjson
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, make_url

from session_engine.engine.log import driver

Durability = Literal["full", "normal", "off"]
NOTIFY_CHANNEL = "session_engine_events"
LOG_LOCK_KEY = 0x5E55_E7E1  # arbitrary: the advisory lock that serialises appends across processes

DEFAULT_URL = "sqlite:///session-engine.db"
WAL_CHECKPOINT_PAGES = 10_000
"""The writer checkpoints SQLite's WAL once it holds this many pages (40 MiB at 4 KiB pages).

SQLite's default, 1,000, checkpoints every ~15 group commits of 64 sessions, and each checkpoint
copies back the same hot index leaves the last one did: a quarter of the commit's cost on the write
path. Ten times fewer checkpoints copy about as many distinct pages each (measured: the commit's
mean 860 -> 610 µs, appends with 64 writers +15-25%). The price is a WAL of up to 40 MiB on disk
and a longer pause (~13 ms) for the one batch that checkpoints.
"""
_HEAD = "SELECT max(position) FROM events"
_LOCK_LOG = f"SELECT pg_advisory_xact_lock({LOG_LOCK_KEY})"
EVENT_COLUMNS = (
    "position, namespace, stream, version, type, schema_version, data, metadata, idempotency_key, recorded_at"
)
COPY_MIN_ROWS = 8
_COPY_EVENTS = f"COPY events ({EVENT_COLUMNS}) FROM STDIN (FORMAT BINARY)"
# Binary COPY carries no types: the server reads each field with its column's input function.
# json's binary form is its text, so the already-encoded documents go as text (oids: int8 20,
# varchar 1043, int4 23, text 25, timestamptz 1184).
_COPY_TYPES = [20, 1043, 1043, 23, 1043, 23, 25, 25, 1043, 1184]


_NO_PIPELINE = contextlib.nullcontext()


def _json_dumps(value: Any) -> str:
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
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise ValueError(f"unsupported database {parsed.get_backend_name()!r}: use sqlite or postgresql")
    return parsed


@dataclass(frozen=True)
class Backend:
    url: URL
    durability: Durability = "full"
    wal_checkpoint_pages: int = WAL_CHECKPOINT_PAGES

    @functools.cached_property
    def name(self) -> str:
        return self.url.get_backend_name()

    @functools.cached_property
    def is_sqlite(self) -> bool:
        return self.name == "sqlite"

    def create_engine(self, *, writer: bool, pool_size: int = 4) -> sa.Engine:
        options: dict[str, Any] = {
            "json_serializer": _json_dumps,
            "json_deserializer": orjson.loads,
        }
        if self.is_sqlite:
            if self.url.database in (None, "", ":memory:"):
                raise ValueError("the engine needs an SQLite file; ':memory:' cannot be shared by its pools")
            options["connect_args"] = {"check_same_thread": False, "timeout": 30}
            options["pool_size"] = 1 if writer else pool_size
            options["max_overflow"] = 0 if writer else pool_size
            options["poolclass"] = sa.QueuePool
        else:
            options["pool_size"] = 1 if writer else pool_size
            options["max_overflow"] = 0 if writer else pool_size
            options["pool_pre_ping"] = not writer
        engine = sa.create_engine(self.url, **options)
        if self.is_sqlite:
            self._configure_sqlite(engine, writer=writer)
        elif self.durability != "full" and writer:
            self._configure_postgres_durability(engine)
        return engine

    def _configure_sqlite(self, engine: sa.Engine, *, writer: bool) -> None:
        synchronous = {"full": "FULL", "normal": "NORMAL", "off": "OFF"}[self.durability]

        @event.listens_for(engine, "connect")
        def _connect(dbapi_connection: Any, _record: Any) -> None:
            # Take transaction control away from pysqlite so BEGIN is ours (SQLAlchemy's recipe).
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA synchronous={synchronous}")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA foreign_keys=ON")
            if writer:  # only the writer commits, so only its setting matters
                cursor.execute(f"PRAGMA wal_autocheckpoint={int(self.wal_checkpoint_pages)}")
                # A WAL that a long reader let grow past twice that is cut back after its checkpoint.
                cursor.execute(f"PRAGMA journal_size_limit={2 * int(self.wal_checkpoint_pages) * 4096}")
            cursor.close()

        begin = "BEGIN IMMEDIATE" if writer else "BEGIN"

        @event.listens_for(engine, "begin")
        def _begin(connection: Connection) -> None:
            # The writer takes the write lock up front, so its reads and writes see one state.
            driver.execute(connection, begin)

    def _configure_postgres_durability(self, engine: sa.Engine) -> None:
        @event.listens_for(engine, "connect")
        def _connect(dbapi_connection: Any, _record: Any) -> None:
            previous = dbapi_connection.autocommit
            dbapi_connection.autocommit = True
            dbapi_connection.execute("SET synchronous_commit = off")
            dbapi_connection.autocommit = previous

    def lock_log(self, connection: Connection) -> None:
        """Serialise appends across processes until this transaction ends.

        Positions are taken under this lock and the lock is released only after commit, so
        positions are gap-free and strictly increasing in commit order: a reader that has seen
        position N will never later find a committed N-1. SQLite's BEGIN IMMEDIATE already does this.
        """
        if not self.is_sqlite:
            connection.exec_driver_sql(_LOCK_LOG)

    def lock_and_read_head(self, connection: Connection) -> int:
        """Take the log lock (see `lock_log`) and read the head position: one round trip.

        On PostgreSQL both statements go out in one pipeline (with the BEGIN); the head query still
        runs after the lock is granted, on a fresh snapshot, so it sees every earlier commit.
        """
        if self.is_sqlite:
            return int(driver.fetch_all(connection, _HEAD)[0][0] or 0)
        with self.pipeline(connection), driver.driver(connection) as dbapi:
            dbapi.execute(_LOCK_LOG)
            cursor = dbapi.execute(_HEAD)
        return int(cursor.fetchone()[0] or 0)

    def pipeline(self, connection: Connection) -> AbstractContextManager[None]:
        """Send the writes inside as one batch (a psycopg pipeline); a no-op on SQLite.

        Only for statements whose results nobody reads before the block ends. Errors surface at
        the end of the block; they are raised as SQLAlchemy's `DBAPIError`s, as if from `execute`.
        """
        if self.is_sqlite:
            return _NO_PIPELINE
        return self._pipeline(connection)

    @contextmanager
    def _pipeline(self, connection: Connection) -> Iterator[None]:
        with driver.driver(connection) as dbapi, dbapi.pipeline():
            yield

    def copy_events(self, connection: Connection, rows: list[tuple[Any, ...]]) -> bool:
        """Insert a batch's event rows with one binary COPY (PostgreSQL, batches of `COPY_MIN_ROWS`+).

        Returns False when the caller should insert them itself (SQLite, small batches). A COPY is
        one statement however many rows it carries: the server skips a statement's start-up and
        the client a row's parameter binding per event (about a third of the client's CPU per row
        of an executemany). It cannot run inside a pipeline, so it costs one round trip of its own,
        which is why a batch of a few rows is not worth it.
        """
        if self.is_sqlite or len(rows) < COPY_MIN_ROWS:
            return False
        with driver.driver(connection) as dbapi, dbapi.cursor() as cursor, cursor.copy(_COPY_EVENTS) as copy:
            copy.set_types(_COPY_TYPES)
            for row in rows:
                copy.write_row(row)
        return True

    def analyze(self, connection: Connection) -> None:
        """Refresh PostgreSQL's statistics on the log before reading all of it.

        A log loaded in bulk (import, restore) has none until autovacuum runs, and without them the
        planner may answer each page of a replay with a scan and a sort: quadratic in the log.
        """
        if not self.is_sqlite:
            connection.exec_driver_sql("ANALYZE events")

    def notify(self, connection: Connection, position: int) -> None:
        """Tell other processes that the log grew (delivered on commit, dropped on rollback)."""
        if not self.is_sqlite:
            driver.execute(connection, f"SELECT pg_notify('{NOTIFY_CHANNEL}', '{int(position)}')")


class PostgresListener:
    """Follows NOTIFY on a thread of its own and reports each new head position."""

    def __init__(self, url: URL, on_head: Callable[[int], None]) -> None:
        self._url = url
        self._on_head = on_head
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="session-engine-listen", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        import psycopg

        conninfo = self._url.set(drivername="postgresql").render_as_string(hide_password=False)
        while not self._stop.is_set():
            try:
                with psycopg.connect(conninfo, autocommit=True) as connection:
                    connection.execute(f"LISTEN {NOTIFY_CHANNEL}")
                    while not self._stop.is_set():
                        for notice in connection.notifies(timeout=0.1, stop_after=64):
                            self._on_head(int(notice.payload))
            except Exception:  # noqa: BLE001 - the server went away: reconnect, subscribers poll meanwhile
                self._stop.wait(1.0)
