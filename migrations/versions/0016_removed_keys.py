"""Idempotency keys of appends retention removed, kept so a retried write is not applied twice.

Each row is also listed in the `retention_run` event that removed the append (specs/lifecycle.md,
"Idempotency keys of removed events"); import restores the table from those events.

Revision ID: 0016_removed_keys
Revises: 0015_sealed_bytes
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016_removed_keys"
down_revision: str | Sequence[str] | None = "0015_sealed_bytes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "removed_keys",
        sa.Column("namespace", sa.String(200), nullable=False),
        sa.Column("stream", sa.String(200), nullable=False),
        sa.Column("idempotency_key", sa.String(200), nullable=False),
        sa.Column("first_version", sa.Integer, nullable=False),
        sa.Column("last_version", sa.Integer, nullable=False),
        sa.Column("first_position", sa.BigInteger, nullable=False),
        sa.Column("last_position", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("namespace", "stream", "idempotency_key", name="pk_removed_keys"),
    )


def downgrade() -> None:
    op.drop_table("removed_keys")
