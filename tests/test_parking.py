"""Parked sessions (`engine.parking`) against a model, with two engines on one database standing for
two processes: each session is claimed or reaped once, whichever engine asks, and racing claims of
one secret give it to exactly one of them."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import anyio
import pytest
import sqlalchemy as sa
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import invariant, precondition, rule, run_state_machine_as_test

from session_engine.engine import Engine, ManualClock, ValidationFailed
from session_engine.engine.backends import normalise_url
from session_engine.engine.parking import ParkedSession, parked_sessions, secret_hash
from tests.harness import EngineHarness, EngineMachine

pytestmark = pytest.mark.anyio

PROCESSES = ("a", "b")
PROCESS = st.sampled_from(PROCESSES)
WINDOWS = st.sampled_from([0.5, 1, 2, 30])


@dataclass
class Row:
    parked: ParkedSession
    expires_at: datetime


def sessions(rows: Iterable[Row]) -> list[str]:
    return sorted(row.parked.session_id for row in rows)


class ParkingMachine(EngineMachine):
    def __init__(self) -> None:
        self.clock = ManualClock()
        super().__init__(clock=self.clock, durability="off")
        first = self.harness
        # A second engine on the same database: another process's view of the table.
        self.other = EngineHarness(first._portal, lambda: first.url, clock=self.clock, durability="off")
        self.engines = {"a": self.engine, "b": self.other.start()}
        self.model: dict[str, Row] = {}
        self.ended: list[str] = []
        self.issued = 0

    def teardown(self) -> None:
        try:
            self.other.stop()
        finally:
            super().teardown()

    def now(self) -> datetime:
        return self.clock.now()

    def secrets(self) -> st.SearchStrategy[str]:
        """Mostly a parked session's secret (expired or not), sometimes one never parked."""
        junk = st.sampled_from(["never-parked", "", "x" * 300, "secret-0"])
        if not self.model:
            return junk
        return st.one_of(st.sampled_from(sorted(self.model)), st.sampled_from(sorted(self.model)), junk)

    @rule(process=PROCESS, seconds=WINDOWS, actions=st.lists(st.floats(0, 2e9), max_size=3))
    def park(self, process: str, seconds: float, actions: list[float]) -> None:
        self.issued += 1
        secret, session = f"secret-{self.issued}", f"ws-{self.issued}"
        parked = self.call(
            self.engines[process].parking.park,
            secret,
            namespace="acme",
            session_id=session,
            client_id="desktop-main",
            tenant="acme",
            recent_actions=actions,
            parked_by=process,
            seconds=seconds,
        )
        assert parked.expires_at == self.now() + timedelta(seconds=seconds)
        self.model[secret] = Row(parked, parked.expires_at)

    @rule(process=PROCESS, data=st.data())
    def claim(self, process: str, data: st.DataObject) -> None:
        secret = data.draw(self.secrets())
        got = self.call(self.engines[process].parking.claim, secret)
        row = self.model.get(secret)
        if row is None or row.expires_at <= self.now():
            assert got is None
        else:
            assert got == row.parked
            del self.model[secret]

    @precondition(lambda self: bool(self.model))
    @rule(data=st.data())
    def racing_claims(self, data: st.DataObject) -> None:
        """Both engines claim one secret at once: one gets the session, the other nothing."""
        secret = data.draw(self.secrets())
        got: list[ParkedSession | None] = []

        async def both() -> None:
            async def one(engine: Engine) -> None:
                got.append(await engine.parking.claim(secret))

            async with anyio.create_task_group() as tasks:
                for engine in self.engines.values():
                    tasks.start_soon(one, engine)

        self.call(both)
        row = self.model.get(secret)
        winners = [parked for parked in got if parked is not None]
        if row is None or row.expires_at <= self.now():
            assert winners == []
        else:
            assert winners == [row.parked]
            del self.model[secret]

    @rule(seconds=st.sampled_from([0.5, 1, 5]))
    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)

    @rule()
    def racing_reapers(self) -> None:
        """Both engines reap at once: every expired session goes to exactly one of them."""
        reaped: list[ParkedSession] = []

        async def both() -> None:
            async def one(engine: Engine) -> None:
                reaped.extend(await engine.parking.reap())

            async with anyio.create_task_group() as tasks:
                for engine in self.engines.values():
                    tasks.start_soon(one, engine)

        self.call(both)
        expired = {s for s, row in self.model.items() if row.expires_at <= self.now()}
        assert sorted(p.session_id for p in reaped) == sessions(self.model[s] for s in expired)
        for secret in expired:
            del self.model[secret]

    @rule(process=PROCESS)
    def stop(self, process: str) -> None:
        """A process stopping takes back what it parked (expired or not), nothing else."""
        taken = self.call(self.engines[process].parking.take_parked_by, process)
        mine = {s for s, row in self.model.items() if row.parked.parked_by == process}
        assert sorted(p.session_id for p in taken) == sessions(self.model[s] for s in mine)
        for secret in mine:
            del self.model[secret]

    @invariant()
    def counted(self) -> None:
        assert self.call(self.engine.parking.count) == len(self.model)


def test_parked_sessions_match_the_model(harness: Callable[..., EngineHarness]) -> None:
    class Machine(ParkingMachine):
        make = staticmethod(harness)

    # Every example opens two engines on a fresh database: half the profile's examples.
    examples = max(5, settings.default.max_examples // 2)
    run_state_machine_as_test(Machine, settings=settings(settings.default, max_examples=examples))


async def test_the_secret_is_never_stored(database_url: str) -> None:
    secret = "Zr0-resume-id-that-only-the-client-holds-xyz"
    async with Engine.open(database_url, migrate=False) as engine:
        await engine.parking.park(
            secret,
            namespace="acme",
            session_id="ws-1",
            client_id=None,
            tenant="acme",
            recent_actions=[],
            parked_by="p",
            seconds=60,
        )
    database = sa.create_engine(normalise_url(database_url))
    try:
        with database.connect() as connection:
            rows = [dict(row._mapping) for row in connection.execute(sa.select(parked_sessions))]
    finally:
        database.dispose()
    assert [row["secret_hash"] for row in rows] == [secret_hash(secret)]
    assert secret not in repr(rows) and secret.encode() not in repr(rows).encode()


@pytest.mark.parametrize("seconds", [0, -1, 10**8, True])
async def test_a_window_out_of_range_is_refused_and_changes_nothing(database_url: str, seconds: Any) -> None:
    async with Engine.open(database_url, migrate=False) as engine:
        with pytest.raises(ValidationFailed):
            await engine.parking.park(
                "s",
                namespace="acme",
                session_id="ws-1",
                client_id=None,
                tenant="acme",
                recent_actions=[],
                parked_by="p",
                seconds=seconds,
            )
        assert await engine.parking.count() == 0
