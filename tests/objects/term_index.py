"""The term index's expected content, computed without its triggers: from FTS5's own index of the
messages on SQLite (its `instance` vocabulary), from to_tsvector on PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection

_EXPECTED_SQLITE = (
    "SELECT m.namespace, m.term, m.session_id, count(*) FROM"
    " (SELECT DISTINCT v.term, x.namespace, x.session_id, v.doc FROM temp.expected_vocab v"
    "  JOIN messages x ON x.id = v.doc) AS m GROUP BY 1, 2, 3"
)
_EXPECTED_POSTGRES = (
    "SELECT m.namespace, t.term, m.session_id, count(*) FROM messages m,"
    " unnest(tsvector_to_array(to_tsvector('english'::regconfig, m.text))) AS t(term) GROUP BY 1, 2, 3"
)


def stored_terms(connection: Connection) -> set[tuple[str, str, str, int]]:
    rows = connection.exec_driver_sql("SELECT namespace, term, session_id, messages FROM message_terms")
    return {(ns, term, sid, int(n)) for ns, term, sid, n in rows}


def expected_terms(connection: Connection) -> set[tuple[str, str, str, int]]:
    """What the index must hold: the full-text index of `messages`, folded to sessions."""
    if connection.dialect.name == "postgresql":
        return {
            (ns, term, sid, int(n)) for ns, term, sid, n in connection.exec_driver_sql(_EXPECTED_POSTGRES)
        }
    connection.exec_driver_sql(
        "CREATE VIRTUAL TABLE IF NOT EXISTS temp.expected_vocab USING fts5vocab(main, messages_fts, instance)"
    )
    return {(ns, term, sid, int(n)) for ns, term, sid, n in connection.exec_driver_sql(_EXPECTED_SQLITE)}


_STORED_FILTERS = "SELECT namespace, term, session_id, record_status, record_imported FROM message_terms"
_EXPECTED_FILTERS = (
    "SELECT t.namespace, t.term, t.session_id, r.status, r.is_imported FROM message_terms t"
    " LEFT JOIN session_records r ON r.namespace = t.namespace AND r.session_id = t.session_id"
)


def stored_filters(connection: Connection) -> set[tuple[str, str, str, str | None, bool | None]]:
    """Each term row's copy of its session's record filters (status, isImported)."""
    return {_filters(row) for row in connection.exec_driver_sql(_STORED_FILTERS)}


def expected_filters(connection: Connection) -> set[tuple[str, str, str, str | None, bool | None]]:
    """What the copies must be: the live record's, or nulls without one."""
    return {_filters(row) for row in connection.exec_driver_sql(_EXPECTED_FILTERS)}


def _filters(row: Any) -> tuple[str, str, str, str | None, bool | None]:
    ns, term, sid, status, imported = row
    return (ns, term, sid, status, None if imported is None else bool(imported))
