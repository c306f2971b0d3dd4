"""Indexes for title search: a trigram index on PostgreSQL, a covering index on SQLite.

Revision ID: 0005_records_title_search
Revises: 0004_records
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0005_records_title_search"
down_revision: str | Sequence[str] | None = "0004_records"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # pg_trgm is a trusted extension (PostgreSQL 13+): a database owner may create it.
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.execute(
            "CREATE INDEX ix_session_records_titles_trgm ON session_records"
            " USING gin (title_folded gin_trgm_ops)"
        )
    else:
        op.create_index("ix_session_records_titles", "session_records", ["namespace", "title_folded"])


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_session_records_titles_trgm")
    else:
        op.drop_index("ix_session_records_titles", "session_records")
