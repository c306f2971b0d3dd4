"""Drop the streams catalog: a read model no read used, written on every append.

It cost an upsert per stream in every batch (about a fifth of a group commit on PostgreSQL) to
answer no query: `status` counts streams from the log's own (namespace, stream, version) index,
and each domain keeps the read models its reads need.

Revision ID: 0009_drop_streams_catalog
Revises: 0007_records_title_trigrams
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from session_engine.engine.log.schema import Position, UtcDateTime

revision: str = "0009_drop_streams_catalog"
down_revision: str | Sequence[str] | None = "0007_records_title_trigrams"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_table("streams")
    op.execute("DELETE FROM projection_checkpoints WHERE name = 'streams'")


def downgrade() -> None:
    # Recreated empty and without a checkpoint: the engine that wants it rebuilds it from the log.
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
