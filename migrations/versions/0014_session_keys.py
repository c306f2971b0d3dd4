"""Per-session encryption keys: erasing a session destroys its key (crypto-shredding).

Events of a namespace configured to encrypt store their data sealed with their session's key
(engine/log/sealing.py); erasure sets the key to NULL. specs/lifecycle.md "Verifiable erasure".

Revision ID: 0014_session_keys
Revises: 0012_events_namespace_position
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from session_engine.engine.log.schema import UtcDateTime

revision: str = "0014_session_keys"
# 0013_snapshots (branch i18-snapshots) may land first: then this follows it (the lead sets it).
down_revision: str | Sequence[str] | None = "0012_events_namespace_position"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "session_keys",
        sa.Column("namespace", sa.String(200), nullable=False),
        sa.Column("stream", sa.String(200), nullable=False),
        sa.Column("since_version", sa.Integer, nullable=False),
        sa.Column("key", sa.LargeBinary, nullable=True),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("erased_at", UtcDateTime, nullable=True),
        sa.PrimaryKeyConstraint("namespace", "stream", "since_version", name="pk_session_keys"),
    )


def downgrade() -> None:
    op.drop_table("session_keys")
