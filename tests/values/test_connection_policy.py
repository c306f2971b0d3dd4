"""The websocket cache policy at its edges: limits, precedence, TTLs, lifetime."""

from __future__ import annotations

from datetime import timedelta

import pytest

from session_engine.adapters.websocket.protocol import STORE_STATUSES
from session_engine.engine import Engine, ManualClock, ValidationFailed
from session_engine.engine.values.errors import (
    SessionConflict,
    SessionEnded,
    SessionNotFound,
    StoreOutOfEntries,
    StoreOutOfMemory,
)

pytestmark = pytest.mark.anyio
NS, SID = "tenant", "conn-1"


async def opened(engine: Engine, sid: str = SID) -> Engine:
    await engine.values.open_connection_session(NS, sid, client_id="desktop-main")
    return engine


async def test_set_get_delete_like_the_reference_example(engine: Engine) -> None:
    await opened(engine)
    await engine.values.set(NS, SID, "launcher_token", "abc123", ttl_seconds=3600)
    stored = await engine.values.get(NS, SID, "launcher_token")
    assert stored is not None and stored.value == "abc123"
    assert stored.expires_at == engine.clock.now() + timedelta(hours=1)
    assert await engine.values.delete(NS, SID, "launcher_token") is True
    assert await engine.values.get(NS, SID, "launcher_token") is None
    assert await engine.values.delete(NS, SID, "launcher_token") is False


@pytest.mark.parametrize("ttl", [None, 0, -5])
async def test_ttl_at_or_below_zero_means_72_hours(
    engine: Engine, clock: ManualClock, ttl: int | None
) -> None:
    await opened(engine)
    await engine.values.set(NS, SID, "k", "v", ttl_seconds=ttl)
    clock.advance(hours=72, seconds=-1)
    assert await engine.values.get(NS, SID, "k") is not None
    clock.advance(seconds=1)
    assert await engine.values.get(NS, SID, "k") is None


async def test_overwrite_refreshes_ttl_and_get_does_not(engine: Engine, clock: ManualClock) -> None:
    await opened(engine)
    await engine.values.set(NS, SID, "k", "v", ttl_seconds=10)
    clock.advance(8)
    assert await engine.values.get(NS, SID, "k") is not None  # a read does not extend
    await engine.values.set(NS, SID, "k", "w", ttl_seconds=10)
    clock.advance(8)
    stored = await engine.values.get(NS, SID, "k")
    assert stored is not None and stored.value == "w"
    clock.advance(2)
    assert await engine.values.get(NS, SID, "k") is None


async def test_only_strings(engine: Engine) -> None:
    await opened(engine)
    with pytest.raises(ValidationFailed):
        await engine.values.set(NS, SID, "k", {"not": "a string"})


async def test_entry_limit_is_64_live_entries(engine: Engine) -> None:
    await opened(engine)
    for i in range(64):
        await engine.values.set(NS, SID, f"k{i}", "x")
    with pytest.raises(StoreOutOfEntries) as refused:
        await engine.values.set(NS, SID, "one-more", "x")
    assert STORE_STATUSES[type(refused.value)] == 702  # the websocket adapter's status
    await engine.values.set(NS, SID, "k0", "overwrite is fine")
    assert len(await engine.values.get_all(NS, SID)) == 64


async def test_byte_limit_counts_utf8_bytes(engine: Engine) -> None:
    await opened(engine)
    await engine.values.set(NS, SID, "a", "é" * 4096)  # 8192 bytes
    await engine.values.set(NS, SID, "b", "€" * 2730 + "xx")  # 8192 bytes: exactly 16384
    with pytest.raises(StoreOutOfMemory) as refused:
        await engine.values.set(NS, SID, "c", "x")
    assert STORE_STATUSES[type(refused.value)] == 701
    with pytest.raises(StoreOutOfMemory):
        await engine.values.set(NS, SID, "lonely", "😀" * 4097)


async def test_overwrite_over_the_byte_limit_keeps_the_old_value(engine: Engine) -> None:
    await opened(engine)
    await engine.values.set(NS, SID, "a", "x" * 16000)
    await engine.values.set(NS, SID, "b", "small")
    head = await engine.head()
    with pytest.raises(StoreOutOfMemory):
        await engine.values.set(NS, SID, "b", "y" * 385)
    stored = await engine.values.get(NS, SID, "b")
    assert stored is not None and stored.value == "small"
    assert await engine.head() == head  # a refused write records nothing
    await engine.values.set(NS, SID, "b", "y" * 384)  # exactly 16384


async def test_both_limits_exceeded_reports_out_of_memory(engine: Engine) -> None:
    await opened(engine)
    for i in range(64):
        await engine.values.set(NS, SID, f"k{i}", "x" * 256)  # 16384 bytes, 64 entries
    with pytest.raises(StoreOutOfMemory):
        await engine.values.set(NS, SID, "new", "x")


async def test_expired_entries_do_not_count(engine: Engine, clock: ManualClock) -> None:
    await opened(engine)
    for i in range(64):
        await engine.values.set(NS, SID, f"k{i}", "x" * 256, ttl_seconds=5)
    clock.advance(5)
    await engine.values.set(NS, SID, "fresh", "y" * 16384)
    assert await engine.values.get_all(NS, SID) == {"fresh": "y" * 16384}
    assert await engine.verify() == []


async def test_concurrent_writes_in_one_batch_respect_the_limit(engine: Engine) -> None:
    import anyio

    await opened(engine)
    refused: list[Exception] = []

    async def put(i: int) -> None:
        try:
            await engine.values.set(NS, SID, f"k{i}", "x")
        except StoreOutOfEntries as error:
            refused.append(error)

    async with anyio.create_task_group() as tasks:
        for i in range(80):
            tasks.start_soon(put, i)
    assert len(refused) == 16
    assert len(await engine.values.get_all(NS, SID)) == 64
    assert await engine.verify() == []


async def test_lifetime_end_removes_values_by_an_event(engine: Engine) -> None:
    await opened(engine)
    await engine.values.set(NS, SID, "k", "v")
    await engine.values.disconnect(NS, SID)
    await engine.values.disconnect(NS, SID)  # again: nothing to record
    assert (await engine.values.get(NS, SID, "k")) is not None  # resumable: values stay
    await engine.values.resume(NS, SID)
    await engine.values.end_connection_session(NS, SID, reason="closed 4201")
    await engine.values.end_connection_session(NS, SID, reason="again")
    assert await engine.values.get_all(NS, SID) == {}
    types = [e.type for e in await engine.read_stream(NS, SID)]
    assert types == [
        "connection_session_opened",
        "value_set",
        "connection_session_disconnected",
        "connection_session_resumed",
        "connection_session_ended",
    ]
    ended = (await engine.read_stream(NS, SID))[-1]
    assert ended.data == {"reason": "closed 4201", "keys": ["k"]}
    info = await engine.values.session(NS, SID)
    assert info is not None and (info.kind, info.status, info.client_id) == (
        "connection",
        "ended",
        "desktop-main",
    )
    with pytest.raises(SessionEnded):
        await engine.values.set(NS, SID, "k", "v")
    with pytest.raises(SessionEnded):
        await engine.values.resume(NS, SID)
    with pytest.raises(SessionEnded):
        await engine.values.open_connection_session(NS, SID, client_id="again")
    assert await engine.verify() == []


async def test_lifetime_errors(engine: Engine) -> None:
    with pytest.raises(SessionNotFound):
        await engine.values.resume(NS, "never-opened")
    await engine.values.set(NS, "durable", "k", 1)
    with pytest.raises(SessionConflict):
        await engine.values.open_connection_session(NS, "durable", client_id="c")
    with pytest.raises(SessionNotFound):
        await engine.values.end_connection_session(NS, "durable", reason="x")
    await opened(engine)
    with pytest.raises(SessionConflict):
        await opened(engine)
    with pytest.raises(ValidationFailed):
        await engine.values.open_connection_session(NS, "s2", client_id="")


async def test_limits_hold_for_writes_of_one_session_in_one_batch(engine: Engine) -> None:
    """Concurrent sets share a batch, and the values read model is applied once per batch: each
    decision must still see the writes decided before it for its own session. Five 4,000-byte
    values on one session (16,384 allowed) and on another: exactly four of each land, the fifth
    is refused with 701, and nothing else is lost."""
    import anyio

    await opened(engine)
    await opened(engine, "conn-2")
    outcomes: dict[tuple[str, int], object] = {}

    async def put(sid: str, i: int) -> None:
        try:
            await engine.values.set(NS, sid, f"k{i}", "x" * 4000)
            outcomes[sid, i] = "ok"
        except StoreOutOfMemory as error:
            outcomes[sid, i] = error

    async with anyio.create_task_group() as tasks:
        for i in range(5):
            for sid in (SID, "conn-2"):
                tasks.start_soon(put, sid, i)
    assert engine.stats["batches"] < engine.stats["commands"]  # they did share batches
    for sid in (SID, "conn-2"):
        landed = [i for i in range(5) if outcomes[sid, i] == "ok"]
        assert len(landed) == 4, outcomes
        assert sorted(await engine.values.get_all(NS, sid)) == sorted(f"k{i}" for i in landed)
    assert await engine.verify() == []
