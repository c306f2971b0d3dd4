"""The event log's tables (SQLAlchemy Core). Alembic migrations in `migrations/` create them.

Every read model of every domain is declared on the same `metadata`, so one comparison proves that
the migrated schema matches the code.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Dialect,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)

from session_engine.engine.clock import as_utc

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class _JsonText(TypeDecorator[Any]):
    """JSON in a TEXT column, for SQLite.

    A column declared JSON gets SQLite's NUMERIC affinity, which turns a stored scalar such as
    "0" into the integer 0 and breaks decoding; TEXT affinity keeps the document as written.
    """

    impl = Text()
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else orjson.dumps(value).decode()

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        return None if value is None else orjson.loads(value)

    def result_processor(self, dialect: Dialect, coltype: object) -> Callable[[Any], Any]:
        """`process_result_value` itself: TypeDecorator's wrapper around it was a second Python call
        per document read."""
        return _json_value


def _json_value(value: Any) -> Any:
    return None if value is None else orjson.loads(value)


Json = JSON().with_variant(_JsonText(), "sqlite")
"""JSON documents, stored as text on both backends (`json` on PostgreSQL, TEXT on SQLite).

Not JSONB: PostgreSQL's jsonb refuses strings holding U+0000, which SQLite and JSON itself accept,
so the log could not store every event it is given; `json` keeps the exact text and inserts faster.
"""

Position = BigInteger().with_variant(Integer(), "sqlite")
"""A global log position. On SQLite an INTEGER primary key is the rowid itself."""


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC instant on every backend (SQLite hands back naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = as_utc(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        return None if value is None else as_utc(value)

    def result_processor(self, dialect: Dialect, coltype: object) -> Callable[[Any], datetime | None]:
        """On SQLite, `instant_from_stored` itself: the impl's parser wrapped in TypeDecorator's call
        and `as_utc`'s `replace` cost several times the parse of each instant read."""
        if dialect.name == "sqlite":
            return _stored_or_none
        return super().result_processor(dialect, coltype)  # type: ignore[return-value]


def _stored_or_none(value: Any) -> datetime | None:
    return None if value is None else instant_from_stored(value)


def instant_from_stored(value: Any) -> datetime:
    """The inverse of `Backend.stored_instant`: what `UtcDateTime` reads back, for driver-level reads."""
    if isinstance(value, str):
        try:  # naive UTC text: parsed with its offset, without `replace`'s keyword call and copy
            return datetime.fromisoformat(value + "+00:00")
        except ValueError:
            return datetime.fromisoformat(value).replace(tzinfo=UTC)
    return as_utc(value)


events = Table(
    "events",
    metadata,
    Column("position", Position, primary_key=True, autoincrement=False),
    Column("namespace", String(200), nullable=False),
    Column("stream", String(200), nullable=False),
    Column("version", Integer, nullable=False),
    Column("type", String(200), nullable=False),
    Column("schema_version", Integer, nullable=False),
    Column("data", Json, nullable=False),
    Column("metadata", Json, nullable=False, key="meta"),
    Column("idempotency_key", String(200), nullable=True),
    Column("recorded_at", UtcDateTime, nullable=False),
    # SHA-256 chained to the previous event's (engine/log/chain.py, specs/audit.md). Nullable only
    # because a column added to a filled SQLite table must be; every row has one after 0011.
    Column("hash", LargeBinary, nullable=True),
    # The payload sealed with its session's key, as bytes (engine/log/sealing.py), with `data` then
    # the fixed `sealing.STORED_AS_BYTES`; NULL for a plain payload and for one sealed before 0015
    # (held in `data` as base64 text).
    Column("sealed", LargeBinary, nullable=True),
    UniqueConstraint("namespace", "stream", "version"),
    Index(
        "ix_events_idempotency",
        "namespace",
        "stream",
        "idempotency_key",
        unique=True,
        sqlite_where=text("idempotency_key IS NOT NULL"),
        postgresql_where=text("idempotency_key IS NOT NULL"),
    ),
    # The sessions list walks a namespace's events newest first (engine/inspect/history.py).
    Index("ix_events_namespace_position", "namespace", "position"),
)

checkpoints = Table(
    "projection_checkpoints",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("position", Position, nullable=False),
    Column("version", Integer, nullable=False),
)

snapshots = Table(
    "snapshots",
    metadata,
    # Derived data (specs/audit.md, "Snapshots"): one session's read models as of a version, so
    # time travel folds only the events after it. Keyed by the projections' fingerprint: rows
    # another code or schema wrote are never served (a retention base may be, by its `shape`).
    Column("namespace", String(200), primary_key=True),
    Column("stream", String(200), primary_key=True),
    Column("fingerprint", String(64), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("shape", String(64), nullable=False),
    Column("position", BigInteger, nullable=False),
    Column("recorded_at", UtcDateTime, nullable=False),
    Column("event_hash", LargeBinary, nullable=False),
    Column("pinned", Integer, nullable=False),
    Column("tables", LargeBinary, nullable=False),
    Column("state", LargeBinary, nullable=True),
    Column("digest", LargeBinary, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

session_keys = Table(
    "session_keys",
    metadata,
    Column("namespace", String(200), primary_key=True),
    Column("stream", String(200), primary_key=True),
    # The first version this key seals: a session recreated after its erasure gets a new key.
    Column("since_version", Integer, primary_key=True),
    # NULL once erased: the key is destroyed, the ciphertext it sealed can never be read again.
    Column("key", LargeBinary, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("erased_at", UtcDateTime, nullable=True),
)
"""Per-session AES-GCM keys of the namespaces that encrypt their payloads (engine/log/sealing.py,
specs/lifecycle.md "Verifiable erasure")."""

removed_keys = Table(
    "removed_keys",
    metadata,
    Column("namespace", String(200), primary_key=True),
    Column("stream", String(200), primary_key=True),
    Column("idempotency_key", String(200), primary_key=True),
    Column("first_version", Integer, nullable=False),
    Column("last_version", Integer, nullable=False),
    Column("first_position", BigInteger, nullable=False),
    Column("last_position", BigInteger, nullable=False),
)
"""The idempotency keys of appends whose events retention removed, with where the append landed:
a retried write still answers the first outcome (engine/log/removed_keys.py). Each row is also in
the `retention_run` that removed it, so an import restores the table from the log."""

log_listeners = Table(
    "log_listeners",
    metadata,
    Column("token", String(64), primary_key=True),
    Column("pid", Integer, nullable=False),
)
"""The processes following the log's NOTIFY on PostgreSQL, each by its listener's token and the
backend pid of its connection (engine/backends/postgres_listener.py): a writer notifies only while
another process's listener is registered here. Unused on SQLite, which has no NOTIFY."""
