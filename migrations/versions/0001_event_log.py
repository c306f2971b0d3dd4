"""The event log, projection checkpoints and the streams catalog.

Revision ID: 0001_event_log
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from session_engine.engine.log.schema import Json, Position, UtcDateTime

revision: str = "0001_event_log"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("core",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("position", Position, primary_key=True, autoincrement=False),
        sa.Column("namespace", sa.String(200), nullable=False),
        sa.Column("stream", sa.String(200), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("type", sa.String(200), nullable=False),
        sa.Column("schema_version", sa.Integer, nullable=False),
        sa.Column("data", Json, nullable=False),
        sa.Column("metadata", Json, nullable=False),
        sa.Column("idempotency_key", sa.String(200), nullable=True),
        sa.Column("recorded_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("position", name="pk_events"),
        sa.UniqueConstraint("namespace", "stream", "version", name="uq_events_namespace_stream_version"),
    )
    op.create_index(
        "ix_events_idempotency", "events", ["namespace", "stream", "idempotency_key"], unique=True
    )
    op.create_table(
        "projection_checkpoints",
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("position", Position, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_projection_checkpoints"),
    )
    op.create_table(
        "streams",
        sa.Column("namespace", sa.String(200), nullable=False),
        sa.Column("stream", sa.String(200), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("first_position", Position, nullable=False),
        sa.Column("last_position", Position, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("namespace", "stream", name="pk_streams"),
    )
    op.create_index("ix_streams_namespace_updated", "streams", ["namespace", "last_position"])


def downgrade() -> None:
    op.drop_table("streams")
    op.drop_table("projection_checkpoints")
    op.drop_table("events")
