"""Core statements compiled once to the driver's SQL, and the rows a read returns.

A hot path states its statement in SQLAlchemy Core like every other query, wrapped in `Prepared`,
and runs it on the DB-API driver: each backend compiles it once to its driver's SQL, with the order
its parameters take and the conversions its column types make (a `DriverStatement`). A call then
costs a dictionary lookup, a tuple of parameters and the driver's execute; SQLAlchemy's work per
execution (an execution context, bind and result processing set up per call) is skipped, and so
are hand-written SQL strings per database.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql import Executable

Conversion = Callable[[Any], Any]


class Prepared:
    """A Core statement that runs on the driver, compiled once per backend (declare it once, at
    module level). `UnitOfWork.read` takes it with named parameters, like any Core statement, and
    returns its rows as tuples holding what the column types read (an instant is an aware datetime
    on every backend)."""

    __slots__ = ("compiled", "statement")

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        self.compiled: dict[str, DriverStatement] = {}
        """Backend name -> the statement in that backend's driver SQL (filled by `Backend.compile`)."""

    def __repr__(self) -> str:
        return f"Prepared({self.statement})"


Query = Executable | Prepared
"""What a read in a transaction takes: a Core statement, or one prepared for the driver."""


@dataclass(frozen=True, slots=True)
class DriverStatement:
    """A statement in one driver's SQL, with what it takes and how its values are converted."""

    sql: str
    names: tuple[str, ...]
    """Every parameter in the order the driver takes them (fixed ones under their compiled names)."""
    takes: tuple[tuple[str | None, Any, Conversion | None], ...]
    """Per parameter: the caller's name (None for a value fixed in the statement), the fixed value
    (already converted), and the conversion of a caller's value to what the driver binds."""
    results: tuple[tuple[int, Conversion], ...]
    """Columns whose driver values the column types convert when read: (index, conversion)."""

    def parameters(self, params: Mapping[str, Any]) -> tuple[Any, ...]:
        """The driver's positional parameters for the caller's named ones."""
        values = []
        for name, fixed, convert in self.takes:
            if name is None:
                values.append(fixed)
            elif convert is None:
                values.append(params[name])
            else:
                values.append(convert(params[name]))
        return tuple(values)

    def converted(self, rows: list[Any]) -> list[Any]:
        """Driver rows with each column as its type reads it."""
        if not self.results:
            return rows
        converted = []
        for row in rows:
            values = list(row)
            for index, convert in self.results:
                values[index] = convert(values[index])
            converted.append(tuple(values))
        return converted

    def takes_rows_of(self, columns: Sequence[str]) -> str:
        """The SQL, for rows whose values come in the order of `columns`, already in the stored
        form (an executemany); refuses a statement whose parameters would come in another order."""
        if list(self.names) != list(columns):
            raise ValueError(f"the statement takes {self.names}, not rows of {tuple(columns)}")
        return self.sql


def compile_statement(
    statement: Executable, dialect: sa.Dialect, bind_conversion: Callable[[Any], Conversion | None]
) -> DriverStatement:
    """Compile `statement` for a dialect with a positional paramstyle (qmark or format).

    `bind_conversion(type)` gives the conversion of a parameter of that type (a backend may know a
    cheaper one than the type's own); columns are read through their types' own result processors.
    """
    compiled: Any = statement.compile(dialect=dialect)  # type: ignore[attr-defined]
    names = tuple(compiled.positiontup or ())
    takes: list[tuple[str | None, Any, Conversion | None]] = []
    for name in names:
        bind = compiled.binds[name]
        if bind.expanding:
            raise TypeError(
                f"{name}: a prepared statement takes no IN list parameters; give each value its own"
            )
        convert = bind_conversion(bind.type)
        if bind.required:
            takes.append((bind.key, None, convert))
        else:
            value = bind.effective_value
            takes.append((None, value if convert is None else convert(value), None))
    results = []
    for index, column in enumerate(getattr(statement, "selected_columns", ())):
        convert = column.type.dialect_impl(dialect).result_processor(dialect, None)
        if convert is not None:
            results.append((index, convert))
    return DriverStatement(compiled.string, names, tuple(takes), tuple(results))


class Rows(list[Any]):
    """The rows of a read, all fetched, with the shortcuts of SQLAlchemy's results."""

    __slots__ = ()

    def first(self) -> Any:
        return self[0] if self else None

    def scalar(self) -> Any:
        return self[0][0] if self else None

    def scalars(self) -> list[Any]:
        return [row[0] for row in self]
