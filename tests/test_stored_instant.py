"""SQLite stores instants as text, and compares them as text (`expires_at > :now`, the sessions
list's order, time travel's `recorded_at` bounds): the write path's own formatting of an instant
(`SqliteBackend.stored_instant`, for rows it hands the driver) must be exactly what SQLAlchemy binds
for a `UtcDateTime`, or rows written by one path would sort wrongly against the other's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st

from session_engine.engine.backends.sqlite import SqliteBackend
from session_engine.engine.clock import as_utc
from session_engine.engine.log.schema import UtcDateTime, instant_from_stored
from session_engine.engine.objects.state import iso

_dialect = SqliteBackend._compiler_dialect()
_bind = UtcDateTime().dialect_impl(_dialect).bind_processor(_dialect)

instants = st.datetimes(
    min_value=datetime(2, 1, 1),
    max_value=datetime(9998, 12, 31),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(hours=8))]),
)


@given(instant=instants)
def test_the_write_path_stores_an_instant_as_sqlalchemy_binds_it(instant: datetime) -> None:
    assert _bind is not None
    stored = SqliteBackend.stored_instant(instant)
    assert stored == _bind(instant)
    assert instant_from_stored(stored) == instant


@given(earlier=instants, later=instants)
def test_stored_instants_sort_as_the_instants_do(earlier: datetime, later: datetime) -> None:
    stored = SqliteBackend.stored_instant(earlier), SqliteBackend.stored_instant(later)
    assert (stored[0] < stored[1]) == (earlier < later)


_read = UtcDateTime().dialect_impl(_dialect).result_processor(_dialect, None)
_parse = sa.DateTime().dialect_impl(_dialect).result_processor(_dialect, None)


@given(instant=instants)
def test_a_stored_instant_reads_back_as_the_same_utc_instant(instant: datetime) -> None:
    """The column type's own reader on SQLite (one call) reads what SQLAlchemy's parser followed by
    `as_utc` read, as the engine's `UTC` itself (`iso` and `as_utc` rely on it)."""
    assert _read is not None and _parse is not None
    stored = SqliteBackend.stored_instant(instant)
    found = _read(stored)
    assert found == instant == as_utc(_parse(stored))
    assert found is not None and found.tzinfo is UTC
    assert _read(None) is None


@given(instant=instants)
def test_iso_is_isoformat_to_the_microsecond(instant: datetime) -> None:
    assert iso(instant) == as_utc(instant).isoformat(timespec="microseconds")
    assert iso(instant.astimezone(UTC)) == instant.astimezone(UTC).isoformat(timespec="microseconds")
