"""`quick_init`: the cheaper constructor must build exactly what the dataclass's own would."""

from __future__ import annotations

import dataclasses
import inspect
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from session_engine.engine.commands import AppendEvents, Outcome
from session_engine.engine.log.records import AppendResult, Metadata, NewEvent, RecordedEvent, build_recorded
from session_engine.engine.quick_init import quick_builder, quick_init


def _shape() -> type[Any]:
    """A fresh declaration of every kind of field `quick_init` takes."""

    class Shape:
        a: int
        b: str = "b"
        c: list[int] = field(default_factory=list)
        d: int = field(default=7, kw_only=True)

    return Shape


def _twin(*, slots: bool) -> tuple[type[Any], type[Any]]:
    """The same declaration twice: once as the dataclass builds it, once with `quick_init`."""
    return dataclass(frozen=True, slots=slots)(_shape()), quick_init(
        dataclass(frozen=True, slots=slots)(_shape())
    )


@pytest.mark.parametrize("slots", [True, False])
@given(a=st.integers(), b=st.text(), d=st.integers())
def test_the_quick_constructor_builds_what_the_dataclass_builds(slots: bool, a: int, b: str, d: int) -> None:
    plain, quick = _twin(slots=slots)
    assert str(inspect.signature(quick)) == str(inspect.signature(plain))
    for args, kwargs in [((a,), {}), ((a, b), {"d": d}), ((a, b, [a]), {}), ((), {"a": a, "c": [d]})]:
        made, expected = quick(*args, **kwargs), plain(*args, **kwargs)
        assert dataclasses.astuple(made) == dataclasses.astuple(expected)
        assert repr(made).replace(quick.__qualname__, "") == repr(expected).replace(plain.__qualname__, "")


def test_a_quick_class_stays_frozen_and_gets_fresh_factory_defaults() -> None:
    _, quick = _twin(slots=True)
    first, second = quick(1), quick(1)
    assert first == second
    assert first.c is not second.c
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.a = 2
    with pytest.raises(TypeError):
        quick(1, "b", [], 9)  # d is keyword-only
    with pytest.raises(TypeError):
        quick()


def test_quick_init_refuses_what_it_does_not_handle() -> None:
    @dataclass
    class Mutable:
        a: int

    @dataclass(frozen=True)
    class WithInitVar:
        a: int
        b: dataclasses.InitVar[int]

    @dataclass(frozen=True)
    class OutsideInitWithoutDefault:
        a: int
        b: int = field(init=False)

    for cls in (Mutable, WithInitVar, OutsideInitWithoutDefault):
        with pytest.raises(TypeError):
            quick_init(cls)


def _checked() -> type[Any]:
    """A command-like declaration: a field outside `__init__`, checks in `__post_init__`."""

    class Checked:
        a: int
        b: str = "b"
        size: int = field(init=False, default=0)

        def __post_init__(self) -> None:
            if self.a < 0:
                raise ValueError("a must not be negative")
            object.__setattr__(self, "size", len(self.b) + self.a)

    return Checked


@pytest.mark.parametrize("slots", [True, False])
@given(a=st.integers(), b=st.text())
def test_the_quick_constructor_runs_post_init_as_the_dataclass_does(slots: bool, a: int, b: str) -> None:
    plain = dataclass(frozen=True, kw_only=True, slots=slots)(_checked())
    quick = quick_init(dataclass(frozen=True, kw_only=True, slots=slots)(_checked()))
    assert str(inspect.signature(quick)) == str(inspect.signature(plain))
    if a < 0:
        for cls in (plain, quick):
            with pytest.raises(ValueError, match="negative"):
                cls(a=a, b=b)
        return
    made, expected = quick(a=a, b=b), plain(a=a, b=b)
    assert dataclasses.astuple(made) == dataclasses.astuple(expected)
    assert made.size == len(b) + a


def test_the_write_path_types_keep_their_dataclass_signatures() -> None:
    assert list(inspect.signature(RecordedEvent).parameters) == [
        f.name for f in dataclasses.fields(RecordedEvent)
    ]
    assert list(inspect.signature(Metadata).parameters) == [f.name for f in dataclasses.fields(Metadata)]
    assert Metadata("a", correlation_id="c") == Metadata(actor="a", adapter=None, correlation_id="c")
    assert AppendResult("ns", "s", 1, 2, 5, 6).repeated is False
    assert Outcome(None, [], None).repeated is False
    assert NewEvent("noted", {}).metadata == {} and NewEvent("noted", {}).schema_version == 1
    command = AppendEvents(namespace="ns", stream="s", events=[])
    assert command.expected_version is None and command.idempotency_key is None
    assert command.metadata == AppendEvents(namespace="ns", stream="t", events=[]).metadata


@given(
    position=st.integers(),
    names=st.tuples(st.text(), st.text(), st.text()),
    version=st.integers(),
    data=st.dictionaries(st.text(), st.integers()),
)
def test_the_read_paths_builder_makes_the_recorded_event_its_constructor_makes(
    position: int, names: tuple[str, str, str], version: int, data: dict[str, int]
) -> None:
    namespace, stream, type_ = names
    fields = (position, namespace, stream, version, type_, 1, data, {"actor": "a"}, None)
    built, made = build_recorded(*fields), RecordedEvent(*fields)  # type: ignore[arg-type]
    assert type(built) is RecordedEvent
    assert built == made and repr(built) == repr(made)
    assert dataclasses.astuple(built) == dataclasses.astuple(made)
    assert dataclasses.replace(built, version=version + 1).version == version + 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.data = {}  # type: ignore[misc]


def test_quick_builder_takes_only_frozen_dataclasses_whose_slots_are_their_fields() -> None:
    plain, _ = _twin(slots=False)
    with pytest.raises(TypeError):
        quick_builder(plain)  # no slots: nothing to build through
    slotted, _ = _twin(slots=True)
    built = quick_builder(slotted)(1, "b", [2], 3)
    assert type(built) is slotted and built == slotted(1, "b", [2], d=3)
