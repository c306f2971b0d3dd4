"""One engine alone on its database keeps every projection's checkpoint level with the log, whatever
its commands do (write, write nothing, be refused, crash among others) and whatever runs between
them (rebuilds, erasures, retention, expiry purges, restarts): `projection_lag` says 0 throughout,
and after a restart the projections equal a rebuild (`verify`). A checkpoint left behind the events
it has applied makes the next open apply them again (counts twice what a rebuild finds)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import invariant, rule, run_state_machine_as_test

from session_engine.engine import Engine, EngineError, ManualClock, NewEvent
from session_engine.engine.retention.policy import RetentionPolicy
from tests.harness import EngineHarness, EngineMachine, in_one_batch
from tests.records.helpers import record

NS = "private"
SIDS = st.sampled_from(["s1", "s2"])


@pytest.mark.anyio
async def test_a_batch_that_records_nothing_leaves_the_checkpoints_to_the_next(database_url: str) -> None:
    """The sequence the lifecycle machine found: a record delete with no record (a batch with no
    events), then a record set, then a restart: `session_status_counts` must count the session once."""
    async with Engine.open(database_url, migrate=False) as engine:
        assert await engine.records.delete(NS, "s1") is False
        await engine.records.set(NS, "s1", record("s1"))
        assert set((await engine.projection_lag()).values()) == {0}
    async with Engine.open(database_url, migrate=False) as engine:
        assert set((await engine.projection_lag()).values()) == {0}
        assert await engine.verify() == []


class LoneWriterMachine(EngineMachine):
    """Commands that write, write nothing or are refused, alone or sharing a batch, with jobs and
    restarts between them; the model is the log's head, which every checkpoint must follow."""

    def __init__(self) -> None:
        self.clock = ManualClock()
        super().__init__(clock=self.clock, encrypted_namespaces=[NS])

    def attempt(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """A command the model does not predict (a deleted session refuses it): either way,
        what it leaves must be consistent."""
        try:
            return self.call(function, *args, **kwargs)
        except EngineError as refused:
            return refused

    @rule(sid=SIDS)
    def append(self, sid: str) -> None:
        self.attempt(self.engine.append, NS, sid, [NewEvent("note", {})], recreate=True)

    @rule(sid=SIDS)
    def append_once(self, sid: str) -> None:
        """Repeated, an append with the same idempotency key records nothing."""
        self.attempt(self.engine.append, NS, sid, [NewEvent("note", {})], idempotency_key="once")

    @rule(sid=SIDS)
    def append_on_a_stale_version(self, sid: str) -> None:
        self.attempt(self.engine.append, NS, sid, [NewEvent("note", {})], expected_version=10_000)

    @rule(sid=SIDS, value=st.integers(0, 1), ttl=st.sampled_from([None, 5.0]))
    def set_value(self, sid: str, value: int, ttl: float | None) -> None:
        self.attempt(self.engine.values.set, NS, sid, "k", value, ttl_seconds=ttl, recreate=True)

    @rule(sid=SIDS)
    def delete_value(self, sid: str) -> None:
        self.attempt(self.engine.values.delete, NS, sid, "k")

    @rule(sid=SIDS)
    def set_record(self, sid: str) -> None:
        self.attempt(self.engine.records.set, NS, sid, record(sid))

    @rule(sid=SIDS)
    def delete_record(self, sid: str) -> None:
        self.attempt(self.engine.records.delete, NS, sid)

    @rule(sid=SIDS)
    def one_batch(self, sid: str) -> None:
        """A no-op, a refusal and a write share one batch."""
        self.call(
            in_one_batch,
            self.engine,
            [
                lambda: self.engine.records.delete(NS, "nobody"),
                lambda: self.engine.append(NS, sid, [NewEvent("note", {})], expected_version=10_000),
                lambda: self.engine.append(NS, sid, [NewEvent("note", {})], recreate=True),
            ],
        )

    @rule()
    def expire_and_purge(self) -> None:
        self.clock.advance(10)
        self.attempt(self.engine.values.purge_expired, NS)

    @rule(sid=SIDS)
    def erase(self, sid: str) -> None:
        self.attempt(self.engine.erase, NS, sid)

    @rule(keep=st.sampled_from([None, 1]))
    def retain(self, keep: int | None) -> None:
        self.attempt(self.engine.retain, [RetentionPolicy(NS, keep_last=keep, purge_expired=True)])

    @rule()
    def rebuild(self) -> None:
        self.call(self.engine.rebuild, live=False)

    @rule()
    def restart(self) -> None:
        self.engine = self.harness.restart()

    @invariant()
    def every_checkpoint_follows_the_head(self) -> None:
        lag = self.call(self.engine.projection_lag)
        assert set(lag.values()) <= {0}, lag

    def teardown(self) -> None:
        self.engine = self.harness.restart()  # the open catches up from the checkpoints
        super().teardown()


def test_checkpoints_stay_level_through_any_lone_sequence(harness: Callable[..., EngineHarness]) -> None:
    class Machine(LoneWriterMachine):
        make = staticmethod(harness)

    run_state_machine_as_test(Machine)
