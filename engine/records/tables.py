"""The records read model's tables: one row per live record, its agents, and status counts.

A deleted record has no row (its events stay in the log). Every list is an index walk: the order
is `last_activity_at DESC, session_id DESC` and each filter has an index ending in those columns.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from session_engine.engine.log.schema import Json, metadata
from session_engine.engine.projections.base import DerivedIndex, dialect_ddl

SessionKey = sa.String(200).with_variant(postgresql.VARCHAR(200, collation="C"), "postgresql")
"""Session ids sort by code point on both backends (the list tie-breaker), whatever the database's locale."""

Millis: sa.Double[float] = sa.Double()
"""Epoch milliseconds as the client gave them (a JavaScript number: a double)."""

session_records = sa.Table(
    "session_records",
    metadata,
    sa.Column("namespace", sa.String(200), primary_key=True),
    sa.Column("session_id", SessionKey, primary_key=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("created_at", Millis, nullable=False),
    sa.Column("last_activity_at", Millis, nullable=False),
    sa.Column("parent_session_id", sa.String(200), nullable=True),
    sa.Column("adapter_session_id", sa.String(200), nullable=True),
    sa.Column("execution_target_id", sa.String(200), nullable=True),
    sa.Column("is_imported", sa.Boolean, nullable=False),
    sa.Column("title_folded", sa.Text, nullable=True),
    sa.Column("record", Json, nullable=False),
    sa.Index("ix_session_records_recent", "namespace", "last_activity_at", "session_id"),
    sa.Index("ix_session_records_status_recent", "namespace", "status", "last_activity_at", "session_id"),
    sa.Index(
        "ix_session_records_target_recent",
        "namespace",
        "execution_target_id",
        "last_activity_at",
        "session_id",
    ),
    sa.Index("ix_session_records_children", "namespace", "parent_session_id", "created_at", "session_id"),
    sa.Index("ix_session_records_adapter", "namespace", "adapter_session_id"),
)
"""record: the record as stored. title_folded: the title case-folded in Python (the same on both backends)."""

# Title search is a substring match (`LIKE '%q%'`). PostgreSQL answers it from a trigram index;
# SQLite from an FTS5 trigram index (below), or for a query under 3 characters from a covering
# index, which is scanned but never touches the records themselves.
sa.Index("ix_session_records_titles", session_records.c.namespace, session_records.c.title_folded).ddl_if(
    dialect="sqlite"
)
sa.Index(
    "ix_session_records_titles_trgm",
    session_records.c.title_folded,
    postgresql_using="gin",
    postgresql_ops={"title_folded": "gin_trgm_ops"},
).ddl_if(dialect="postgresql")
# Search counts its hits with one probe per matching session id; with a status / isImported filter
# the primary key alone would send each probe to the record's row (large JSON). PostgreSQL counts
# with a join over an index that holds the filter (the status index) instead.
sa.Index(
    "ix_session_records_filters",
    session_records.c.namespace,
    session_records.c.session_id,
    session_records.c.status,
    session_records.c.is_imported,
).ddl_if(dialect="sqlite")

TITLE_FTS = "session_titles_fts"
TITLE_FTS_TABLES = (TITLE_FTS, *(f"{TITLE_FTS}_{suffix}" for suffix in ("config", "data", "docsize", "idx")))
SQLITE_TITLE_FTS_DDL = (
    f"CREATE VIRTUAL TABLE IF NOT EXISTS {TITLE_FTS} USING fts5("
    "title, content='', tokenize='trigram case_sensitive 1')",
    f"CREATE TRIGGER IF NOT EXISTS {TITLE_FTS}_ai AFTER INSERT ON session_records"
    " WHEN new.title_folded IS NOT NULL BEGIN"
    f" INSERT INTO {TITLE_FTS}(rowid, title) VALUES (new.rowid, new.title_folded); END",
    f"CREATE TRIGGER IF NOT EXISTS {TITLE_FTS}_ad AFTER DELETE ON session_records"
    " WHEN old.title_folded IS NOT NULL BEGIN"
    f" INSERT INTO {TITLE_FTS}({TITLE_FTS}, rowid, title)"
    " VALUES ('delete', old.rowid, old.title_folded); END",
    f"CREATE TRIGGER IF NOT EXISTS {TITLE_FTS}_au AFTER UPDATE OF title_folded ON session_records"
    " WHEN old.title_folded IS NOT new.title_folded BEGIN"
    f" INSERT INTO {TITLE_FTS}({TITLE_FTS}, rowid, title)"
    " SELECT 'delete', old.rowid, old.title_folded WHERE old.title_folded IS NOT NULL;"
    f" INSERT INTO {TITLE_FTS}(rowid, title) SELECT new.rowid, new.title_folded"
    " WHERE new.title_folded IS NOT NULL; END",
)
"""SQLite: a contentless FTS5 trigram index of `title_folded`, keyed by the record's rowid and kept
in step by triggers. It answers "the title contains q" (q of 3+ characters) as a phrase of trigrams:
candidates only - the query rechecks `LIKE` on the row. (PostgreSQL: the pg_trgm GIN index above.)"""


title_index = DerivedIndex(
    triggers=(f"{TITLE_FTS}_ai", f"{TITLE_FTS}_ad", f"{TITLE_FTS}_au"),
    fill=dialect_ddl(
        sqlite=[
            f"INSERT INTO {TITLE_FTS}({TITLE_FTS}) VALUES ('delete-all')",
            f"INSERT INTO {TITLE_FTS}(rowid, title)"
            " SELECT rowid, title_folded FROM session_records WHERE title_folded IS NOT NULL",
        ]
    ),
    indexes=("ix_session_records_titles_trgm",),  # PostgreSQL's trigram index, built once at the end
    full_text=True,
)
"""The title index as its triggers leave it, made from the final records in one statement."""

create_title_index = dialect_ddl(sqlite=SQLITE_TITLE_FTS_DDL)
"""`extra_ddl` for scratch copies (SQLite); PostgreSQL's trigram index is part of the metadata."""


session_agents = sa.Table(
    "session_agents",
    metadata,
    sa.Column("namespace", sa.String(200), primary_key=True),
    sa.Column("session_id", sa.String(200), primary_key=True),
    sa.Column("ordinal", sa.Integer, primary_key=True),
    sa.Column("agent_id", sa.Text, nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("adapter_id", sa.Text, nullable=False),
    sa.Column("adapter_session_id", sa.Text, nullable=True),
)
"""The agents of each live record, in the record's order: who works in which session."""

session_status_counts = sa.Table(
    "session_status_counts",
    metadata,
    sa.Column("namespace", sa.String(200), primary_key=True),
    sa.Column("status", sa.String(16), primary_key=True),
    sa.Column("count", sa.Integer, nullable=False),
)
"""Live records per status, kept by the projection: counts and list totals without a scan."""
