"""Index only the events that carry an idempotency key.

Most appends carry none, yet the full index took a randomly placed entry for every event: one more
page in every commit (in a batch of 64 appends to 64 sessions, up to 64 more dirty pages). Keys
stay unique per stream; NULLs were never compared, so uniqueness means the same as before.

Revision ID: 0006_events_idempotency_partial
Revises: 0001_event_log
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_events_idempotency_partial"
down_revision: str | Sequence[str] | None = "0001_event_log"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = ["namespace", "stream", "idempotency_key"]
_ONLY_KEYED = sa.text("idempotency_key IS NOT NULL")


def upgrade() -> None:
    op.drop_index("ix_events_idempotency", "events")
    op.create_index(
        "ix_events_idempotency",
        "events",
        _COLUMNS,
        unique=True,
        sqlite_where=_ONLY_KEYED,
        postgresql_where=_ONLY_KEYED,
    )


def downgrade() -> None:
    op.drop_index("ix_events_idempotency", "events")
    op.create_index("ix_events_idempotency", "events", _COLUMNS, unique=True)
