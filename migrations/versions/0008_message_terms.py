"""The per-session term index `message_terms` (search by a common word reads one index range),
kept by triggers on `messages`, and filled for the messages stored before this revision.

Revision ID: 0008_message_terms
Revises: 0003_objects
Create Date: 2026-11-24

On the objects branch (it indexes the objects domain's `messages`). SQLite's triggers call
`session_engine_terms(text)`, which the engine registers on its connections (engine/objects/search/terms.py);
the existing messages are filled from FTS5's own index instead (its `instance` vocabulary), so this
revision runs on a bare connection. The DDL is spelled out here so the revision stays what it is.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_message_terms"
down_revision: str | Sequence[str] | None = "0003_objects"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SQLITE_DDL = (
    "CREATE TRIGGER message_terms_ai AFTER INSERT ON messages BEGIN"
    " INSERT INTO message_terms(namespace, session_id, term, messages)"
    " SELECT new.namespace, new.session_id, value, 1"
    " FROM json_each(session_engine_terms(new.text)) WHERE true"
    " ON CONFLICT(namespace, term, session_id) DO UPDATE SET messages = messages + 1; END",
    "CREATE TRIGGER message_terms_ad AFTER DELETE ON messages"
    " WHEN EXISTS (SELECT 1 FROM message_terms) BEGIN"
    " DELETE FROM message_terms WHERE namespace = old.namespace AND session_id = old.session_id"
    " AND messages <= 1 AND term IN (SELECT value FROM json_each(session_engine_terms(old.text)));"
    " UPDATE message_terms SET messages = messages - 1"
    " WHERE namespace = old.namespace AND session_id = old.session_id"
    " AND term IN (SELECT value FROM json_each(session_engine_terms(old.text))); END",
    # Messages stored before this revision: each (term, message) of the FTS5 index once.
    "CREATE VIRTUAL TABLE temp.message_terms_vocab USING fts5vocab(main, messages_fts, instance)",
    "INSERT INTO message_terms(namespace, session_id, term, messages)"
    " SELECT m.namespace, m.session_id, v.term, count(*)"
    " FROM (SELECT DISTINCT term, doc FROM temp.message_terms_vocab) AS v JOIN messages m ON m.id = v.doc"
    " GROUP BY m.namespace, v.term, m.session_id",
    "DROP TABLE temp.message_terms_vocab",
)
_LEXEMES = "unnest(tsvector_to_array(to_tsvector('english'::regconfig, {row}.text))) AS t(term)"
POSTGRES_DDL = (
    "CREATE FUNCTION message_terms_added() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
    " INSERT INTO message_terms AS m (namespace, session_id, term, messages)"
    " SELECT n.namespace, n.session_id, t.term, count(*) FROM message_terms_new n,"
    f" {_LEXEMES.format(row='n')} GROUP BY 1, 2, 3"
    " ON CONFLICT (namespace, term, session_id) DO UPDATE SET messages = m.messages + excluded.messages;"
    " RETURN NULL; END $$",
    "CREATE FUNCTION message_terms_removed() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
    " WITH gone AS (SELECT o.namespace, o.session_id, t.term, count(*) AS n FROM message_terms_old o,"
    f" {_LEXEMES.format(row='o')} GROUP BY 1, 2, 3),"
    " emptied AS (DELETE FROM message_terms m USING gone g WHERE m.namespace = g.namespace"
    " AND m.term = g.term AND m.session_id = g.session_id AND m.messages <= g.n)"
    " UPDATE message_terms m SET messages = m.messages - g.n FROM gone g WHERE m.namespace = g.namespace"
    " AND m.term = g.term AND m.session_id = g.session_id AND m.messages > g.n;"
    " RETURN NULL; END $$",
    "CREATE TRIGGER message_terms_ai AFTER INSERT ON messages REFERENCING NEW TABLE AS message_terms_new"
    " FOR EACH STATEMENT EXECUTE FUNCTION message_terms_added()",
    "CREATE TRIGGER message_terms_ad AFTER DELETE ON messages REFERENCING OLD TABLE AS message_terms_old"
    " FOR EACH STATEMENT EXECUTE FUNCTION message_terms_removed()",
    "INSERT INTO message_terms (namespace, session_id, term, messages)"
    f" SELECT m.namespace, m.session_id, t.term, count(*) FROM messages m, {_LEXEMES.format(row='m')}"
    " GROUP BY 1, 2, 3",
)


def upgrade() -> None:
    op.create_table(
        "message_terms",
        sa.Column("namespace", sa.String(200), nullable=False),
        sa.Column("session_id", sa.String(200), nullable=False),
        sa.Column("term", sa.Text, nullable=False),
        sa.Column("messages", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("namespace", "term", "session_id", name="pk_message_terms"),
        sqlite_with_rowid=False,
    )
    sqlite = op.get_bind().dialect.name == "sqlite"
    for statement in SQLITE_DDL if sqlite else POSTGRES_DDL:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS message_terms_ai" + ("" if _sqlite() else " ON messages"))
    op.execute("DROP TRIGGER IF EXISTS message_terms_ad" + ("" if _sqlite() else " ON messages"))
    if not _sqlite():
        op.execute("DROP FUNCTION IF EXISTS message_terms_added()")
        op.execute("DROP FUNCTION IF EXISTS message_terms_removed()")
    op.drop_table("message_terms")


def _sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"
