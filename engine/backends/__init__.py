"""The databases the engine runs on: `Backend.for_url(url)` picks `SqliteBackend` or `PostgresBackend`."""

from session_engine.engine.backends.base import (
    DEFAULT_URL,
    EVENT_COLUMNS,
    Backend,
    Durability,
    HeadMoved,
    normalise_url,
)
from session_engine.engine.backends.log_reads import LogRow, StreamRow
from session_engine.engine.backends.postgres import PostgresBackend
from session_engine.engine.backends.prepared import Prepared, Query, Rows
from session_engine.engine.backends.scratch import DialectDDL, Scratch
from session_engine.engine.backends.sqlite import WAL_CHECKPOINT_PAGES, SqliteBackend

__all__ = [
    "DEFAULT_URL",
    "EVENT_COLUMNS",
    "WAL_CHECKPOINT_PAGES",
    "Backend",
    "DialectDDL",
    "Durability",
    "HeadMoved",
    "LogRow",
    "PostgresBackend",
    "Prepared",
    "Query",
    "Rows",
    "Scratch",
    "SqliteBackend",
    "StreamRow",
    "normalise_url",
]
