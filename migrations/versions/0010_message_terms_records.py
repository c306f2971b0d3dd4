"""The term index carries each session's record filters (`record_status`, `record_imported`: null
when the session has no live record), so a records search counts its matches without a join.

Revision ID: 0010_message_terms_records
Revises: 0008_message_terms
Create Date: 2026-12-04

On the objects branch (the table is `message_terms`), after the records' table exists (depends on
0004_records). The term index's insert trigger now copies the filters from `session_records`; new
triggers on `session_records` keep them. PostgreSQL's primary key gets the two columns as INCLUDE
payload (an index-only count); both backends get an index by session for the records' triggers.
The DDL is spelled out here so the revision stays what it is if the code moves on.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_message_terms_records"
down_revision: str | Sequence[str] | None = "0008_message_terms"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = "0004_records"

_PK = "pk_message_terms"
_INDEX = "ix_message_terms_namespace_session_id"
_SQLITE_SET = (
    "UPDATE message_terms SET record_status = {row}.status, record_imported = {row}.is_imported"
    " WHERE namespace = {row}.namespace AND session_id = {row}.session_id"
)
SQLITE_UP = (
    "DROP TRIGGER message_terms_ai",
    "CREATE TRIGGER message_terms_ai AFTER INSERT ON messages BEGIN"
    " INSERT INTO message_terms(namespace, session_id, term, messages, record_status, record_imported)"
    " SELECT new.namespace, new.session_id, t.value, 1, r.status, r.is_imported"
    " FROM json_each(session_engine_terms(new.text)) AS t LEFT JOIN session_records AS r"
    " ON r.namespace = new.namespace AND r.session_id = new.session_id WHERE true"
    " ON CONFLICT(namespace, term, session_id) DO UPDATE SET messages = messages + 1; END",
    "CREATE TRIGGER message_terms_record_ai AFTER INSERT ON session_records BEGIN"
    f" {_SQLITE_SET.format(row='new')}; END",
    "CREATE TRIGGER message_terms_record_au AFTER UPDATE OF status, is_imported ON session_records"
    " WHEN old.status IS NOT new.status OR old.is_imported IS NOT new.is_imported BEGIN"
    f" {_SQLITE_SET.format(row='new')}; END",
    "CREATE TRIGGER message_terms_record_ad AFTER DELETE ON session_records BEGIN"
    " UPDATE message_terms SET record_status = NULL, record_imported = NULL"
    " WHERE namespace = old.namespace AND session_id = old.session_id; END",
)
SQLITE_DOWN = (
    "DROP TRIGGER IF EXISTS message_terms_record_ai",
    "DROP TRIGGER IF EXISTS message_terms_record_au",
    "DROP TRIGGER IF EXISTS message_terms_record_ad",
    "DROP TRIGGER IF EXISTS message_terms_ai",
    "CREATE TRIGGER message_terms_ai AFTER INSERT ON messages BEGIN"
    " INSERT INTO message_terms(namespace, session_id, term, messages)"
    " SELECT new.namespace, new.session_id, value, 1"
    " FROM json_each(session_engine_terms(new.text)) WHERE true"
    " ON CONFLICT(namespace, term, session_id) DO UPDATE SET messages = messages + 1; END",
)

_LEXEMES = "unnest(tsvector_to_array(to_tsvector('english'::regconfig, {row}.text))) AS t(term)"
_PG_SAME = 'm.namespace = {row}.namespace AND m.session_id = {row}.session_id COLLATE "default"'
_ADDED = (
    "INSERT INTO message_terms AS m (namespace, session_id, term, messages{columns})"
    " SELECT n.namespace, n.session_id, t.term, count(*){values} FROM message_terms_new n{join}"
    " {lateral} GROUP BY 1, 2, 3{group}"
    " ON CONFLICT (namespace, term, session_id) DO UPDATE SET messages = m.messages + excluded.messages"
)


def _function(name: str, statement: str, *, using: str = "", unless_empty: str = "") -> str:
    """A trigger function that plans its statement at each call (`EXECUTE`): a cached plan made
    while a table was empty, or for a replay's bulk statement, would serve every later write."""
    skip = f" IF NOT EXISTS (SELECT FROM {unless_empty}) THEN RETURN NULL; END IF;" if unless_empty else ""
    args = f" USING {using}" if using else ""
    return (
        f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql SET jit = off AS $$ BEGIN"
        f"{skip} EXECUTE $q${statement}$q${args}; RETURN NULL; END $$"
    )


def _static(name: str, statement: str) -> str:
    return (
        f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
        f" {statement}; RETURN NULL; END $$"
    )


POSTGRES_UP = (
    _function(
        "message_terms_added",
        _ADDED.format(
            columns=", record_status, record_imported",
            values=", r.status, r.is_imported",
            join=" LEFT JOIN session_records r ON r.namespace = n.namespace"
            ' AND r.session_id = n.session_id COLLATE "C" CROSS JOIN LATERAL',
            lateral=_LEXEMES.format(row="n"),
            group=", 5, 6",
        ),
    ),
    _function(
        "message_terms_record_inserted",
        "UPDATE message_terms m SET record_status = n.status, record_imported = n.is_imported"
        f" FROM message_terms_records_new n WHERE {_PG_SAME.format(row='n')}",
        unless_empty="message_terms_records_new",
    ),
    _function(
        "message_terms_record_changed",
        "UPDATE message_terms m SET record_status = $3, record_imported = $4"
        ' WHERE m.namespace = $1 AND m.session_id = $2 COLLATE "default"',
        using="NEW.namespace, NEW.session_id, NEW.status, NEW.is_imported",
    ),
    _function(
        "message_terms_record_deleted",
        "UPDATE message_terms m SET record_status = NULL, record_imported = NULL"
        f" FROM message_terms_records_old o WHERE {_PG_SAME.format(row='o')}",
    ),
    "CREATE TRIGGER message_terms_record_ai AFTER INSERT ON session_records"
    " REFERENCING NEW TABLE AS message_terms_records_new"
    " FOR EACH STATEMENT EXECUTE FUNCTION message_terms_record_inserted()",
    "CREATE TRIGGER message_terms_record_au AFTER UPDATE OF status, is_imported ON session_records"
    " FOR EACH ROW WHEN (old.status IS DISTINCT FROM new.status"
    " OR old.is_imported IS DISTINCT FROM new.is_imported)"
    " EXECUTE FUNCTION message_terms_record_changed()",
    "CREATE TRIGGER message_terms_record_ad AFTER DELETE ON session_records"
    " REFERENCING OLD TABLE AS message_terms_records_old"
    " FOR EACH STATEMENT EXECUTE FUNCTION message_terms_record_deleted()",
)
POSTGRES_DOWN = (
    "DROP TRIGGER IF EXISTS message_terms_record_ai ON session_records",
    "DROP TRIGGER IF EXISTS message_terms_record_au ON session_records",
    "DROP TRIGGER IF EXISTS message_terms_record_ad ON session_records",
    "DROP FUNCTION IF EXISTS message_terms_record_inserted()",
    "DROP FUNCTION IF EXISTS message_terms_record_changed()",
    "DROP FUNCTION IF EXISTS message_terms_record_deleted()",
    # 0008's functions, as they were.
    _static(
        "message_terms_added",
        _ADDED.format(columns="", values="", join=",", lateral=_LEXEMES.format(row="n"), group=""),
    ),
)


def upgrade() -> None:
    sqlite = _sqlite()
    op.add_column("message_terms", sa.Column("record_status", sa.String(16), nullable=True))
    op.add_column("message_terms", sa.Column("record_imported", sa.Boolean, nullable=True))
    # The terms of the records stored before this revision.
    if sqlite:
        op.execute(
            "UPDATE message_terms SET (record_status, record_imported) = (SELECT r.status, r.is_imported"
            " FROM session_records r WHERE r.namespace = message_terms.namespace"
            " AND r.session_id = message_terms.session_id)"
        )
    else:
        op.execute(
            "UPDATE message_terms m SET record_status = r.status, record_imported = r.is_imported"
            f" FROM session_records r WHERE {_PG_SAME.format(row='r')}"
        )
        op.execute(f"ALTER TABLE message_terms DROP CONSTRAINT {_PK}")
        op.execute(
            f"ALTER TABLE message_terms ADD CONSTRAINT {_PK} PRIMARY KEY (namespace, term, session_id)"
            " INCLUDE (record_status, record_imported)"
        )
    op.create_index(_INDEX, "message_terms", ["namespace", "session_id"])
    for statement in SQLITE_UP if sqlite else POSTGRES_UP:
        op.execute(statement)


def downgrade() -> None:
    sqlite = _sqlite()
    for statement in SQLITE_DOWN if sqlite else POSTGRES_DOWN:
        op.execute(statement)
    op.drop_index(_INDEX, "message_terms")
    if not sqlite:
        op.execute(f"ALTER TABLE message_terms DROP CONSTRAINT {_PK}")
        op.execute(
            f"ALTER TABLE message_terms ADD CONSTRAINT {_PK} PRIMARY KEY (namespace, term, session_id)"
        )
    op.drop_column("message_terms", "record_imported")
    op.drop_column("message_terms", "record_status")


def _sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"
