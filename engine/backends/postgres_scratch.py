"""PostgreSQL: a scratch copy of projection tables in a schema of its own in the live database,
swapped in by moving tables between schemas (specs/audit.md, "Live rebuild")."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from session_engine.engine.backends.scratch import Scratch


class SchemaScratch(Scratch):
    """A live rebuild's or verification's copy in a schema of its own in the live database."""

    def __init__(self, engine: sa.Engine, schema: str) -> None:
        super().__init__(engine)
        self.schema = schema

    def for_ddl(self, connection: Connection) -> Connection:
        return connection.execution_options(schema_translate_map={None: self.schema})

    def analyze(self) -> None:
        with self.connect() as connection:
            for (table,) in connection.exec_driver_sql(
                "SELECT tablename FROM pg_tables WHERE schemaname = %s", (self.schema,)
            ).fetchall():
                connection.exec_driver_sql(f'ANALYZE "{self.schema}"."{table}"')

    def refuse_unswappable(self, connection: Connection, tables: Sequence[str]) -> None:
        """A view or foreign key on a live table (`_refuse_dependents`), checked again in the swap:
        one may be created while the replay runs."""
        live = connection.exec_driver_sql("SELECT current_schema()").scalar_one()
        _refuse_dependents(connection, live, tables)

    def swap_into(self, connection: Connection, tables: Sequence[str]) -> None:
        """Move the live tables out into a schema of their own (`<scratch>__replaced`, dropped
        with the scratch schema once the swap has committed, off the writer: a DROP TABLE in the
        swap made its COMMIT unlink every file of the read models while writers waited), move the
        copy's tables into the live schema (indexes and statistics move with them; their names
        are the migrated ones, both coming from the same metadata), drop the copy's own triggers
        (they call the scratch schema's functions) and re-create the live ones from their
        definitions. Catalog changes only, whatever the tables' size."""
        self.refuse_unswappable(connection, tables)
        live = connection.exec_driver_sql("SELECT current_schema()").scalar_one()
        triggers = _triggers(connection, live, tables)
        replaced = self.schema + REPLACED
        connection.exec_driver_sql(f'CREATE SCHEMA "{replaced}"')
        for table in tables:
            connection.exec_driver_sql(f'ALTER TABLE "{live}"."{table}" SET SCHEMA "{replaced}"')
        for table, name, _ in _triggers(connection, self.schema, tables):
            connection.exec_driver_sql(f'DROP TRIGGER "{name}" ON "{self.schema}"."{table}"')
        for table in tables:
            connection.exec_driver_sql(f'ALTER TABLE "{self.schema}"."{table}" SET SCHEMA "{live}"')
        for _, _, definition in triggers:
            connection.exec_driver_sql(definition)

    @contextlib.contextmanager
    def connect(self) -> Iterator[Connection]:
        with self.engine.begin() as connection:
            # search_path, not schema_translate_map: driver SQL in projections must land here too.
            connection.exec_driver_sql(f'SET LOCAL search_path TO "{self.schema}"')
            yield connection


REPLACED = "__replaced"
"""Suffix of the schema a swap moves the live tables into, until they are dropped."""


def replaced_schemas(connection: Connection) -> list[str]:
    """The schemas of live tables that swaps moved out: this rebuild's, and any a process that
    died after its swap left (committed swaps only: a swap's own schema is not visible to others
    until it commits)."""
    return list(
        connection.exec_driver_sql(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'scratch\\_%%\\_\\_replaced'"
        ).scalars()
    )


_DEPENDENTS = """
SELECT CASE WHEN d.classid = 'pg_rewrite'::regclass  -- a view: named as the view, not its rule
    THEN (SELECT pg_describe_object('pg_class'::regclass, ev_class, 0) FROM pg_rewrite WHERE oid = d.objid)
    ELSE pg_describe_object(d.classid, d.objid, d.objsubid) END
FROM pg_depend d
WHERE d.refclassid = 'pg_class'::regclass AND d.refobjid = ANY(%(tables)s::regclass[])
AND d.deptype = 'n' AND COALESCE(CASE d.classid
    WHEN 'pg_constraint'::regclass THEN (SELECT conrelid FROM pg_constraint WHERE oid = d.objid)
    WHEN 'pg_trigger'::regclass THEN (SELECT tgrelid FROM pg_trigger WHERE oid = d.objid)
    WHEN 'pg_rewrite'::regclass THEN (SELECT ev_class FROM pg_rewrite WHERE oid = d.objid)
    WHEN 'pg_class'::regclass THEN d.objid END, 0) <> ALL(%(tables)s::regclass[])
"""
"""What depends on the tables, but for what belongs to one of them (their own triggers, constraints)."""


def _refuse_dependents(connection: Connection, schema: str, tables: Sequence[str]) -> None:
    """A view or foreign key of another table on a live table would follow it out of the live
    schema (a DROP TABLE would have refused): refuse the swap, nothing changed."""
    names = [f'"{schema}"."{table}"' for table in tables]
    found = connection.exec_driver_sql(_DEPENDENTS, {"tables": names}).scalars().all()
    if found:
        named = sorted(set(found))
        verb = "depends" if len(named) == 1 else "depend"
        raise ValueError(
            f"cannot swap the rebuilt tables in: {', '.join(named)} {verb} on them and would leave"
            " the live schema with them (drop, rebuild, then create again)"
        )


def _triggers(connection: Connection, schema: str, tables: Sequence[str]) -> list[tuple[str, str, str]]:
    """(table, trigger, its CREATE TRIGGER) of the user triggers on `tables` in `schema`."""
    rows = connection.exec_driver_sql(
        "SELECT c.relname, t.tgname, pg_get_triggerdef(t.oid) FROM pg_trigger t"
        " JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE NOT t.tgisinternal AND n.nspname = %s ORDER BY c.relname, t.tgname",
        (schema,),
    ).fetchall()
    wanted = set(tables)
    return [(table, name, definition) for table, name, definition in rows if table in wanted]
