"""A batch of one `value_set` (most live sets) writes its rows without the fold
(`ValuesProjection.apply`): they must be the rows the folding path (`BatchedProjection.apply`, what
a replay and every larger batch run) leaves, on both databases, whatever the session held before."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Connection

from session_engine.engine.backends import Backend
from session_engine.engine.log.records import RecordedEvent, build_recorded
from session_engine.engine.projections.base import BatchedProjection, ProjectionContext
from session_engine.engine.values.events import ValueSet
from session_engine.engine.values.projection import values
from session_engine.engine.values.tables import value_entries, value_sessions

zones = [UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5, minutes=-30))]
instants = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.sampled_from(zones)
)
# Text as the engine stores it: no NUL (documents refuse it; PostgreSQL's JSON cannot hold it).
text = st.characters(codec="utf-8", exclude_characters="\x00")
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(text, max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(text, max_size=3), inner, max_size=3),
    max_leaves=6,
)
sets = st.fixed_dictionaries(
    {
        "key": st.sampled_from(["a", "b", "part:x"]),
        "value": json_values,
        "size": st.integers(0, 10**6),
        "expires_at": st.none() | instants,
        "replaced": st.booleans(),
    }
)


def _event(position: int, fields: dict[str, Any], at: datetime) -> RecordedEvent:
    data = ValueSet(**fields).model_dump(mode="json")
    return build_recorded(position, "ns", "s", position, "value_set", 1, data, {}, at)


def _rows(connection: Connection) -> list[Any]:
    return [
        [tuple(row) for row in connection.execute(sa.select(table).order_by(*table.primary_key))]
        for table in (value_entries, value_sessions)
    ]


def _after(
    connection: Connection, backend: Backend, earlier: list[RecordedEvent], lone: RecordedEvent, fast: bool
) -> list[Any]:
    """The tables after `earlier` (folded, as one batch) and then `lone` alone, rolled back after."""
    transaction = connection.begin()
    try:
        context = ProjectionContext(connection, backend)
        if earlier:
            BatchedProjection.apply(values, context, earlier)
        if fast:
            values.apply(context, [lone])
        else:
            BatchedProjection.apply(values, context, [lone])
        context.flush()
        return _rows(connection)
    finally:
        transaction.rollback()


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(
    earlier=st.lists(sets, max_size=3),
    lone=sets,
    at=instants,
)
def test_a_lone_set_leaves_the_rows_the_fold_leaves(
    database_url: str, earlier: list[dict[str, Any]], lone: dict[str, Any], at: datetime
) -> None:
    backend = Backend.for_url(database_url)
    engine = backend.create_engine(writer=True)
    try:
        before = [_event(i + 1, fields, at) for i, fields in enumerate(earlier)]
        event = _event(len(before) + 1, lone, at + timedelta(seconds=1))
        with engine.connect() as connection:
            assert _after(connection, backend, before, event, fast=True) == _after(
                connection, backend, before, event, fast=False
            )
    finally:
        engine.dispose()
