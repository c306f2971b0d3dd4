"""Core statements compiled once to the driver's SQL, and the rows a read returns.

A hot path states its statement in SQLAlchemy Core like every other query, wrapped in `Prepared`,
and runs it on the DB-API driver: each backend compiles it once to its driver's SQL, with the order
its parameters take and the conversions its column types make (a `DriverStatement`). A call then
costs a dictionary lookup, a tuple of parameters and the driver's execute; SQLAlchemy's work per
execution (an execution context, bind and result processing set up per call) is skipped, and so
are hand-written SQL strings per database.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.sql import Executable

from session_engine.engine.backends import driver

Conversion = Callable[[Any], Any]


class Prepared:
    """A Core statement that runs on the driver, compiled once per backend (declare it once, at
    module level). `UnitOfWork.read` takes it with named parameters, like any Core statement, and
    returns its rows as a plain list of tuples holding what the column types read (an instant is
    an aware datetime on every backend)."""

    __slots__ = ("compiled", "statement")

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        self.compiled: dict[str, DriverStatement] = {}
        """Backend name -> the statement in that backend's driver SQL (filled by `Backend.compile`)."""

    def __repr__(self) -> str:
        return f"Prepared({self.statement})"


Query = Executable | Prepared
"""What a read in a transaction takes: a Core statement, or one prepared for the driver."""


class DriverStatement:
    """A statement in one driver's SQL, with what it takes and how its values are converted.

    Result conversions are settled at the first execution: some types' processors depend on the
    type the driver reports for the column (PostgreSQL's numerics), as in SQLAlchemy.
    """

    __slots__ = (
        "_callers",
        "_column_types",
        "_convert",
        "_dialect",
        "_fixed",
        "_named",
        "_probe",
        "names",
        "sql",
        "takes",
    )

    def __init__(
        self,
        sql: str,
        names: tuple[str, ...],
        takes: tuple[tuple[str | None, Any, Conversion | None], ...],
        column_types: tuple[Any, ...],
        dialect: sa.Dialect,
    ) -> None:
        self.sql = sql
        self.names = names
        """Every parameter in the order the driver takes them (fixed ones under their compiled names)."""
        self.takes = takes
        """Per parameter: the caller's name (None for a value fixed in the statement), the fixed
        value (already converted), and the conversion of a caller's value to what the driver binds."""
        self._column_types = column_types
        self._dialect = dialect
        # Most statements take only the caller's values, unconverted: one C call picks them out.
        keys = [name for name, _, convert in takes if name is not None and convert is None]
        named: Callable[[Mapping[str, Any]], Any] | None = None
        if len(keys) == len(takes):
            if len(keys) > 1:
                named = operator.itemgetter(*keys)
            elif keys:
                only = keys[0]
                named = lambda params: (params[only],)  # noqa: E731 - a tuple, as itemgetter gives for several
            else:
                named = lambda params: ()  # noqa: E731
        self._named = named
        # Otherwise the fixed values are placed once: a call fills in only the caller's.
        self._fixed = [fixed for _, fixed, _ in takes]
        self._callers = tuple(
            (index, name, convert) for index, (name, _, convert) in enumerate(takes) if name is not None
        )
        self._convert: Callable[[list[Any]], None] | None = _UNSETTLED if column_types else None
        self._probe = -1
        """The one converted column's index (-1: several), to skip rows holding NULL there."""

    def parameters(self, params: Mapping[str, Any]) -> tuple[Any, ...]:
        """The driver's positional parameters for the caller's named ones."""
        named = self._named
        if named is not None:
            return named(params)  # type: ignore[no-any-return]
        values = self._fixed.copy()
        for index, name, convert in self._callers:
            values[index] = params[name] if convert is None else convert(params[name])
        return tuple(values)

    def fetch(self, connection: Connection, params: Mapping[str, Any]) -> list[Any]:
        """Run the query on the connection's driver, inside its transaction: its rows, as tuples
        holding what the column types read (a NULL stays None). Driver errors raise `DBAPIError`s.

        One frame and the driver's own list: this runs for the hottest decisions, where a wrapper
        object per read was a visible share of a write."""
        named = self._named
        args = named(params) if named is not None else self.parameters(params)
        dbapi: Any = connection.connection.dbapi_connection
        try:
            cursor = dbapi.execute(self.sql, args)
            raw = cursor.fetchall()
        except connection.dialect.loaded_dbapi.Error as error:
            raise driver.wrapped(connection, error) from error
        convert = self._convert
        if convert is _UNSETTLED:
            convert = self._settle(cursor.description)
        if convert is not None:
            index = self._probe
            for row in raw:  # most reads find no value to convert (a NULL stays None)
                if index < 0 or row[index] is not None:
                    convert(raw)
                    break
        rows: list[Any] = raw
        return rows

    def send(self, connection: Connection, params: Mapping[str, Any]) -> Any:
        """`fetch` in two steps: the query sent (queued, inside a pipeline), its cursor returned
        for `collect` once the pipeline has synced."""
        named = self._named
        args = named(params) if named is not None else self.parameters(params)
        dbapi: Any = connection.connection.dbapi_connection
        try:
            return dbapi.execute(self.sql, args)
        except connection.dialect.loaded_dbapi.Error as error:
            raise driver.wrapped(connection, error) from error

    def collect(self, cursor: Any) -> list[Any]:
        """The rows of a query `send` sent, converted as `fetch` converts them."""
        raw: list[Any] = cursor.fetchall()
        convert = self._convert
        if convert is _UNSETTLED:
            convert = self._settle(cursor.description)
        if convert is not None and any(self._probe < 0 or row[self._probe] is not None for row in raw):
            convert(raw)
        return raw

    def _settle(self, description: Sequence[Any]) -> Callable[[list[Any]], None] | None:
        """The conversions of the columns, as the types give them for what the driver reports."""
        dialect = self._dialect
        results = []
        for index, type_ in enumerate(self._column_types):
            convert = type_.dialect_impl(dialect).result_processor(dialect, description[index][1])
            if convert is not None:
                results.append((index, convert))
        self._probe = results[0][0] if len(results) == 1 else -1
        self._convert = _row_converter(tuple(results))
        return self._convert

    def takes_rows_of(self, columns: Sequence[str]) -> str:
        """The SQL, for rows whose values come in the order of `columns`, already in the stored
        form (an executemany); refuses a statement whose parameters would come in another order."""
        if list(self.names) != list(columns):
            raise ValueError(f"the statement takes {self.names}, not rows of {tuple(columns)}")
        return self.sql


def _unsettled(rows: list[Any]) -> None:
    raise AssertionError("settled at the first execution")


_UNSETTLED: Callable[[list[Any]], None] = _unsettled


def _row_converter(results: tuple[tuple[int, Conversion], ...]) -> Callable[[list[Any]], None] | None:
    """A function converting driver rows in place, made for the statement's converted columns (a
    NULL reads as None whatever the type, and is left alone)."""
    if not results:
        return None
    if len(results) == 1:
        [(index, convert)] = results

        def one_column(rows: list[Any]) -> None:
            for number, row in enumerate(rows):
                value = row[index]
                if value is not None:
                    rows[number] = (*row[:index], convert(value), *row[index + 1 :])

        return one_column

    def columns(rows: list[Any]) -> None:
        for number, row in enumerate(rows):
            values = list(row)
            for index, convert in results:
                value = values[index]
                if value is not None:
                    values[index] = convert(value)
            rows[number] = tuple(values)

    return columns


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
    column_types = tuple(column.type for column in getattr(statement, "selected_columns", ()))
    return DriverStatement(compiled.string, names, tuple(takes), column_types, dialect)


class Rows(list[Any]):
    """The rows of a Core statement's read, all fetched, with the shortcuts of SQLAlchemy's
    results (a `Prepared` statement's read is a plain list: nothing is wrapped on the hot path)."""

    __slots__ = ()

    def first(self) -> Any:
        return self[0] if self else None

    def scalar(self) -> Any:
        return self[0][0] if self else None

    def scalars(self) -> list[Any]:
        return [row[0] for row in self]
