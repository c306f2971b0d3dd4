"""Typed session objects: envelopes, messages (+ full-text index), thread items, graph elements.

Revision ID: 0003_objects
Revises: 0001_event_log
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from session_engine.engine.log.schema import Json, Position, UtcDateTime

revision: str = "0003_objects"
down_revision: str | Sequence[str] | None = "0001_event_log"
branch_labels: str | Sequence[str] | None = ("objects",)
depends_on: str | Sequence[str] | None = None

Seq = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
FTS_DDL = (
    "CREATE VIRTUAL TABLE messages_fts USING fts5("
    "text, content='messages', content_rowid='id', tokenize='porter unicode61')",
    "CREATE TRIGGER messages_fts_ai AFTER INSERT ON messages BEGIN "
    "INSERT INTO messages_fts(rowid, text) VALUES (new.id, new.text); END",
    "CREATE TRIGGER messages_fts_ad AFTER DELETE ON messages BEGIN "
    "INSERT INTO messages_fts(messages_fts, rowid, text) VALUES ('delete', old.id, old.text); END",
)


def upgrade() -> None:
    op.create_table(
        "session_objects",
        sa.Column("namespace", sa.String(200), nullable=False),
        sa.Column("session_id", sa.String(200), nullable=False),
        sa.Column("alias", sa.String(200), nullable=False),
        sa.Column("object_id", Position, nullable=False),
        sa.Column("type", sa.String(20), nullable=False),
        sa.Column("value", Json, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.Column("position", Position, nullable=False),
        sa.PrimaryKeyConstraint("namespace", "session_id", "alias", name="pk_session_objects"),
    )
    op.create_index("ix_session_objects_object_id", "session_objects", ["object_id"], unique=True)
    op.create_table(
        "object_messages",
        sa.Column("object_id", Position, nullable=False),
        sa.Column("ordinal", sa.Integer, nullable=False),
        sa.Column("message", Json, nullable=False),
        sa.PrimaryKeyConstraint("object_id", "ordinal", name="pk_object_messages"),
    )
    op.create_table(
        "thread_items",
        sa.Column("object_id", Position, nullable=False),
        sa.Column("seq", Position, nullable=False),
        sa.Column("item_id", sa.String(200), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("user_id", sa.String(200), nullable=True),
        sa.Column("content", Json, nullable=False),
        sa.Column("parent_id", sa.String(200), nullable=True),
        sa.Column("item_metadata", Json, nullable=True),
        sa.PrimaryKeyConstraint("object_id", "seq", name="pk_thread_items"),
    )
    op.create_index(
        "ix_thread_items_object_id_item_id", "thread_items", ["object_id", "item_id"], unique=True
    )
    op.create_index(
        "ix_thread_items_object_id_created_at", "thread_items", ["object_id", "created_at", "seq"]
    )
    op.create_table(
        "graph_elements",
        sa.Column("object_id", Position, nullable=False),
        sa.Column("element_id", sa.String(200), nullable=False),
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
        sa.PrimaryKeyConstraint("object_id", "element_id", name="pk_graph_elements"),
    )
    for name, columns, unique in (
        ("created_seq", ["object_id", "created_seq"], True),
        ("updated_seq", ["object_id", "updated_seq"], False),
        ("type_created_seq", ["object_id", "type", "created_seq"], False),
        ("from_id_created_seq", ["object_id", "from_id", "created_seq"], False),
        ("to_id_created_seq", ["object_id", "to_id", "created_seq"], False),
    ):
        op.create_index(f"ix_graph_elements_object_id_{name}", "graph_elements", columns, unique=unique)
    op.create_table(
        "graph_vertex_labels",
        sa.Column("object_id", Position, nullable=False),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("element_id", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("object_id", "label", "element_id", name="pk_graph_vertex_labels"),
    )
    op.create_index(
        "ix_graph_vertex_labels_object_id_element_id", "graph_vertex_labels", ["object_id", "element_id"]
    )
    op.create_table(
        "messages",
        sa.Column("id", Seq, nullable=False, autoincrement=False),
        sa.Column("object_id", Position, nullable=False),
        sa.Column("namespace", sa.String(200), nullable=False),
        sa.Column("session_id", sa.String(200), nullable=False),
        sa.Column("source_alias", sa.String(200), nullable=False),
        sa.Column("ordinal", Seq, nullable=False),
        sa.Column("role", sa.String(20), nullable=True),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("position", Position, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_messages"),
    )
    op.create_index("ix_messages_object_id", "messages", ["object_id"])
    op.create_index("ix_messages_namespace_session_id_id", "messages", ["namespace", "session_id", "id"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE INDEX ix_messages_fts ON messages USING gin (to_tsvector('english'::regconfig, text))"
        )
    else:
        for statement in FTS_DDL:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS messages_fts_ai")
        op.execute("DROP TRIGGER IF EXISTS messages_fts_ad")
        op.execute("DROP TABLE IF EXISTS messages_fts")
    for table in ("messages", "graph_vertex_labels", "graph_elements", "thread_items", "object_messages"):
        op.drop_table(table)
    op.drop_table("session_objects")
