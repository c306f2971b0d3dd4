"""The engine's rule for client JSON documents (`engine.documents`) and for the integers reads bind
(`engine.log.bounds`): the parser keeps integers exact, the checks never recurse, and every domain
applies the rule alike on SQLite and PostgreSQL (library callers included).
"""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from session_engine.adapters.rpc.bus.models import SessionRecord, SetRequest
from session_engine.adapters.rpc.bus.subjects import RecordSubjects
from session_engine.engine import Engine, NewEvent, ValidationFailed
from session_engine.engine.documents import (
    MAX_DEPTH,
    MAX_INTEGER,
    MIN_INTEGER,
    PARSER_DEPTH,
    NotJson,
    has_nul,
    loads,
    problem,
)
from session_engine.engine.objects.answers import GraphResults
from session_engine.engine.objects.errors import InvalidSessionObject
from session_engine.engine.objects.graphs.errors import InvalidGraphOperation, InvalidGraphQuery
from session_engine.engine.records.errors import InvalidRecordRequest
from tests.records.helpers import record

in_range = st.integers(min_value=MIN_INTEGER, max_value=MAX_INTEGER)
out_of_range = st.one_of(st.integers(min_value=MAX_INTEGER + 1), st.integers(max_value=MIN_INTEGER - 1))
json_values = st.recursive(
    st.none() | st.booleans() | in_range | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


def nested(depth: int) -> Any:
    value: Any = 1
    for level in range(depth):
        value = [value] if level % 2 else {"k": value}
    return value


# -- the parser ---------------------------------------------------------------------------------------


@given(json_values)
def test_loads_reads_what_orjson_reads(value: Any) -> None:
    text = orjson.dumps(value)
    assert loads(text) == orjson.loads(text) == value
    assert loads(text.decode()) == value
    assert problem(value) is None or "NUL" in str(problem(value))


@given(out_of_range, st.booleans())
def test_loads_keeps_integers_beyond_64_bits_exact_and_the_rule_refuses_them(
    number: int, nested_in: bool
) -> None:
    """orjson alone turns them into floats (2**64 -> 1.8446744073709552e+19)."""
    text = json.dumps({"a": [1.5, "12345678901234567890", number]} if nested_in else number)
    parsed = loads(text)
    assert parsed == json.loads(text)
    breach = problem(parsed)
    assert breach is not None and "64 bits" in breach.message
    assert breach.path == (("a", 2) if nested_in else ())


def test_loads_refuses_what_is_not_json_saying_why() -> None:
    with pytest.raises(NotJson, match=f"nested deeper than {PARSER_DEPTH} levels"):
        loads("[" * (PARSER_DEPTH + 1) + "]" * (PARSER_DEPTH + 1))
    assert loads("[" * PARSER_DEPTH + "]" * PARSER_DEPTH) is not None
    for text in (b"NaN", b"[1e999]", b'"\\ud800"', b'"\xff"', b"{"):
        with pytest.raises(NotJson):
            loads(text)
    # The exact re-read never meets Python's recursion limit: deep text keeps orjson's reading.
    deep = "[" * 1000 + "123456789012345678901234" + "]" * 1000
    assert problem(loads(deep)) is not None


# -- the rule ---------------------------------------------------------------------------------------


def test_nesting_is_at_most_64_levels_and_any_depth_is_safe_to_check() -> None:
    assert problem(nested(MAX_DEPTH)) is None
    breach = problem(nested(MAX_DEPTH + 1))
    assert breach is not None and breach.message == "nested deeper than 64 levels of arrays and objects"
    assert len(breach.path) == MAX_DEPTH
    assert problem(nested(100_000)) is not None  # no RecursionError
    assert has_nul(nested(100_000)) is False


def test_the_rest_of_the_rule() -> None:
    assert str(problem([{"b": float("inf")}])) == "0.b: numbers must be finite"
    assert str(problem({"a": [1, {"b": float("nan")}]})) == "a.1.b: numbers must be finite"
    assert str(problem({"a": "x\x00"})) == "a: strings must not contain NUL (U+0000) characters"
    assert str(problem({"a\x00": 1})) == "a\x00: strings must not contain NUL (U+0000) characters"
    assert str(problem({1: 2})) == "object keys must be strings"
    assert problem([MIN_INTEGER, MAX_INTEGER, True, None, "x", 1.5, (1, 2)]) is None
    assert problem(MAX_INTEGER + 1) is not None and problem(MIN_INTEGER - 1) is not None


# -- every domain, on both backends ---------------------------------------------------------------

pytest_anyio = pytest.mark.anyio
NS = "tenant"


@pytest_anyio
async def test_values_follow_the_rule(engine: Engine) -> None:
    await engine.values.set(NS, "s", "edge", [MIN_INTEGER, MAX_INTEGER])
    stored = await engine.values.get(NS, "s", "edge")
    assert stored is not None and stored.value == [MIN_INTEGER, MAX_INTEGER]
    for bad in (MAX_INTEGER + 1, [MIN_INTEGER - 1], nested(MAX_DEPTH + 1), nested(5000), {"n": float("nan")}):
        with pytest.raises(ValidationFailed):
            await engine.values.set(NS, "s", "bad", bad)
    assert await engine.values.get(NS, "s", "bad") is None


@pytest_anyio
async def test_objects_follow_the_rule(engine: Engine) -> None:
    await engine.objects.upload(NS, "s", "g", {"type": "graph", "graph": {"attributes": {}}})
    with pytest.raises(InvalidSessionObject, match=r"value\.graph\.attributes\.a: integers"):
        await engine.objects.upload(NS, "s", "x", {"type": "graph", "graph": {"attributes": {"a": 2**64}}})
    with pytest.raises(InvalidGraphOperation, match="nested deeper"):
        operation = {"op": "add_vertex", "labels": ["x"], "props": {"p": nested(3000)}}
        await engine.objects.apply_graph_mutations(NS, "s", "g", [operation])
    with pytest.raises(InvalidGraphQuery, match="nested deeper"):
        await engine.objects.query_graph(NS, "s", "g", {"start": ["V"], "steps": nested(3000)})
    await engine.objects.apply_graph_mutations(
        NS, "s", "g", [{"op": "add_vertex", "element_id": "v", "labels": ["x"], "props": {"p": 2**63}}]
    )
    # Integers beyond SQL's 64 bits compare as doubles, alike on both backends; `limit` is clamped.
    for op, value, found in (
        ("eq", 2**63, ["v"]),
        ("lt", 2**64 - 1, ["v"]),
        ("gt", 2**63 - 1, ["v"]),
        ("lt", 2**63 - 1, []),
    ):
        query = {"start": ["V"], "steps": [["has", "p", op, value], ["limit", 2**64 - 1]]}
        answer = await engine.objects.query_graph(NS, "s", "g", query)
        assert isinstance(answer, GraphResults)
        assert [element.element_id for element in answer.results] == found, (op, value)


@pytest_anyio
async def test_records_follow_the_rule_and_keep_epoch_ms_as_given(engine: Engine) -> None:
    """A record with 2**63 <= createdAt < 2**64 failed on SQLite (its driver binds no such int)."""
    for session, created in (("r1", 2**63), ("r2", 2**64 - 1), ("r3", 1.5e300)):
        await RecordSubjects(engine).set(
            NS, {"sessionId": session, "session": record(session, 10, createdAt=created)}
        )
        got = (await RecordSubjects(engine).get(NS, {"sessionId": session})).model_dump()["session"]
        assert got["createdAt"] == created and type(got["createdAt"]) is type(created)
    with pytest.raises(InvalidRecordRequest) as refused:
        await RecordSubjects(engine).set(NS, {"sessionId": "r4", "session": record("r4", createdAt=2**64)})
    assert refused.value.path == ("session", "createdAt")
    model = SetRequest(session_id="r5", session=SessionRecord.model_validate(record("r5", createdAt=2**70)))
    with pytest.raises(InvalidRecordRequest):
        await RecordSubjects(engine).set(NS, model)
    with pytest.raises(InvalidRecordRequest, match="nested deeper"):
        observation = {"clientId": "c", "source": "s", "kind": "k", "observedAt": 1, "payload": nested(3000)}
        await RecordSubjects(engine).set(
            NS, {"sessionId": "r6", "session": record("r6", lastClientIdentityObservation=observation)}
        )
    listed = await RecordSubjects(engine).list(NS, {"limit": 10})
    assert [found.session_id for found in listed.sessions] == ["r3", "r2", "r1"]


@pytest_anyio
async def test_reads_refuse_numbers_beyond_their_columns(engine: Engine) -> None:
    """A version above 2**31 - 1 failed inside PostgreSQL's driver and was answered on SQLite."""
    await engine.append(NS, "s", [NewEvent("noted", {})])
    assert [e.version for e in await engine.read_stream(NS, "s", from_version=2**31 - 1)] == []
    for call in (
        lambda: engine.read_stream(NS, "s", from_version=2**31),
        lambda: engine.read_stream(NS, "s", to_version=2**31),
        lambda: engine.read_stream(NS, "s", to_position=2**63),
        lambda: engine.read_stream(NS, "s", limit=2**31),
        lambda: engine.read_stream(NS, "s", from_version=-1),
        lambda: engine.read_all(after=2**63),
        lambda: engine.read_all(after=0, limit=2**63),
        lambda: engine.state_as_of(NS, "s", version=2**31),
        lambda: engine.state_as_of(NS, "s", position=2**63),
    ):
        with pytest.raises(ValidationFailed):
            await call()
    # A subscription's arguments are checked when it is made, not at its first event.
    with pytest.raises(ValidationFailed):
        engine.subscribe(2**63)
    with pytest.raises(ValidationFailed):
        engine.subscribe(0, stream="s", types=["a\x00"])
