"""Index the log by (namespace, position): the sessions list walks it newest first.

`Engine.sessions` lists a namespace's sessions by their last activity without a catalog on the
write path (0009 dropped one): it walks the namespace's events backwards from a position and keeps
each session's last event. Appends land at the end of their namespace's range, so the index costs
one rightmost leaf per namespace in a commit.

Revision ID: 0012_events_namespace_position
Revises: 0011_event_hashes
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0012_events_namespace_position"
down_revision: str | Sequence[str] | None = "0011_event_hashes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_events_namespace_position", "events", ["namespace", "position"])


def downgrade() -> None:
    op.drop_index("ix_events_namespace_position", "events")
