"""The values read model's tables: one row per session that ever held a value or was opened as a
connection-bound one, one row per live-or-expired value.

Expired rows stay until the session's next clear, end or overwrite of that key (or a purge):
expiry is a read-time question (against the engine clock), so the tables are a pure function of
the log.
"""

from __future__ import annotations

from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from session_engine.engine.log.schema import Position, UtcDateTime, metadata


class JsonValue(sa.types.TypeDecorator[Any]):
    """Any JSON document, scalars included: JSONB on PostgreSQL, TEXT on SQLite.

    Not the shared `Json` type: SQLite gives a column declared JSON numeric affinity, which turns
    the stored text `0` into the integer 0 (and big integers into lossy reals).
    """

    impl = sa.Text
    cache_ok = True

    def load_dialect_impl(self, dialect: sa.Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(JSONB(none_as_null=False))
        return dialect.type_descriptor(sa.Text())

    def process_bind_param(self, value: Any, dialect: sa.Dialect) -> Any:
        return value if dialect.name == "postgresql" else orjson.dumps(value).decode()

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> Any:
        return value if dialect.name == "postgresql" or value is None else orjson.loads(value)


value_sessions = sa.Table(
    "value_sessions",
    metadata,
    sa.Column("namespace", sa.String(200), primary_key=True),
    sa.Column("session_id", sa.String(200), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("client_id", sa.String(200), nullable=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=True),
    sa.Column("updated_position", Position, nullable=True),
    # Listing walks this index newest first; positions never tie, timestamps can.
    sa.Index("ix_value_sessions_namespace_updated", "namespace", "updated_position"),
)
"""kind: connection | durable. status: open | disconnected | ended (connection), active (durable).
updated_*: the last change to the session's values (set, delete, clear, end)."""

value_entries = sa.Table(
    "value_entries",
    metadata,
    sa.Column("namespace", sa.String(200), primary_key=True),
    sa.Column("session_id", sa.String(200), primary_key=True),
    sa.Column("key", sa.String(512), primary_key=True),
    sa.Column("value", JsonValue, nullable=False),
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("expires_at", UtcDateTime, nullable=True),
    sa.Column("created_position", Position, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
)
"""created_position: where the key was last created (not overwritten); orders user parts."""
