"""Sealed payloads stored as bytes: the events' `sealed` column.

The writer stores a sealed payload's nonce, ciphertext and tag in `sealed` (engine/log/sealing.py)
instead of base64 text in `data`: the base64 cost an append more than the encryption. Rows already
written are not touched: their `data` keeps the base64 text their chain hashes cover (history is
never rewritten), and every read opens both forms. Adding a nullable column rewrites no row on
either database.

Downgrade drops the column, and refuses while any row holds sealed bytes: turning them back into
base64 text would change what those events' hashes cover.

Revision ID: 0015_sealed_bytes
Revises: 0013_snapshots
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_sealed_bytes"
down_revision: str | Sequence[str] | None = "0013_snapshots"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("events", sa.Column("sealed", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    held = op.get_bind().exec_driver_sql("SELECT count(*) FROM events WHERE sealed IS NOT NULL").scalar()
    if held:
        raise RuntimeError(
            f"{held} event(s) hold sealed bytes: downgrading below 0015_sealed_bytes would change what"
            " their hashes cover"
        )
    op.drop_column("events", "sealed")
