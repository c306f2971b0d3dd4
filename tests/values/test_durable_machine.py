"""Durable sessions (the REST store, small configured limits) against the model."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import rule, run_state_machine_as_test

from session_engine.engine.values import DURABLE, Policies, Policy
from tests.harness import EngineHarness
from tests.values.machine import NS, ValuesMachine, machine_settings

SESSIONS = st.sampled_from(["thread-1", "thread-2", "thread-3"])
KEYS = st.sampled_from(["a", "b", "é", "k/with/slash", "__user_part_x", "__user_part_y"])
TEXT = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=8)
# JSON that PostgreSQL's JSONB hands back unchanged (it rewrites numbers beyond float precision).
SCALARS: st.SearchStrategy[Any] = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**53), 2**53), TEXT, st.floats(-1e15, 1e15, allow_nan=False)
)
JSON: st.SearchStrategy[Any] = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=6,
)
EXPIRY = st.sampled_from(
    [None, ("ttl", -1), ("ttl", 0), ("ttl", 2), ("ttl", 60), ("at", -1), ("at", 0), ("at", 3)]
)
SECONDS = st.sampled_from([0.5, 1, 2, 5, 3600])
SMALL = Policy(
    kind="durable",
    strings_only=False,
    default_ttl=None,
    max_entries=4,
    max_total_bytes=None,
    max_value_bytes=40,
)


class DurableMachine(ValuesMachine):
    policies = Policies(durable=SMALL)

    def write(self, sid: str, key: str, value: Any, expiry: tuple[str, float] | None) -> None:
        self.touched = sid
        ttl = expiry[1] if expiry and expiry[0] == "ttl" else None
        at = self.clock.now() + timedelta(seconds=expiry[1]) if expiry and expiry[0] == "at" else None
        expected = self.model.set(sid, key, value, ttl, at)
        self.expect(expected, self.engine.values.set, NS, sid, key, value, ttl_seconds=ttl, expires_at=at)

    @rule(sid=SESSIONS, key=KEYS, value=JSON, expiry=EXPIRY)
    def set(self, sid: str, key: str, value: Any, expiry: tuple[str, float] | None) -> None:
        self.write(sid, key, value, expiry)

    @rule(sid=SESSIONS, key=KEYS, size=st.integers(30, 44), expiry=EXPIRY)
    def set_near_the_value_limit(
        self, sid: str, key: str, size: int, expiry: tuple[str, float] | None
    ) -> None:
        self.write(sid, key, {"t": "é" * ((size - 8) // 2)}, expiry)

    @rule(sid=SESSIONS, name=st.sampled_from(["x", "y", "z"]), text=TEXT)
    def set_part(self, sid: str, name: str, text: str) -> None:
        self.touched = sid
        expected = self.model.set(sid, f"__user_part_{name}", {"part_type": "text", "data": text})
        self.expect(expected, self.engine.values.set_text_part, NS, sid, name, text)

    @rule(sid=SESSIONS, key=KEYS)
    def delete(self, sid: str, key: str) -> None:
        self.touched = sid
        assert self.call(self.engine.values.delete, NS, sid, key) == self.model.delete(sid, key)

    @rule(sid=SESSIONS)
    def clear(self, sid: str) -> None:
        self.touched = sid
        self.model.clear(sid)
        self.call(self.engine.values.clear, NS, sid)

    @rule(sid=SESSIONS)
    def clear_parts(self, sid: str) -> None:
        self.touched = sid
        assert self.call(self.engine.values.clear_parts, NS, sid) == self.model.clear(sid, "__user_part_")

    @rule(seconds=SECONDS)
    def advance_time(self, seconds: float) -> None:
        self.advance(seconds)


def test_default_durable_policy_is_what_the_spec_says() -> None:
    assert (DURABLE.max_entries, DURABLE.max_value_bytes, DURABLE.default_ttl) == (10_000, 8 * 2**20, None)


def test_durable_sessions_match_the_model(harness: Callable[..., EngineHarness]) -> None:
    class Machine(DurableMachine):
        make = staticmethod(harness)

    run_state_machine_as_test(Machine, settings=machine_settings())
