"""Log listeners: the processes following the log's NOTIFY on PostgreSQL.

Not a read model (nothing in the log rebuilds it): each engine's listener registers here, by a
token of its own and its connection's backend pid, and a writer sends NOTIFY only while another
process's listener is registered (engine/backends/postgres_listener.py). Unused on SQLite.

Revision ID: 0019_log_listeners
Revises: 0018_level_checkpoints
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019_log_listeners"
down_revision: str | Sequence[str] | None = "0018_level_checkpoints"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "log_listeners",
        sa.Column("token", sa.String(64), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("token", name="pk_log_listeners"),
    )


def downgrade() -> None:
    op.drop_table("log_listeners")
