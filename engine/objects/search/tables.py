"""The search read model's tables: one row per message or text thread item (its full-text
index: FTS5 on SQLite, a GIN index on PostgreSQL), and the term index folded to sessions."""

from __future__ import annotations

import sqlalchemy as sa

from session_engine.engine.log.schema import Position, metadata
from session_engine.engine.objects.limits import Seq
from session_engine.engine.projections.base import DerivedIndex, dialect_ddl

FTS_CONFIG = "english"
FTS_TOKENIZE = "porter unicode61"
"""SQLite FTS5's tokenizer for messages (PostgreSQL: the `FTS_CONFIG` text search configuration)."""

messages = sa.Table(
    "messages",
    metadata,
    sa.Column("id", Seq, primary_key=True, autoincrement=False),
    sa.Column("object_id", Position, nullable=False),
    sa.Column("namespace", sa.String(200), nullable=False),
    sa.Column("session_id", sa.String(200), nullable=False),
    sa.Column("source_alias", sa.String(200), nullable=False),
    sa.Column("ordinal", Seq, nullable=False),
    sa.Column("role", sa.String(20), nullable=True),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("position", Position, nullable=False),
    sa.Index("ix_messages_object_id", "object_id"),
    sa.Index("ix_messages_namespace_session_id_id", "namespace", "session_id", "id"),
)
"""The messages read model: one row per message / text thread item. `id` = position * ROW_STRIDE + i."""

search_vector = sa.func.to_tsvector(sa.literal_column(f"'{FTS_CONFIG}'::regconfig"), messages.c.text)
sa.Index("ix_messages_fts", search_vector, postgresql_using="gin", _table=messages).ddl_if(
    dialect="postgresql"
)

message_terms = sa.Table(
    "message_terms",
    metadata,
    sa.Column("namespace", sa.String(200), nullable=False),
    sa.Column("session_id", sa.String(200), nullable=False),
    sa.Column("term", sa.Text, nullable=False),
    sa.Column("messages", sa.Integer, nullable=False),
    sa.Column("record_status", sa.String(16), nullable=True),
    sa.Column("record_imported", sa.Boolean, nullable=True),
    # PostgreSQL: the record columns ride in the key's index, so a search counts a term's live
    # sessions by an index-only scan of its range (SQLite's WITHOUT ROWID key holds every column).
    sa.PrimaryKeyConstraint(
        "namespace", "term", "session_id", postgresql_include=["record_status", "record_imported"]
    ),
    sa.Index("ix_message_terms_namespace_session_id", "namespace", "session_id"),
    sqlite_with_rowid=False,
)
"""The full-text index folded to sessions: `messages` of the session's message rows contain `term`
(> 0). Kept by triggers on `messages` (engine/objects/search/terms.py); a term's sessions are one range.

`record_status` / `record_imported`: the session's live record's `status` and `isImported` (both
null when it has none), so a records search counts its matches without a join. Copied from
`session_records` when a term row is created, and kept by triggers on `session_records`
(engine/records/term_filters.py); the session index serves those."""

FTS_TABLE = "messages_fts"
FTS_TABLES = (FTS_TABLE, *(f"{FTS_TABLE}_{suffix}" for suffix in ("config", "data", "docsize", "idx")))
SQLITE_FTS_DDL = (
    f"CREATE VIRTUAL TABLE IF NOT EXISTS {FTS_TABLE} USING fts5("
    f"text, content='messages', content_rowid='id', tokenize='{FTS_TOKENIZE}')",
    f"CREATE TRIGGER IF NOT EXISTS {FTS_TABLE}_ai AFTER INSERT ON messages BEGIN "
    f"INSERT INTO {FTS_TABLE}(rowid, text) VALUES (new.id, new.text); END",
    f"CREATE TRIGGER IF NOT EXISTS {FTS_TABLE}_ad AFTER DELETE ON messages BEGIN "
    f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, text) VALUES ('delete', old.id, old.text); END",
)
"""SQLite: an external-content FTS5 index kept in step with `messages` by triggers."""


search_index = DerivedIndex(
    triggers=(f"{FTS_TABLE}_ai", f"{FTS_TABLE}_ad"),
    fill=dialect_ddl(sqlite=[f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('rebuild')"]),
    indexes=("ix_messages_fts",),  # PostgreSQL's GIN index, built once at the end
    full_text=True,
)
"""The full-text index of the final messages, in one pass (FTS5's `rebuild` reads its content table)."""

create_search_index = dialect_ddl(sqlite=SQLITE_FTS_DDL)
"""`extra_ddl` for scratch copies (SQLite); PostgreSQL's GIN index is part of the metadata."""
