"""Checkpoints that follow the log's head: position -1 means "level with the head".

No table changes. A writer keeps its projections' checkpoints at -1 (`LEVEL_WITH_HEAD`,
engine/projections/registry.py) instead of moving them to the head in every commit. This revision
exists so that code which reads -1 as a position (and would replay the whole log into projections
that already hold it) refuses the database; going back down gives every such checkpoint the head.

Revision ID: 0018_level_checkpoints
Revises: 0017_parked_sessions
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0018_level_checkpoints"
down_revision: str | Sequence[str] | None = "0017_parked_sessions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Nothing to change: the writers set -1 on their next commit."""


def downgrade() -> None:
    op.execute(
        "UPDATE projection_checkpoints SET position = (SELECT COALESCE(MAX(position), 0) FROM events)"
        " WHERE position = -1"
    )
