"""SQLite: a live rebuild's copy brought into the live file beside the live tables, a batch of rows
per transaction, and swapped in by renaming tables (specs/audit.md, "Live rebuild").

SQLite renames tables only within one database file, so the copy built in the scratch file is
moved into "shadow" tables in the live file first: each shadow is the live table's own DDL (as
migrated) under another name, with its indexes, and the full-text indexes that the live tables'
triggers keep (FTS5, outside the tables) get shadows too, filled by the same triggers cloned onto
the shadows. Every batch is a short transaction of its own, so writers wait at most one batch.

What the scratch copy changes after the first batch (its catch-up rounds, the last tail) is noted
by change-log triggers in the scratch file, keyed by primary key, and re-copied key by key. The
swap is then one edit of the schema table: the live tables (and their full-text indexes) take the
shadows' pages, and the shadows, holding the old pages, the `__replaced` names; no row moves and
the schema is parsed once, so the swap costs about what a batch does, however big the read models.
The replaced tables are then emptied a batch of rows per transaction and dropped once empty:
SQLite's DROP TABLE visits every page of the table and its indexes, so one DROP of a large table
would hold the writer for as long as the read model is big. What an interrupted rebuild left
(shadows, or replaced tables) is found by its name's suffix and goes the same way before the next
rebuild starts.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import exc
from sqlalchemy.engine import Connection

from session_engine.engine.backends import driver
from session_engine.engine.backends.scratch import Scratch
from session_engine.engine.backends.sqlite_ddl import (
    column_list,
    like,
    on_table,
    placeholders,
    quote,
    rename_head,
    rename_on,
    rename_words,
    writes_into,
)

SHADOW = "__rebuilt"
"""Suffix of a shadow: a table, index, trigger or full-text index being filled for the swap."""
REPLACED = "__replaced"
"""Suffix of a live table after the swap, until it is dropped."""
COPY_ROWS = 1_000
"""Rows per batch moved into the live file: one short write transaction each."""
DROP_ROWS = 1_000
"""Rows per batch deleted from a leftover table before it is dropped: one short write transaction
each, like the copy's batches."""
ATTACHED = "rebuild_scratch"
"""The scratch file's schema name on the writer connection while a batch of it is copied."""
_KEPT = "_config"
"""The full-text index's own table that stays until its DROP: FTS5 reads it to open the index
(a few rows), and an index without it cannot be dropped."""
_AUTOINDEX = "sqlite_autoindex_"
"""The name of an index SQLite makes for a table's constraint: this, the table's name, `_<n>`."""


@dataclass
class _Table:
    """A table being moved: its columns, primary key, the live DDL of it and of its indexes, and
    how far the copy and the change log have been brought over."""

    name: str
    columns: list[str]
    key: list[str]
    sql: str
    indexes: dict[str, str]
    copied: tuple[Any, ...] | None = None
    done: bool = False
    changes_applied: int = 0


@dataclass
class SqliteShadows:
    """The shadows of the tables `names` in the live file, filled from the scratch copy."""

    scratch: Scratch
    names: list[str]
    path: str
    """The scratch file (attached to the writer connection while a batch is copied)."""
    tables: list[_Table] = field(default_factory=list)
    fulltext: dict[str, str] = field(default_factory=dict)
    """Full-text (virtual) tables kept by the live tables' triggers: name -> live DDL."""
    tables_sql: dict[str, str] = field(default_factory=dict)
    """The live tables', full-text indexes' and those indexes' own tables' SQL, by name."""
    triggers: dict[str, str] = field(default_factory=dict)
    """Triggers on the live tables: name -> SQL (those that keep a full-text index are cloned onto the
    shadows; all stay on the live names through the swap)."""

    # -- in the scratch file -------------------------------------------------------------------
    def track(self, scratch: Connection) -> None:
        """Note every change to the copy's tables from now on (the scratch file's connection)."""
        for table in self.tables:
            log, key = quote(_log(table.name)), ", ".join(map(quote, table.key))
            scratch.exec_driver_sql(f"CREATE TABLE {log} AS SELECT {key} FROM {quote(table.name)} WHERE 0")
            for when, rows in (("INSERT", ("new",)), ("DELETE", ("old",)), ("UPDATE", ("old", "new"))):
                body = " ".join(
                    f"INSERT INTO {log} VALUES ({', '.join(f'{row}.{quote(c)}' for c in table.key)});"
                    for row in rows
                )
                trigger = quote(f"{_log(table.name)}_{when.lower()}")
                scratch.exec_driver_sql(
                    f"CREATE TRIGGER {trigger} AFTER {when} ON {quote(table.name)} BEGIN {body} END"
                )

    # -- in the live file, each a transaction of the writer's ------------------------------------
    def prepare(self, connection: Connection) -> None:
        """Read the live schema and create the shadows (`discard` has removed any leftovers)."""
        schema = connection.exec_driver_sql(
            "SELECT type, name, tbl_name, sql FROM main.sqlite_master WHERE sql IS NOT NULL"
        ).fetchall()
        wanted = set(self.names)
        self.triggers = {
            name: sql for kind, name, table, sql in schema if kind == "trigger" and table in wanted
        }
        virtual = {
            name: sql
            for kind, name, _, sql in schema
            if kind == "table" and sql.upper().startswith("CREATE VIRTUAL TABLE")
        }
        self.fulltext = {
            name: sql
            for name, sql in virtual.items()
            if any(writes_into(trigger, {name}) for trigger in self.triggers.values())
        }
        self.tables_sql = {
            name: sql
            for kind, name, _, sql in schema
            if kind == "table"
            and (name in wanted or any(name == f or name.startswith(f + "_") for f in self.fulltext))
        }
        self.tables = []
        for name in self.names:
            table_sql = next(sql for kind, n, _, sql in schema if kind == "table" and n == name)
            info = connection.exec_driver_sql(f"PRAGMA main.table_info({quote(name)})").fetchall()
            columns = [row[1] for row in info]
            key = [row[1] for row in sorted((row for row in info if row[5]), key=lambda row: row[5])]
            if not key:
                raise ValueError(f"{name} has no primary key: its rows cannot be moved a batch at a time")
            indexes = {n: sql for kind, n, t, sql in schema if kind == "index" and t == name}
            self.tables.append(_Table(name, columns, key, table_sql, indexes))
        for table in self.tables:
            connection.exec_driver_sql(rename_head(table.sql, table.name, table.name + SHADOW))
            for index, sql in table.indexes.items():
                renamed = rename_head(sql, index, index + SHADOW)
                connection.exec_driver_sql(rename_on(renamed, table.name, table.name + SHADOW))
        for name, sql in self.fulltext.items():
            connection.exec_driver_sql(rename_head(sql, name, name + SHADOW))
        for name, sql in self._fulltext_triggers().items():
            shadow = rename_head(sql, name, name + SHADOW)
            on = next(t for t in self.names if on_table(sql) == t)
            shadow = rename_on(shadow, on, on + SHADOW)
            connection.exec_driver_sql(rename_words(shadow, {n: n + SHADOW for n in self.fulltext}))

    def copy(self, connection: Connection) -> bool:
        """Move the next batch of the copy's rows into the shadows, in a transaction of its own
        (called outside one). False once all are moved.

        The rows go from the scratch file to the shadow in one `INSERT ... SELECT`, the scratch
        attached to the writer connection for that transaction only: no row passes through Python,
        which cost more than SQLite's own work of the copy (docs/benchmarks.md, session 13). It is
        detached once the batch commits: attached, every `BEGIN IMMEDIATE` of the writer would
        lock it, and the replay's catch-up writes it meanwhile."""
        table = next((t for t in self.tables if not t.done), None)
        if table is None:
            return False
        key, columns = column_list(table.key), column_list(table.columns)
        source = f"{ATTACHED}.{quote(table.name)}"
        after = "" if table.copied is None else f" WHERE ({key}) > ({placeholders(table.key)})"
        with _attached(connection, self.path), connection.begin():
            moved = connection.exec_driver_sql(
                f"INSERT INTO main.{quote(table.name + SHADOW)} ({columns})"
                f" SELECT {columns} FROM {source}{after} ORDER BY {key} LIMIT {COPY_ROWS}",
                table.copied or (),
            ).rowcount
            if moved:  # the last key moved, in the scratch's own order (its collations)
                last = connection.exec_driver_sql(
                    f"SELECT {key} FROM {source}{after} ORDER BY {key} LIMIT 1 OFFSET {moved - 1}",
                    table.copied or (),
                ).one()
                table.copied = tuple(last)
        table.done = moved < COPY_ROWS
        return True

    def apply(self, connection: Connection) -> bool:
        """Re-copy a batch of the rows the copy changed since they were moved. False once none is left."""
        for table in self.tables:
            log = quote(_log(table.name))
            key = column_list(table.key)
            with self.scratch.connect() as scratch:
                changes = scratch.exec_driver_sql(
                    f"SELECT rowid, {key} FROM {log} WHERE rowid > ? ORDER BY rowid LIMIT {COPY_ROWS}",
                    (table.changes_applied,),
                ).fetchall()
                if not changes:
                    continue
                keys = list(dict.fromkeys(tuple(change[1:]) for change in changes))
                match = " AND ".join(f"{quote(column)} = ?" for column in table.key)
                rows = [
                    tuple(row)
                    for found in keys
                    for row in scratch.exec_driver_sql(
                        f"SELECT {column_list(table.columns)} FROM {quote(table.name)} WHERE {match}", found
                    )
                ]
            shadow = f"main.{quote(table.name + SHADOW)}"
            connection.exec_driver_sql(f"DELETE FROM {shadow} WHERE {match}", keys)
            if rows:
                columns, values = column_list(table.columns), placeholders(table.columns)
                connection.exec_driver_sql(f"INSERT INTO {shadow} ({columns}) VALUES ({values})", rows)
            table.changes_applied = changes[-1][0]
            return True
        return False

    def swap(self, connection: Connection) -> None:
        """Put the shadows' rows in the live tables' place in one edit of the schema table: each
        live table, index and full-text index's own table takes its shadow's pages (`rootpage`),
        and the shadow, holding the live one's old pages, becomes `<name>__replaced`. No row moves,
        and the schema is parsed again once, however many tables are swapped.

        `ALTER TABLE ... RENAME` rewrites and re-parses the whole schema for every table it renames
        (a full-text index renames its own tables too), which was most of the swap's hold
        (docs/benchmarks.md, session 11). The live rows keep their names, SQL and place: SQLite
        loads the schema in rowid order and a trigger must come after its table, so a live table
        cannot take a later row's place. The live triggers are untouched and fire on the new
        pages; the shadows' clones of the full-text triggers go. The edit follows SQLite's own
        procedure for schema changes (lang_altertable.html#otheralter: `writable_schema`,
        `schema_version` + 1); `writable_schema = RESET` makes this connection re-read the schema,
        and other connections re-read it on their next statement, seeing the new
        `schema_version`. The planner's statistics name tables and indexes: they now describe the
        new ones."""
        pairs = self._pairs()
        rows = connection.exec_driver_sql(
            "SELECT rowid, type, name, tbl_name, rootpage, sql FROM main.sqlite_master"
        ).fetchall()
        live = {(kind, name): (rowid, table, root, sql) for rowid, kind, name, table, root, sql in rows}
        edits: list[tuple[str, str, int, str | None, int]] = []
        dropped: list[tuple[int]] = []
        for rowid, kind, name, table, root, sql in rows:
            if table not in pairs:
                continue
            if kind == "trigger":  # a clone that kept the shadow's full-text index
                dropped.append((rowid,))
                continue
            live_table, retired_table = pairs[table]
            if kind == "table":
                live_name, retired = live_table, retired_table
            elif sql is None:  # an index SQLite made for a constraint: named after its table
                live_name = _AUTOINDEX + live_table + name[len(_AUTOINDEX + table) :]
                retired = _AUTOINDEX + retired_table + name[len(_AUTOINDEX + table) :]
            else:
                live_name = name.removesuffix(SHADOW)
                retired = live_name + REPLACED
            live_row, live_of, live_root, live_sql = live[(kind, live_name)]
            if sql is not None:
                sql = rename_head(sql, name, retired)
                if kind == "index":
                    sql = rename_on(sql, table, retired_table)
            edits.append((live_name, live_of, root, live_sql, live_row))
            edits.append((retired, retired_table, live_root, sql, rowid))
        version = connection.exec_driver_sql("PRAGMA main.schema_version").scalar_one()
        connection.exec_driver_sql("PRAGMA writable_schema = ON")
        try:
            if dropped:
                connection.exec_driver_sql("DELETE FROM main.sqlite_master WHERE rowid = ?", dropped)
            connection.exec_driver_sql(
                "UPDATE main.sqlite_master SET name = ?, tbl_name = ?, rootpage = ?, sql = ? WHERE rowid = ?",
                edits,
            )
            connection.exec_driver_sql(f"PRAGMA main.schema_version = {int(version) + 1}")
        finally:
            connection.exec_driver_sql("PRAGMA writable_schema = RESET")
        _check_reloaded(connection, next(iter(pairs.values()))[1])
        _swap_sequences(connection, pairs)

    def discard(self, connection: Connection) -> bool:
        """Remove a batch of what a rebuild leaves (`drop_a_batch`). False once nothing is left."""
        return drop_a_batch(connection)

    # -- helpers ---------------------------------------------------------------------------------
    def _fulltext_triggers(self) -> dict[str, str]:
        """The live triggers that keep a full-text index (cloned onto the shadows)."""
        return {n: sql for n, sql in self.triggers.items() if writes_into(sql, set(self.fulltext))}

    def _pairs(self) -> dict[str, tuple[str, str]]:
        """Each shadow table's live table, and the name the live one's pages take in the swap: the
        rebuilt tables, their full-text indexes and those indexes' own tables (`<index>_data`,
        ...: FTS5 finds them by its own name, so they follow it)."""
        pairs = {name + SHADOW: (name, name + REPLACED) for name in [*self.names, *self.fulltext]}
        for index in self.fulltext:
            for name in self.tables_sql:
                if name.startswith(index + "_"):
                    part = name[len(index) :]
                    pairs[index + SHADOW + part] = (name, index + REPLACED + part)
        return pairs


@contextlib.contextmanager
def _attached(connection: Connection, path: str) -> Iterator[None]:
    """The scratch file attached to `connection` (outside a transaction), detached after."""
    driver.execute(connection, f"ATTACH DATABASE ? AS {ATTACHED}", (path,))
    try:
        yield
    finally:
        driver.execute(connection, f"DETACH DATABASE {ATTACHED}")


def _check_reloaded(connection: Connection, replaced: str) -> None:
    """This connection must now read the schema as edited: a SQLite whose `writable_schema` knows
    no RESET would go on writing to the old pages under the live names. Refused, the swap's
    transaction rolls back and nothing changes."""
    try:
        connection.exec_driver_sql(f"SELECT 1 FROM main.{quote(replaced)} LIMIT 0")
    except exc.OperationalError as error:
        raise RuntimeError(
            f"SQLite {sqlite3.sqlite_version} did not re-read its schema after the live rebuild's"
            " swap (PRAGMA writable_schema = RESET): nothing was swapped; use a newer SQLite"
        ) from error


def _swap_sequences(connection: Connection, pairs: dict[str, tuple[str, str]]) -> None:
    """`AUTOINCREMENT`'s counters follow the pages: the live name takes its shadow's counter."""
    if connection.exec_driver_sql(
        "SELECT 1 FROM main.sqlite_master WHERE type = 'table' AND name = 'sqlite_sequence'"
    ).first():
        connection.exec_driver_sql(
            "UPDATE main.sqlite_sequence SET name = CASE name WHEN ? THEN ? ELSE ? END WHERE name IN (?, ?)",
            [(live, retired, live, live, shadow) for shadow, (live, retired) in pairs.items()],
        )


def drop_a_batch(connection: Connection) -> bool:
    """One short step of removing what a rebuild leaves beside the live tables: every table or
    trigger whose name ends in `__rebuilt` or `__replaced` (the shadows before a swap, the replaced
    tables after one, whatever stopped it), and the full-text indexes' own tables with them.

    A step drops the leftovers' triggers (so deleting rows fires none), or deletes up to
    `DROP_ROWS` rows from one leftover (a full-text index: from its own tables, but `_config`), or
    drops a leftover that is empty, which is then cheap. False once nothing is left. Live tables
    are never touched: their names carry neither suffix, nor do the live full-text indexes' own
    tables (`<index>_data`, ...); a leftover index's own tables are `<leftover>_data`, ... ."""
    patterns = (like(SHADOW), like(REPLACED))
    triggers = connection.exec_driver_sql(
        "SELECT name FROM main.sqlite_master WHERE type = 'trigger'"
        " AND (name LIKE ? ESCAPE '\\' OR name LIKE ? ESCAPE '\\'"
        " OR tbl_name LIKE ? ESCAPE '\\' OR tbl_name LIKE ? ESCAPE '\\')",
        (*patterns, *patterns),
    ).fetchall()
    for (name,) in triggers:
        connection.exec_driver_sql(f"DROP TRIGGER main.{quote(name)}")
    if triggers:
        return True
    leftovers = connection.exec_driver_sql(
        "SELECT name, sql FROM main.sqlite_master WHERE type = 'table'"
        " AND (name LIKE ? ESCAPE '\\' OR name LIKE ? ESCAPE '\\') ORDER BY name",
        patterns,
    ).fetchall()
    if not leftovers:
        return False
    name, sql = leftovers[0]
    kinds = {
        row[1]: (row[2], bool(row[4]))  # name -> (type, without rowid)
        for row in connection.exec_driver_sql("PRAGMA main.table_list").fetchall()
    }
    holders = [name]
    if sql.upper().startswith("CREATE VIRTUAL TABLE"):
        holders = sorted(
            table
            for table, (kind, _) in kinds.items()
            if kind == "shadow" and table.startswith(name + "_") and table != name + _KEPT
        )
    for table in holders:
        if _delete_a_batch(connection, table, without_rowid=kinds[table][1]):
            return True
    connection.exec_driver_sql(f"DROP TABLE main.{quote(name)}")
    return True


def _delete_a_batch(connection: Connection, table: str, *, without_rowid: bool) -> bool:
    """Delete up to `DROP_ROWS` rows of `table`, the first in its key's order. False if it was empty."""
    if without_rowid:
        info = connection.exec_driver_sql(f"PRAGMA main.table_info({quote(table)})").fetchall()
        columns = column_list([row[1] for row in sorted(info, key=lambda row: row[5]) if row[5]])
        key = f"({columns})"
    else:
        columns = key = "rowid"
    deleted = connection.exec_driver_sql(
        f"DELETE FROM main.{quote(table)} WHERE {key} IN"
        f" (SELECT {columns} FROM main.{quote(table)} LIMIT {DROP_ROWS})"
    )
    return bool(deleted.rowcount)


def _log(table: str) -> str:
    return f"changes_of_{table}"
