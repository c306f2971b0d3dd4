"""Read-model tables of the objects domain (migration 0003_objects creates them).

Children are keyed by `object_id` (the log position of the event that created the object): short
keys for big indexes, and a cascade is one indexed delete per table.
"""

from __future__ import annotations

import sqlalchemy as sa

from session_engine.engine.log.schema import Json, Position, UtcDateTime, metadata
from session_engine.engine.projections.base import dialect_ddl

Seq = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
FTS_CONFIG = "english"
FTS_TOKENIZE = "porter unicode61"
"""SQLite FTS5's tokenizer for messages (PostgreSQL: the `FTS_CONFIG` text search configuration)."""

session_objects = sa.Table(
    "session_objects",
    metadata,
    sa.Column("namespace", sa.String(200), primary_key=True),
    sa.Column("session_id", sa.String(200), primary_key=True),
    sa.Column("alias", sa.String(200), primary_key=True),
    sa.Column("object_id", Position, nullable=False),
    sa.Column("type", sa.String(20), nullable=False),
    sa.Column("value", Json, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Column("position", Position, nullable=False),
    sa.Index("ix_session_objects_object_id", "object_id", unique=True),
)

object_messages = sa.Table(
    "object_messages",
    metadata,
    sa.Column("object_id", Position, primary_key=True),
    sa.Column("ordinal", sa.Integer, primary_key=True),
    sa.Column("message", Json, nullable=False),
)

thread_items = sa.Table(
    "thread_items",
    metadata,
    sa.Column("object_id", Position, primary_key=True),
    sa.Column("seq", Position, primary_key=True),
    sa.Column("item_id", sa.String(200), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("user_id", sa.String(200), nullable=True),
    sa.Column("content", Json, nullable=False),
    sa.Column("parent_id", sa.String(200), nullable=True),
    sa.Column("item_metadata", Json, nullable=True),
    sa.Index("ix_thread_items_object_id_item_id", "object_id", "item_id", unique=True),
    sa.Index("ix_thread_items_object_id_created_at", "object_id", "created_at", "seq"),
)

graph_elements = sa.Table(
    "graph_elements",
    metadata,
    sa.Column("object_id", Position, primary_key=True),
    sa.Column("element_id", sa.String(200), primary_key=True),
    sa.Column("type", sa.String(8), nullable=False),
    sa.Column("labels", Json, nullable=True),
    sa.Column("label", sa.String(200), nullable=True),
    sa.Column("from_id", sa.String(200), nullable=True),
    sa.Column("to_id", sa.String(200), nullable=True),
    sa.Column("props", Json, nullable=False),
    sa.Column("rev", sa.Integer, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Column("user_id", sa.String(200), nullable=True),
    sa.Column("created_seq", Seq, nullable=False),
    sa.Column("updated_seq", Seq, nullable=False),
    sa.Index("ix_graph_elements_object_id_created_seq", "object_id", "created_seq", unique=True),
    sa.Index("ix_graph_elements_object_id_updated_seq", "object_id", "updated_seq"),
    sa.Index("ix_graph_elements_object_id_type_created_seq", "object_id", "type", "created_seq"),
    sa.Index("ix_graph_elements_object_id_from_id_created_seq", "object_id", "from_id", "created_seq"),
    sa.Index("ix_graph_elements_object_id_to_id_created_seq", "object_id", "to_id", "created_seq"),
)

vertex_labels = sa.Table(
    "graph_vertex_labels",
    metadata,
    sa.Column("object_id", Position, primary_key=True),
    sa.Column("label", sa.String(200), primary_key=True),
    sa.Column("element_id", sa.String(200), primary_key=True),
    sa.Index("ix_graph_vertex_labels_object_id_element_id", "object_id", "element_id"),
)

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
(> 0). Kept by triggers on `messages` (engine/objects/terms.py); a term's sessions are one range.

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


create_search_index = dialect_ddl(sqlite=SQLITE_FTS_DDL)
"""`extra_ddl` for scratch copies (SQLite); PostgreSQL's GIN index is part of the metadata."""
