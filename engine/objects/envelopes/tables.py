"""The envelopes' tables: one row per session object, and a `messages` object's messages.

Children of every subdomain are keyed by `object_id` (the log position of the event that created
the object): short keys for big indexes, and a cascade is one indexed delete per table.
Migration 0003_objects creates these tables and the other objects subdomains'.
"""

from __future__ import annotations

import sqlalchemy as sa

from session_engine.engine.log.schema import Json, Position, UtcDateTime, metadata

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
