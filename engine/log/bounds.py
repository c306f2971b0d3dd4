"""The integers reads bind into SQL, bounded by what the columns hold on both backends alike.

A read compares a client's number with a column: a stream version (`events.version`, INTEGER:
32 bits on PostgreSQL, 64 on SQLite) or a log position, a sequence key or a row count (BIGINT on
PostgreSQL, INTEGER on SQLite: 64 bits signed). A number beyond the column's range made the read
fail inside the driver on one backend (a 500 on PostgreSQL for a version above 2**31 - 1, where
SQLite answered) or on both (SQLite cannot bind an integer above 2**63 - 1 at all). The engine
refuses such numbers itself, with `ValidationFailed`, before any SQL: one rule for both backends.
"""

from __future__ import annotations

from session_engine.engine.errors import ValidationFailed

MAX_INTEGER = 2**31 - 1
"""An SQL INTEGER (32 bits on PostgreSQL): stream versions, and a stream read's LIMIT."""
MAX_BIGINT = 2**63 - 1
"""An SQL BIGINT (SQLite's INTEGER): log positions, sequence keys, a log page's LIMIT."""


def check_integer(name: str, value: int | None) -> None:
    """`value` is None or an integer from 0 to MAX_INTEGER (else `ValidationFailed`)."""
    _check(name, value, MAX_INTEGER)


def check_bigint(name: str, value: int | None) -> None:
    """`value` is None or an integer from 0 to MAX_BIGINT (else `ValidationFailed`)."""
    _check(name, value, MAX_BIGINT)


def _check(name: str, value: int | None, largest: int) -> None:
    if value is None:
        return
    if type(value) is not int or not 0 <= value <= largest:
        raise ValidationFailed(f"{name} must be an integer from 0 to {largest}")
