"""The values read model: value sessions and their entries.

Revision ID: 0002_values
Revises: 0001_event_log
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from session_engine.engine.log.schema import Position, UtcDateTime
from session_engine.engine.values.tables import JsonValue

revision: str = "0002_values"
down_revision: str | Sequence[str] | None = "0001_event_log"
branch_labels: str | Sequence[str] | None = ("values",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "value_sessions",
        sa.Column("namespace", sa.String(200), nullable=False),
        sa.Column("session_id", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("client_id", sa.String(200), nullable=True),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=True),
        sa.Column("updated_position", Position, nullable=True),
        sa.PrimaryKeyConstraint("namespace", "session_id", name="pk_value_sessions"),
    )
    op.create_index(
        "ix_value_sessions_namespace_updated", "value_sessions", ["namespace", "updated_position"]
    )
    op.create_table(
        "value_entries",
        sa.Column("namespace", sa.String(200), nullable=False),
        sa.Column("session_id", sa.String(200), nullable=False),
        sa.Column("key", sa.String(512), nullable=False),
        sa.Column("value", JsonValue, nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("expires_at", UtcDateTime, nullable=True),
        sa.Column("created_position", Position, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("namespace", "session_id", "key", name="pk_value_entries"),
    )


def downgrade() -> None:
    op.drop_table("value_entries")
    op.drop_index("ix_value_sessions_namespace_updated", table_name="value_sessions")
    op.drop_table("value_sessions")
