"""The term index's expected content, computed without its triggers: from FTS5's own index of the
messages on SQLite (its `instance` vocabulary), from to_tsvector on PostgreSQL."""

from __future__ import annotations

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
