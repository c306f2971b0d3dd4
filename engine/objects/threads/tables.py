"""The threads' table: one row per posted item, keyed by its thread's `object_id`."""

from __future__ import annotations

import sqlalchemy as sa

from session_engine.engine.log.schema import Json, Position, UtcDateTime, metadata

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
