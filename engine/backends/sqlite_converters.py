"""Values sqlite3 converts as it builds a row, for the log's hottest read (a session's events).

sqlite3 releases and retakes the GIL around `sqlite3_column_type` for every value of every row
(a pair of mutex hand-overs each), except for a column that has a converter: that one is handed
to the converter as bytes, with the GIL held. The engine's connections parse column names
(`PARSE_COLNAMES`), so a read names a converter by labelling a column `"name [CONVERTER]"`:

- `JSON`: a JSON document, decoded by orjson (the decode a read needed anyway, now without
  making a text object first);
- `NAME`: a short text that repeats (an event type), as one shared string per distinct value;
- `INSTANT`: a stored `recorded_at`, as its aware datetime, one per distinct value (the events of
  one commit share it).

The converters are registered with the sqlite3 module, for the whole process, under names of the
engine's own; a column without such a label reads as before.
"""

from __future__ import annotations

import operator
import sqlite3
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from itertools import islice
from typing import Any

import orjson

JSON = "SESSION_ENGINE_JSON"
NAME = "SESSION_ENGINE_NAME"
INSTANT = "SESSION_ENGINE_INSTANT"
CACHED = 4096
"""Distinct values a cache keeps before it starts over (a read meets a few; a replay many)."""


class _Cache(dict[bytes, Any]):
    """Stored bytes to their value, made on first sight; `__getitem__` is the converter (a C-level
    call: a lookup for a value seen before). Safe across threads: a race makes a value twice."""

    def __init__(self, make: Any) -> None:
        super().__init__()
        self._make = make

    def __missing__(self, stored: bytes) -> Any:
        if len(self) >= CACHED:
            self.clear()
        value = self[stored] = self._make(stored)
        return value


def _instant(stored: bytes) -> datetime:
    return datetime.fromisoformat(stored.decode()).replace(tzinfo=UTC)


names: _Cache = _Cache(bytes.decode)
instants: _Cache = _Cache(_instant)
sqlite3.register_converter(JSON, orjson.loads)
sqlite3.register_converter(NAME, names.__getitem__)
sqlite3.register_converter(INSTANT, instants.__getitem__)


def labelled(column: str, converter: str) -> str:
    """The column in SQL, labelled for sqlite3 to hand it to `converter`."""
    return f'{column} AS "{column} [{converter}]"'


SEPARATOR = "\x1f"
"""Between the types and the instants of a stream's read as columns (ASCII's unit separator)."""

STREAM_COLUMNS = "SELECT " + ", ".join(
    f"'[' || group_concat({column}) || ']' AS \"{column} [{JSON}]\""
    if column not in ("type", "recorded_at")
    else f"group_concat({column}, char(31)) AS {column}"
    for column in ("position", "version", "type", "schema_version", "data", "metadata", "recorded_at")
)
"""A stream's whole read as one row of seven columns, a `StreamRow`'s (completed by the read's FROM
and WHERE): the numbers and documents as JSON arrays that orjson decodes at once, the types and
instants (as stored) joined by `SEPARATOR`. An aggregate's order is SQLite's choice, not the SQL's
(the rows of the stream's index, in version order, as it stands): `stream_rows` puts them in
version order when they are not."""


class StreamRows(Sequence[Any]):
    """A read's `StreamRow`s over its columns: iterated, each row is made as it is reached (a
    `zip`, which reuses its tuple when the loop let go of the last one), not kept."""

    __slots__ = ("_columns",)

    def __init__(self, columns: tuple[list[Any], ...]) -> None:
        self._columns = columns

    def __len__(self) -> int:
        return len(self._columns[0])

    def __getitem__(self, index: int) -> Any:  # type: ignore[override]
        return tuple(column[index] for column in self._columns)

    def __iter__(self) -> Iterator[Any]:
        return zip(*self._columns, strict=True)


def stream_rows(columns: tuple[Any, ...]) -> Sequence[Any] | None:
    """The `StreamRow`s of a read as `STREAM_COLUMNS`, in version order; None when a type holds
    the separator."""
    positions, versions, types, schema_versions, data, metadata, instants = columns
    if positions is None:  # no rows: every aggregate is NULL
        return []
    types, instants = types.split(SEPARATOR), instants.split(SEPARATOR)
    if len(types) != len(positions):
        return None
    rows = StreamRows((positions, versions, types, schema_versions, data, metadata, instants))
    if all(map(operator.lt, versions, islice(versions, 1, None))):
        return rows
    return sorted(rows, key=operator.itemgetter(1))
