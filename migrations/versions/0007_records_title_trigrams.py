"""SQLite: an FTS5 trigram index of record titles (title search no longer scans every title) and
a covering index for counting search hits under a status / isImported filter.

Revision ID: 0007_records_title_trigrams
Revises: 0005_records_title_search
Create Date: 2026-11-22

PostgreSQL already answers title search from its pg_trgm GIN index (0005): nothing to do there.
The DDL is spelled out here (not imported) so this revision stays what it is if the code moves on.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0007_records_title_trigrams"
down_revision: str | Sequence[str] | None = "0005_records_title_search"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FTS = "session_titles_fts"
DDL = (
    f"CREATE VIRTUAL TABLE {FTS} USING fts5(title, content='', tokenize='trigram case_sensitive 1')",
    f"CREATE TRIGGER {FTS}_ai AFTER INSERT ON session_records"
    " WHEN new.title_folded IS NOT NULL BEGIN"
    f" INSERT INTO {FTS}(rowid, title) VALUES (new.rowid, new.title_folded); END",
    f"CREATE TRIGGER {FTS}_ad AFTER DELETE ON session_records"
    " WHEN old.title_folded IS NOT NULL BEGIN"
    f" INSERT INTO {FTS}({FTS}, rowid, title) VALUES ('delete', old.rowid, old.title_folded); END",
    f"CREATE TRIGGER {FTS}_au AFTER UPDATE OF title_folded ON session_records"
    " WHEN old.title_folded IS NOT new.title_folded BEGIN"
    f" INSERT INTO {FTS}({FTS}, rowid, title)"
    " SELECT 'delete', old.rowid, old.title_folded WHERE old.title_folded IS NOT NULL;"
    f" INSERT INTO {FTS}(rowid, title) SELECT new.rowid, new.title_folded"
    " WHERE new.title_folded IS NOT NULL; END",
    # Records stored before this revision.
    f"INSERT INTO {FTS}(rowid, title) SELECT rowid, title_folded FROM session_records"
    " WHERE title_folded IS NOT NULL",
)


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for statement in DDL:
            op.execute(statement)
        op.create_index(
            "ix_session_records_filters",
            "session_records",
            ["namespace", "session_id", "status", "is_imported"],
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.drop_index("ix_session_records_filters", "session_records")
        for trigger in ("ai", "ad", "au"):
            op.execute(f"DROP TRIGGER IF EXISTS {FTS}_{trigger}")
        op.execute(f"DROP TABLE IF EXISTS {FTS}")
