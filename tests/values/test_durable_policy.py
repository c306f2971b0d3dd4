"""The REST store policy: any JSON, optional expiry, generous limits; and input checks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from session_engine.engine import Engine, ManualClock, Metadata, ValidationFailed
from session_engine.engine.unit_of_work import UnitOfWork
from session_engine.engine.values import DURABLE, Policies
from session_engine.engine.values.errors import StoreOutOfEntries, StoreOutOfMemory
from session_engine.engine.values.policy import MAX_KEY_BYTES

pytestmark = pytest.mark.anyio
NS, SID = "tenant", "thread-1"


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        0,
        -7,
        2**62,
        1.5,
        "text",
        "",
        [],
        {},
        {"nested": [1, {"a": None}], "é": "😀"},
        [1, "two", 3.25],
    ],
)
async def test_any_json_round_trips(engine: Engine, value: Any) -> None:
    await engine.values.set(NS, SID, "k", value)
    stored = await engine.values.get(NS, SID, "k")
    assert stored is not None and stored.value == value and stored.expires_at is None
    assert await engine.values.get_all(NS, SID) == {"k": value}
    assert await engine.verify() == []


async def test_expiry_instant_and_clearing_it(engine: Engine, clock: ManualClock) -> None:
    await engine.values.set(NS, SID, "k", 1, expires_at=clock.now() + timedelta(seconds=30))
    clock.advance(29)
    assert await engine.values.get_all(NS, SID) == {"k": 1}
    await engine.values.set(NS, SID, "k", 2)  # no expiry: clears the earlier one
    clock.advance(days=3650)
    stored = await engine.values.get(NS, SID, "k")
    assert stored is not None and stored.value == 2 and stored.expires_at is None


async def test_ttl_and_offset_instants(engine: Engine, clock: ManualClock) -> None:
    await engine.values.set(NS, SID, "ttl", "a", ttl_seconds=5)
    offset = (clock.now() + timedelta(seconds=5)).astimezone(
        __import__("datetime").timezone(timedelta(hours=2))
    )
    await engine.values.set(NS, SID, "offset", "b", expires_at=offset)
    await engine.values.set(NS, SID, "past", "c", expires_at=clock.now() - timedelta(seconds=1))
    assert await engine.values.get_all(NS, SID) == {"offset": "b", "ttl": "a"}
    clock.advance(5)
    assert await engine.values.get_all(NS, SID) == {}
    assert await engine.values.delete(NS, SID, "ttl") is False  # expired: nothing recorded
    assert await engine.verify() == []


async def test_default_limits_are_generous_and_documented(engine: Engine) -> None:
    assert (DURABLE.max_value_bytes, DURABLE.max_entries) == (8 * 1024 * 1024, 10_000)
    big = "x" * (8 * 1024 * 1024)
    await engine.values.set(NS, SID, "big", big)
    with pytest.raises(StoreOutOfMemory):
        await engine.values.set(NS, SID, "bigger", big + "x")
    with pytest.raises(StoreOutOfMemory):
        await engine.values.set(NS, SID, "json", {"b": big})  # JSON is measured as compact JSON


async def test_configured_limits(engine: Engine, clock: ManualClock) -> None:
    engine.values.policies = Policies(
        durable=DURABLE.__class__(**{**DURABLE.__dict__, "max_entries": 2, "max_total_bytes": 10})
    )
    await engine.values.set(NS, SID, "a", "12345", ttl_seconds=10)
    await engine.values.set(NS, SID, "b", "12345")
    with pytest.raises(StoreOutOfMemory):  # both limits: bytes win
        await engine.values.set(NS, SID, "c", "1")
    with pytest.raises(StoreOutOfMemory):
        await engine.values.set(NS, SID, "b", "123456")
    await engine.values.set(NS, SID, "b", "1234")
    with pytest.raises(StoreOutOfEntries):
        await engine.values.set(NS, SID, "c", "1")
    clock.advance(10)
    await engine.values.set(NS, SID, "c", "1")  # "a" expired: room again
    assert await engine.values.get_all(NS, SID) == {"b": "1234", "c": "1"}
    assert await engine.verify() == []


async def test_a_set_decides_from_one_read(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """The session, the key and, when the set adds a key, the session's rows for the entry limit
    come from one query: on PostgreSQL one round trip before the writes', new key or not."""
    reads: list[object] = []
    read = UnitOfWork.read

    def counted(self: UnitOfWork, statement: Any, params: dict[str, Any] | None = None) -> Any:
        reads.append(statement)
        return read(self, statement, params)

    monkeypatch.setattr(UnitOfWork, "read", counted)
    for key in ["a", "b", "b", "c"]:  # a new session, a new key, a replaced one, a new key
        reads.clear()
        await engine.values.set(NS, SID, key, 1)
        assert len(reads) == 1, key
    assert await engine.values.get_all(NS, SID) == {"a": 1, "b": 1, "c": 1}


@pytest.mark.parametrize(
    "call",
    [
        {"key": "k", "value": float("nan")},
        {"key": "k", "value": {"a": float("inf")}},
        {"key": "k", "value": "nul\x00"},
        {"key": "k", "value": {"nul\x00": 1}},
        {"key": "k", "value": "\ud800"},
        {"key": "k", "value": {1: "non-string key"}},
        {"key": "k", "value": object()},
        {"key": "k", "value": 2**70},
        {"key": "x" * (MAX_KEY_BYTES + 1), "value": 1},
        {"key": "é" * (MAX_KEY_BYTES // 2 + 1), "value": 1},
        {"key": "k\x00", "value": 1},
        {"key": 5, "value": 1},
        {"key": "k", "value": 1, "ttl_seconds": 5, "expires_at": datetime(2030, 1, 1, tzinfo=UTC)},
        {"key": "k", "value": 1, "ttl_seconds": float("nan")},
        {"key": "k", "value": 1, "ttl_seconds": 2**64},
        {"key": "k", "value": 1, "ttl_seconds": True},
        {"key": "k", "value": 1, "expires_at": "2030-01-01"},
    ],
)
async def test_bad_input_is_refused_and_changes_nothing(engine: Engine, call: dict[str, Any]) -> None:
    options = dict(call)
    key, value = options.pop("key"), options.pop("value")
    with pytest.raises(ValidationFailed):
        await engine.values.set(NS, SID, key, value, **options)
    assert await engine.head() == 0


@pytest.mark.parametrize("ids", [("", SID), (NS, ""), ("n" * 201, SID), (NS, "s\x00")])
async def test_bad_ids_are_refused(engine: Engine, ids: tuple[str, str]) -> None:
    with pytest.raises(ValidationFailed):
        await engine.values.set(*ids, "k", 1)
    with pytest.raises(ValidationFailed):
        await engine.values.get(*ids, "k")


async def test_every_change_is_an_event_with_its_metadata(engine: Engine, clock: ManualClock) -> None:
    meta = Metadata(actor="alice", adapter="rest", correlation_id="c-1")
    await engine.values.set(NS, SID, "a", {"x": 1}, ttl_seconds=60, metadata=meta)
    await engine.values.set(NS, SID, "a", {"x": 2}, metadata=meta)
    await engine.values.set(NS, SID, "b", 1)
    assert await engine.values.delete(NS, SID, "b", metadata=meta) is True
    await engine.values.clear(NS, SID, metadata=meta)
    await engine.values.clear(NS, SID)  # nothing left: nothing recorded
    events = await engine.read_stream(NS, SID)
    assert [(e.version, e.type) for e in events] == [
        (1, "value_set"),
        (2, "value_set"),
        (3, "value_set"),
        (4, "value_deleted"),
        (5, "values_cleared"),
    ]
    expires = (clock.now() + timedelta(seconds=60)).isoformat().replace("+00:00", "Z")
    assert events[0].data == {
        "key": "a",
        "value": {"x": 1},
        "size": 7,
        "expires_at": expires,
        "replaced": False,
    }
    assert events[1].data["replaced"] is True and events[1].data["expires_at"] is None
    assert events[4].data == {"keys": ["a"]}
    assert events[0].metadata["actor"] == "alice" and events[0].metadata["adapter"] == "rest"


async def test_as_of_state_answers_with_the_same_queries(engine: Engine, clock: ManualClock) -> None:
    await engine.values.set(NS, SID, "a", 1)
    clock.advance(1)
    await engine.values.set(NS, SID, "b", 2)
    await engine.values.delete(NS, SID, "a")
    state = await engine.state_as_of(NS, SID, version=2)
    assert {k: v.value for k, v in state.values.items() if not v.expired} == {"a": 1, "b": 2}
    state = await engine.state_as_of(NS, SID, version=3)
    assert {k: v.value for k, v in state.values.items() if not v.expired} == {"b": 2}


async def test_rebuild_reproduces_the_read_model(engine: Engine, clock: ManualClock) -> None:
    await engine.values.open_connection_session(NS, "c", client_id="cli1")
    await engine.values.set(NS, "c", "k", "v", ttl_seconds=5)
    await engine.values.set(NS, SID, "k", [1, 2.5, {"z": None}])
    clock.advance(10)
    await engine.values.set(NS, SID, "k2", "later")
    before = await engine.values.list_sessions(NS)
    await engine.rebuild()
    assert await engine.values.list_sessions(NS) == before
    assert await engine.verify() == []
