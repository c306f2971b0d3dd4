"""A projection's bulk writes (`Bulk`) in PostgreSQL's SQL: one statement over arrays for many
rows, one row's values as parameters of their own, a text COPY for a replay's plain inserts."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

if TYPE_CHECKING:
    from session_engine.engine.projections.base import Bulk

_ROWS: dict[Bulk, str] = {}
"""Each bulk write's one-row statement, made once (`row_sql`)."""
_COPIES: dict[Bulk, str] = {}
"""Each plain insert's COPY statement, made once (a replay's queue merges a run of one statement)."""


def arrays_sql(bulk: Bulk) -> str:
    """One statement over arrays (`unnest`), so a batch is one round trip and one execution, not
    one per row; `%b`: the arrays in the binary format, which spares escaping every string into an
    array literal."""
    name, columns = bulk.table.name, bulk.columns
    arrays = ", ".join(f"%b::{_array_type(bulk.table.c[c])}[]" for c in columns)
    quoted = [f'"{c}"' for c in columns]
    if bulk.delete:
        match = " AND ".join(f'{name}."{c}" = d."{c}"' for c in columns)
        return f"DELETE FROM {name} USING unnest({arrays}) AS d({', '.join(quoted)}) WHERE {match}"
    return f"INSERT INTO {name} ({', '.join(quoted)}) SELECT * FROM unnest({arrays}){_on_conflict(bulk)}"


def row_sql(bulk: Bulk) -> str:
    """The write for one row: its values as parameters of their own. psycopg dumps an array in
    Python, a value in C: a lone `values.set`'s two upserts went as sixteen one-element arrays
    (docs/benchmarks.md, session 12)."""
    sql = _ROWS.get(bulk)
    if sql is None:
        name, columns = bulk.table.name, bulk.columns
        marks = [f"%s::{_array_type(bulk.table.c[c])}" for c in columns]
        if bulk.delete:
            sql = f"DELETE FROM {name} WHERE " + " AND ".join(
                f'"{c}" = {mark}' for c, mark in zip(columns, marks, strict=True)
            )
        else:
            quoted = ", ".join(f'"{c}"' for c in columns)
            sql = f"INSERT INTO {name} ({quoted}) VALUES ({', '.join(marks)}){_on_conflict(bulk)}"
        _ROWS[bulk] = sql
    return sql


def copy_sql(bulk: Bulk) -> str:
    copy = _COPIES.get(bulk)
    if copy is None:
        quoted = ", ".join(f'"{column}"' for column in bulk.columns)
        copy = _COPIES[bulk] = f"COPY {bulk.table.name} ({quoted}) FROM STDIN"
    return copy


def column_arrays(bulk: Bulk, rows: Sequence[tuple[Any, ...]]) -> tuple[list[Any], ...]:
    """The rows as one array per column, `arrays_sql`'s parameters."""
    arrays = [list(column) for column in zip(*rows, strict=True)]
    for index in _float_columns(bulk):
        arrays[index] = [None if v is None else float(v) for v in arrays[index]]  # one type per array
    return tuple(arrays)


def _array_type(column: sa.Column[Any]) -> str:
    """The PostgreSQL type of a column, as an array cast names it: no collation, and no length (a
    cast to VARCHAR(n) would truncate silently where the insert itself refuses a longer value)."""
    compiled = column.type.compile(dialect=postgresql.dialect())  # type: ignore[no-untyped-call]
    return re.sub(r"\(\d+\)", "", compiled.split(" COLLATE ")[0])


def _on_conflict(bulk: Bulk) -> str:
    if bulk.update is None:
        return ""
    sets = ", ".join(f'"{c}" = excluded."{c}"' for c in bulk.update)
    keys = ", ".join(f'"{c}"' for c in bulk.key)
    return f" ON CONFLICT ({keys}) DO " + (f"UPDATE SET {sets}" if sets else "NOTHING")


def _float_columns(bulk: Bulk) -> tuple[int, ...]:
    found = bulk.float_columns
    if found is None:
        found = bulk.float_columns = tuple(
            i for i, c in enumerate(bulk.columns) if isinstance(bulk.table.c[c].type, sa.Float)
        )
    return found
