"""Session records (Makaio storage:session): records, their agents, and status counts.

Revision ID: 0004_records
Revises: 0001_event_log
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from session_engine.engine.log.schema import Json

revision: str = "0004_records"
down_revision: str | Sequence[str] | None = "0001_event_log"
branch_labels: str | Sequence[str] | None = ("records",)
depends_on: str | Sequence[str] | None = None

SessionKey = sa.String(200).with_variant(postgresql.VARCHAR(200, collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table(
        "session_records",
        sa.Column("namespace", sa.String(200), nullable=False),
        sa.Column("session_id", SessionKey, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("last_activity_at", sa.Double(), nullable=False),
        sa.Column("parent_session_id", sa.String(200), nullable=True),
        sa.Column("adapter_session_id", sa.String(200), nullable=True),
        sa.Column("execution_target_id", sa.String(200), nullable=True),
        sa.Column("is_imported", sa.Boolean, nullable=False),
        sa.Column("title_folded", sa.Text, nullable=True),
        sa.Column("record", Json, nullable=False),
        sa.PrimaryKeyConstraint("namespace", "session_id", name="pk_session_records"),
    )
    indexes = {
        "ix_session_records_recent": ["namespace", "last_activity_at", "session_id"],
        "ix_session_records_status_recent": ["namespace", "status", "last_activity_at", "session_id"],
        "ix_session_records_target_recent": [
            "namespace",
            "execution_target_id",
            "last_activity_at",
            "session_id",
        ],
        "ix_session_records_children": ["namespace", "parent_session_id", "created_at", "session_id"],
        "ix_session_records_adapter": ["namespace", "adapter_session_id"],
    }
    for name, columns in indexes.items():
        op.create_index(name, "session_records", columns)
    op.create_table(
        "session_agents",
        sa.Column("namespace", sa.String(200), nullable=False),
        sa.Column("session_id", sa.String(200), nullable=False),
        sa.Column("ordinal", sa.Integer, nullable=False),
        sa.Column("agent_id", sa.Text, nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("adapter_id", sa.Text, nullable=False),
        sa.Column("adapter_session_id", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("namespace", "session_id", "ordinal", name="pk_session_agents"),
    )
    op.create_table(
        "session_status_counts",
        sa.Column("namespace", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("namespace", "status", name="pk_session_status_counts"),
    )


def downgrade() -> None:
    op.drop_table("session_status_counts")
    op.drop_table("session_agents")
    op.drop_table("session_records")
