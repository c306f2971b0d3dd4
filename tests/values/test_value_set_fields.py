"""A replay reads a `value_set`'s fields without the model (`_set_fields`): what it reads must be
what `ValueSet` validates, for what the engine records and for anything else the log may hold."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from session_engine.engine.values.events import ValueSet
from session_engine.engine.values.projection import _set_fields

zones = [UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5, minutes=-30))]
instants = st.datetimes(
    min_value=datetime(1970, 1, 2),
    max_value=datetime(9999, 12, 30),
    timezones=st.sampled_from(zones),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=6,
)


def by_model(data: dict[str, Any]) -> tuple[Any, ...]:
    payload = ValueSet.model_validate(data)
    return payload.key, payload.value, payload.size, payload.expires_at, payload.replaced


@given(st.text(max_size=8), json_values, st.integers(0, 10**6), st.none() | instants, st.booleans())
def test_recorded_fields_read_as_the_model_validates_them(
    key: str, value: Any, size: int, expires_at: datetime | None, replaced: bool
) -> None:
    data = ValueSet(key=key, value=value, size=size, expires_at=expires_at, replaced=replaced).model_dump(
        mode="json"
    )
    fields = _set_fields(data)
    assert fields == by_model(data)
    if expires_at is not None:
        assert fields[3] is not None and fields[3].utcoffset() == expires_at.utcoffset()


@pytest.mark.parametrize(
    "data",
    [
        {"key": "k", "value": 1, "size": 3, "expires_at": "2026-01-01T00:00:00", "replaced": False},
        {"key": "k", "value": 1, "size": 3, "expires_at": 1_767_225_600, "replaced": True},
        {"key": "k", "value": 1, "size": "3", "replaced": False},
        {"key": "k", "value": 1, "size": 3},
    ],
)
def test_other_forms_go_through_the_model(data: dict[str, Any]) -> None:
    assert _set_fields(data) == by_model(data)


def test_a_payload_the_model_refuses_is_refused() -> None:
    with pytest.raises(ValidationError):
        _set_fields({"key": "k", "value": 1, "size": 3, "expires_at": "not an instant", "replaced": False})
