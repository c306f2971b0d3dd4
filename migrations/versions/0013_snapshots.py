"""Snapshots: a session's read models as of a version, for fast time travel and retention bases.

Derived data (specs/audit.md, "Snapshots"): time travel loads the newest snapshot at or before the
point asked for and folds only the events after it. A pinned snapshot is a retention base: the
state at and after its version stays exact once the events up to it are deleted.

Revision ID: 0013_snapshots
Revises: 0014_session_keys (merged first; the revision keeps the name agreed with the other helpers)
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from session_engine.engine.log.schema import UtcDateTime

revision: str = "0013_snapshots"
down_revision: str | Sequence[str] | None = "0014_session_keys"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "snapshots",
        sa.Column("namespace", sa.String(200), nullable=False),
        sa.Column("stream", sa.String(200), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("shape", sa.String(64), nullable=False),
        sa.Column("position", sa.BigInteger, nullable=False),
        sa.Column("recorded_at", UtcDateTime, nullable=False),
        sa.Column("event_hash", sa.LargeBinary, nullable=False),
        sa.Column("pinned", sa.Integer, nullable=False),
        sa.Column("tables", sa.LargeBinary, nullable=False),
        sa.Column("state", sa.LargeBinary, nullable=True),
        sa.Column("digest", sa.LargeBinary, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("namespace", "stream", "fingerprint", "version", name="pk_snapshots"),
    )


def downgrade() -> None:
    op.drop_table("snapshots")
