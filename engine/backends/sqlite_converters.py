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

import sqlite3
from datetime import UTC, datetime
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
