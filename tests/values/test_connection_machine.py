"""Connection-bound sessions (the websocket cache, default limits) against the model."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from hypothesis import strategies as st
from hypothesis.stateful import precondition, rule, run_state_machine_as_test

from tests.harness import EngineHarness
from tests.values.machine import NS, ValuesMachine, machine_settings

KEYS = st.sampled_from(["a", "b", "é", "日本", "k/with/slash", "a_b%"])
# 1, 2, 3 and 4 UTF-8 bytes per character, so sizes land on and around 16384 bytes.
CHARS = st.sampled_from(["x", "é", "€", "😀"])
TEXT = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=12)
TTLS = st.sampled_from([None, -5, 0, 1, 2, 5, 3600])
SECONDS = st.sampled_from([0.5, 1, 2, 5, 3600, 72 * 3600])


async def concurrently(calls: list[Callable[[], Awaitable[Any]]]) -> list[Exception | None]:
    """Start the calls in order, all at once; each one's error (or None)."""
    outcomes: list[Exception | None] = [None] * len(calls)

    async def run(index: int) -> None:
        try:
            await calls[index]()
        except Exception as error:  # noqa: BLE001 - reported to the caller
            outcomes[index] = error

    async with anyio.create_task_group() as tasks:
        for index in range(len(calls)):
            tasks.start_soon(run, index)
    return outcomes


class ConnectionMachine(ValuesMachine):
    @precondition(lambda self: len(self.model.sessions) < 3)
    @rule()
    def open_session(self) -> None:
        sid = f"conn-{len(self.model.sessions)}"
        self.expect(
            self.model.open(sid), self.engine.values.open_connection_session, NS, sid, client_id="cli1"
        )
        self.touched = sid

    def pick(self, data: st.DataObject) -> str:
        return data.draw(st.sampled_from(sorted(self.model.sessions) or ["conn-0"]))

    @rule(data=st.data(), key=KEYS, value=TEXT, ttl=TTLS)
    def set(self, data: st.DataObject, key: str, value: str, ttl: int | None) -> None:
        sid = self.touched = self.pick(data)
        self.expect(
            self.model.set(sid, key, value, ttl), self.engine.values.set, NS, sid, key, value, ttl_seconds=ttl
        )

    @rule(data=st.data(), key=KEYS, char=CHARS, size=st.integers(0, 17000), ttl=TTLS)
    def set_sized(self, data: st.DataObject, key: str, char: str, size: int, ttl: int | None) -> None:
        """Values of a chosen byte size: totals land next to the 16384-byte limit."""
        sid = self.touched = self.pick(data)
        value = char * (size // len(char.encode()))
        self.expect(
            self.model.set(sid, key, value, ttl), self.engine.values.set, NS, sid, key, value, ttl_seconds=ttl
        )

    @rule(data=st.data(), count=st.integers(1, 70), ttl=TTLS)
    def fill(self, data: st.DataObject, count: int, ttl: int | None) -> None:
        """Many new keys at once: the entry count lands next to the 64-entry limit.

        The writes are concurrent, so they share one group-committed batch in which each command
        must see the ones before it; the queue keeps their start order, which the model follows.
        """
        sid = self.touched = self.pick(data)
        start = data.draw(st.integers(0, 80))
        keys = [f"f{i}" for i in range(start, start + count)]
        expected = [self.model.set(sid, key, "v", ttl) for key in keys]
        outcomes = self.call(
            concurrently,
            [lambda k=key: self.engine.values.set(NS, sid, k, "v", ttl_seconds=ttl) for key in keys],
        )
        for key, want, got in zip(keys, expected, outcomes, strict=True):
            assert (type(got).__name__ if got is not None else None) == want, (
                f"{key}: engine {got!r}, model {want}"
            )

    @rule(data=st.data(), key=KEYS)
    def get(self, data: st.DataObject, key: str) -> None:
        sid = self.pick(data)
        stored = self.call(self.engine.values.get, NS, sid, key)
        expected = self.model.live(sid).get(key)
        assert (stored.value if stored else None) == (expected.value if expected else None)

    @rule(data=st.data(), key=KEYS | st.sampled_from(["f0", "f63"]))
    def delete(self, data: st.DataObject, key: str) -> None:
        sid = self.touched = self.pick(data)
        assert self.call(self.engine.values.delete, NS, sid, key) == self.model.delete(sid, key)

    @rule(data=st.data())
    def clear(self, data: st.DataObject) -> None:
        sid = self.touched = self.pick(data)
        self.model.clear(sid)
        self.call(self.engine.values.clear, NS, sid)

    @rule(seconds=SECONDS)
    def advance_time(self, seconds: float) -> None:
        self.advance(seconds)

    @rule(data=st.data(), action=st.sampled_from(["disconnect", "resume", "end"]))
    def lifetime(self, data: st.DataObject, action: str) -> None:
        sid = self.touched = self.pick(data)
        expected = self.model.lifetime(sid, action)
        if action == "end":
            self.expect(expected, self.engine.values.end_connection_session, NS, sid, reason="closed")
        else:
            self.expect(expected, getattr(self.engine.values, action), NS, sid)


def test_connection_sessions_match_the_model(harness: Callable[..., EngineHarness]) -> None:
    class Machine(ConnectionMachine):
        make = staticmethod(harness)

    run_state_machine_as_test(Machine, settings=machine_settings())
