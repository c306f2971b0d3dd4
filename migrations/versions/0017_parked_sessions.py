"""Parked sessions: websocket sessions waiting for their client, resumable through any process.

Not a read model (nothing in the log rebuilds it): which resume secret (its SHA-256 only) may take
back which disconnected session, until when. specs/operations.md "Several processes on one database".

Revision ID: 0017_parked_sessions
Revises: 0016_removed_keys
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from session_engine.engine.log.schema import Json, UtcDateTime

revision: str = "0017_parked_sessions"
down_revision: str | Sequence[str] | None = "0016_removed_keys"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "parked_sessions",
        sa.Column("secret_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("namespace", sa.String(200), nullable=False),
        sa.Column("session_id", sa.String(200), nullable=False),
        sa.Column("client_id", sa.String(200), nullable=True),
        sa.Column("tenant", sa.String(200), nullable=False),
        sa.Column("recent_actions", Json, nullable=False),
        sa.Column("parked_by", sa.String(64), nullable=False),
        sa.Column("parked_at", UtcDateTime, nullable=False),
        sa.Column("expires_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("secret_hash", name="pk_parked_sessions"),
    )
    op.create_index("ix_parked_sessions_expires_at", "parked_sessions", ["expires_at"])
    op.create_index("ix_parked_sessions_parked_by", "parked_sessions", ["parked_by"])


def downgrade() -> None:
    op.drop_index("ix_parked_sessions_parked_by", table_name="parked_sessions")
    op.drop_index("ix_parked_sessions_expires_at", table_name="parked_sessions")
    op.drop_table("parked_sessions")
