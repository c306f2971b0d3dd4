"""Verification: rebuild the projections into a scratch copy and compare every row with the live tables."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from session_engine.engine.backends import Backend
from session_engine.engine.projections.base import Projection


@dataclass(frozen=True)
class Difference:
    table: str
    key: tuple[Any, ...]
    live: dict[str, Any] | None
    rebuilt: dict[str, Any] | None

    def describe(self) -> str:
        if self.live is None:
            return f"{self.table} {self.key}: missing from the live table; rebuilt has {self.rebuilt}"
        if self.rebuilt is None:
            return f"{self.table} {self.key}: only in the live table: {self.live}"
        changed = {
            name: (self.live.get(name), self.rebuilt.get(name))
            for name in sorted(set(self.live) | set(self.rebuilt))
            if self.live.get(name) != self.rebuilt.get(name)
        }
        shown = ", ".join(f"{name}: live {a!r} != rebuilt {b!r}" for name, (a, b) in changed.items())
        return f"{self.table} {self.key}: {shown}"


def compared_columns(table: sa.Table) -> list[sa.Column[Any]]:
    """Columns that verification compares (a column may opt out with info={'verify': False})."""
    return [column for column in table.columns if column.info.get("verify", True)]


def _rows(
    connection: Connection, backend: Backend, table: sa.Table
) -> Iterator[tuple[tuple[Any, ...], dict[str, Any]]]:
    key_columns = list(table.primary_key.columns)
    if not key_columns:
        raise ValueError(f"table {table.name} has no primary key; it cannot be verified row by row")
    columns = compared_columns(table)
    # The merge compares keys as Python does: strings by code point, which the order must follow.
    order = [backend.code_point_order(c) for c in key_columns]
    query = sa.select(*columns).order_by(*order)
    result = connection.execution_options(yield_per=2000).execute(query)
    for row in result.mappings():
        values = dict(row)
        yield tuple(values[c.name] for c in key_columns), values


def diff_table(
    live: Connection, rebuilt: Connection, backend: Backend, table: sa.Table, limit: int = 1000
) -> list[Difference]:
    """Every difference between two copies of a table, by a merge over primary-key order."""
    differences: list[Difference] = []
    left, right = _rows(live, backend, table), _rows(rebuilt, backend, table)
    a, b = next(left, None), next(right, None)
    while (a is not None or b is not None) and len(differences) < limit:
        if b is None or (a is not None and a[0] < b[0]):
            assert a is not None
            differences.append(Difference(table.name, a[0], a[1], None))
            a = next(left, None)
        elif a is None or b[0] < a[0]:
            differences.append(Difference(table.name, b[0], None, b[1]))
            b = next(right, None)
        else:
            if a[1] != b[1]:
                differences.append(Difference(table.name, a[0], a[1], b[1]))
            a, b = next(left, None), next(right, None)
    return differences


def diff_projections(
    live: Connection, rebuilt: Connection, backend: Backend, projections: list[Projection]
) -> list[Difference]:
    return [d for p in projections for table in p.tables for d in diff_table(live, rebuilt, backend, table)]
