"""The records' liveness and search filters beside the term index: `message_terms.record_status`
and `record_imported` hold the session's live record's `status` and `isImported` (null: no record).

Why: a common word's exact search total was a join of its many term rows with the records; with the
filters on the term rows it is a count of one index range, much faster on PostgreSQL
(docs/benchmarks.md). A term row copies them from `session_records` when it is created (the term
index's trigger on `messages`, engine/objects/search/terms.py); the triggers here keep them when a record
is created, deleted, or changes status or isImported - whoever writes the records (the live
projection, a replay, a rebuild, verify's scratch copy). The two tables belong to two projections:
they declare each other (`Projection.depends_on`), so they are rebuilt and verified together. A
rebuild clears the objects first (reverse registration order: clearing the records then has no
copies left to null) and a replay applies the records first (engine/modules.py: a message's new
term rows then find the record there and are written once, not written and updated).
"""

from __future__ import annotations

from session_engine.engine.objects.search.tables import message_terms
from session_engine.engine.objects.search.terms import fresh_plan
from session_engine.engine.projections.base import dialect_ddl
from session_engine.engine.records.tables import session_records

_T, _R = message_terms.name, session_records.name
_FILTERS = "record_status = {row}.status, record_imported = {row}.is_imported"
_SAME = "namespace = {row}.namespace AND session_id = {row}.session_id"
_CHANGED = "old.status IS NOT new.status OR old.is_imported IS NOT new.is_imported"

SQLITE_DDL = (
    f"CREATE TRIGGER IF NOT EXISTS {_T}_record_ai AFTER INSERT ON {_R} BEGIN"
    f" UPDATE {_T} SET {_FILTERS.format(row='new')} WHERE {_SAME.format(row='new')}; END",
    # An upsert's update fires this too; the WHEN keeps a set that changes neither column free.
    f"CREATE TRIGGER IF NOT EXISTS {_T}_record_au AFTER UPDATE OF status, is_imported ON {_R}"
    f" WHEN {_CHANGED} BEGIN"
    f" UPDATE {_T} SET {_FILTERS.format(row='new')} WHERE {_SAME.format(row='new')}; END",
    f"CREATE TRIGGER IF NOT EXISTS {_T}_record_ad AFTER DELETE ON {_R} BEGIN"
    f" UPDATE {_T} SET record_status = NULL, record_imported = NULL WHERE {_SAME.format(row='old')}; END",
)
"""SQLite: row triggers, each one update of the session's term rows (the session index)."""


def postgres_ddl(schema: str | None = None) -> tuple[str, ...]:
    """PostgreSQL: inserts and deletes as statement triggers over the transition tables (a replay's
    bulk insert is one update), changes as a row trigger whose WHEN skips the usual upsert - a set
    that changes neither column - without calling the function at all.

    The records' session ids are "C"-collated; compared in the term index's collation, each lookup
    is an index range. Functions name tables unqualified (the search_path finds them, as for the
    term index's own triggers); a scratch copy (`schema`) gets functions of its own.
    """
    prefix = "" if schema is None else f'"{schema}".'
    names = {kind: f"{prefix}{_T}_record_{kind}" for kind in ("inserted", "changed", "deleted")}
    same = 'm.namespace = {row}.namespace AND m.session_id = {row}.session_id COLLATE "default"'
    changed = _CHANGED.replace("IS NOT", "IS DISTINCT FROM")
    return (
        # An upsert that only updated records fires this too: nothing to plan then.
        f"CREATE OR REPLACE FUNCTION {names['inserted']}() RETURNS trigger LANGUAGE plpgsql "
        + fresh_plan(
            f"UPDATE {_T} m SET {_FILTERS.format(row='n')} FROM {_T}_records_new n"
            f" WHERE {same.format(row='n')}",
            unless_empty=f"{_T}_records_new",
        ),
        f"CREATE OR REPLACE FUNCTION {names['changed']}() RETURNS trigger LANGUAGE plpgsql "
        + fresh_plan(
            f"UPDATE {_T} m SET record_status = $3, record_imported = $4 WHERE m.namespace = $1"
            ' AND m.session_id = $2 COLLATE "default"',
            using="NEW.namespace, NEW.session_id, NEW.status, NEW.is_imported",
        ),
        f"CREATE OR REPLACE FUNCTION {names['deleted']}() RETURNS trigger LANGUAGE plpgsql "
        + fresh_plan(
            f"UPDATE {_T} m SET record_status = NULL, record_imported = NULL FROM {_T}_records_old o"
            f" WHERE {same.format(row='o')}"
        ),
        f"CREATE TRIGGER {_T}_record_ai AFTER INSERT ON {prefix}{_R} REFERENCING NEW TABLE AS"
        f" {_T}_records_new FOR EACH STATEMENT EXECUTE FUNCTION {names['inserted']}()",
        f"CREATE TRIGGER {_T}_record_au AFTER UPDATE OF status, is_imported ON {prefix}{_R}"
        f" FOR EACH ROW WHEN ({changed}) EXECUTE FUNCTION {names['changed']}()",
        f"CREATE TRIGGER {_T}_record_ad AFTER DELETE ON {prefix}{_R} REFERENCING OLD TABLE AS"
        f" {_T}_records_old FOR EACH STATEMENT EXECUTE FUNCTION {names['deleted']}()",
    )


create_term_filters = dialect_ddl(SQLITE_DDL, postgres_ddl)
"""`extra_ddl` for scratch copies: the triggers (the columns are in the metadata)."""
