"""Snapshots against the full fold: for random sessions over every domain, the state time travel
answers from snapshots (laid every few versions here, and pinned at random ones) equals the state of
all the session's events folded from nothing, at any version or instant - also after retention
deleted the events up to a pinned snapshot. `verify_snapshots` finds nothing wrong throughout."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any
from unittest import mock

import pytest
import sqlalchemy as sa
from hypothesis import strategies as st
from hypothesis.stateful import precondition, rule, run_state_machine_as_test

from session_engine.engine import EngineError, ManualClock
from session_engine.engine.errors import StateUnavailable
from session_engine.engine.inspect import diff, head
from session_engine.engine.inspect.state import SessionState, read_state
from session_engine.engine.log.records import RecordedEvent
from session_engine.engine.log.schema import events
from session_engine.engine.projections import snapshots
from session_engine.engine.projections.asof import SessionAsOf
from tests.harness import EngineHarness
from tests.inspect.helpers import spoil
from tests.inspect.test_diff_machine import TimeTravelMachine, _collect
from tests.records.helpers import NS
from tests.values.machine import machine_settings

S = "session-1"


class SnapshotMachine(TimeTravelMachine):
    """Every domain's commands (the time-travel machine's), with snapshots every 3 versions."""

    def __init__(self) -> None:
        self.log: list[RecordedEvent] = []  # every event ever appended, deleted ones too
        self.horizon = 0  # events up to here were deleted
        self.pinned: list[int] = []
        super().__init__()

    def run(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        with contextlib.suppress(EngineError):
            self.call(function, *args, **kwargs)
        self.log += self.call(self.engine.read_stream, NS, S, from_version=len(self.log) + 1)
        self.version = len(self.log)

    def full_fold(self, version: int, as_of: datetime | None = None) -> SessionState:
        """The reference: the session's first `version` events folded from nothing."""
        applied = self.log[:version]
        with SessionAsOf(NS, S, applied, list(self.engine.projections)) as state:
            when = as_of or (applied[-1].recorded_at if applied else self.clock.now())
            return read_state(state, when)

    @precondition(lambda self: self.version > 0)
    @rule(data=st.data())
    def state_via_snapshots_is_the_full_fold(self, data: st.DataObject) -> None:
        version = data.draw(st.integers(self.horizon, self.version), label="version")
        found = self.call(self.engine.state_as_of, NS, S, version=version)
        assert found == self.full_fold(version)
        spoil(found)  # a caller's change to its answer reaches no later answer (states kept in memory)
        event = self.log[max(version, 1) - 1]
        if version > self.horizon:  # by instant and by position: the same state
            by_position = self.call(self.engine.state_as_of, NS, S, position=event.position)
            assert by_position == self.full_fold(version)
            at = event.recorded_at
            upto = max(e.version for e in self.log if e.recorded_at <= at)
            by_instant = self.call(self.engine.state_as_of, NS, S, at=at)
            assert by_instant == self.full_fold(upto, at)
            spoil(by_position)
            spoil(by_instant)

    @precondition(lambda self: self.version > 0)
    @rule(data=st.data())
    def head_from_the_live_read_models_is_the_full_fold(self, data: st.DataObject) -> None:
        """The head (no point, a version past it, the head's position or instant) is answered off
        the live read models while the session's history is whole, and equals the full fold."""
        projections = list(self.engine.projections)

        def at_head(connection: sa.Connection) -> head.LiveSession | None:
            with connection.begin():
                return head.live_session(connection, self.engine.backend, projections, NS, S)

        live = self.call(self.engine.read, at_head)
        assert (live is not None) == (self.horizon == 0)  # the fast path applies where it should
        last = self.log[-1]
        answered = mock.patch.object(head, "state_at_head", wraps=head.state_at_head)
        point = data.draw(st.sampled_from(["version", "past", "position", "at"]), label="head given as")
        asked = {
            "version": {"version": self.version},
            "past": {"version": self.version + 5},
            "position": {"position": last.position + 5},
            "at": {"at": last.recorded_at},
        }[point]
        with answered as spy:
            found = self.call(self.engine.state_as_of, NS, S, **asked)
        assert spy.called == (live is not None)  # and is taken
        assert found == self.full_fold(self.version, last.recorded_at)
        again = self.call(self.engine.state_as_of, NS, S, **asked)  # kept from the first read
        assert again == found and again is not found
        spoil(found)
        spoil(again)

    @precondition(lambda self: self.version > 0)
    @rule(data=st.data())
    def pin(self, data: st.DataObject) -> None:
        version = data.draw(st.integers(max(self.horizon, 1), self.version), label="pinned")
        taken = self.call(self.engine.take_snapshot, NS, S, version)
        assert (taken.version, taken.pinned) == (version, True)
        self.pinned.append(version)

    @precondition(lambda self: any(self.horizon < v < self.version for v in self.pinned))
    @rule()
    def retention_deletes_up_to_a_pinned_version(self) -> None:
        # The session's last event stays (retention keeps a session's head): with none left, the
        # next append would start again at version 1.
        cut = max(v for v in self.pinned if v < self.version)

        def delete(connection: sa.Connection) -> None:
            connection.execute(
                events.delete().where(events.c.namespace == NS, events.c.stream == S, events.c.version <= cut)
            )

        self.call(self.engine._committer.exclusive, delete)
        self.horizon = cut
        if cut > 0:
            with pytest.raises(StateUnavailable):
                self.call(self.engine.state_as_of, NS, S, version=cut - 1)

    @rule()
    def the_keeper_lays_every_grid_point(self) -> None:
        """Without any read: each multiple of the grid the session crossed has its snapshot."""
        self.call(self.engine.flush_snapshots)
        stored = {s.version for s in self.call(self.engine.read, lambda c: snapshots.stored(c, NS, S))}
        grid = snapshots.GRID
        assert {v for v in range(grid, self.version + 1, grid) if v > self.horizon} <= stored

    @rule()
    def verify_finds_nothing(self) -> None:
        assert self.call(self.engine.verify_snapshots) == []

    # The time-travel machine's own checks, from the horizon on.
    @precondition(lambda self: self.version > 0)
    @rule(data=st.data())
    def diff_of_two_points_applies(self, data: st.DataObject) -> None:
        a = data.draw(st.integers(self.horizon, self.version), label="a")
        b = data.draw(st.integers(self.horizon, self.version), label="b")
        found = self.call(self.engine.diff, NS, S, a, b)
        assert found == diff(self.full_fold(a), self.full_fold(b))

    @precondition(lambda self: self.version > 0)
    @rule(data=st.data())
    def stepping_gives_each_version(self, data: st.DataObject) -> None:
        start = data.draw(st.integers(self.horizon + 1, self.version + 1), label="from_version")
        stepped = self.call(_collect, self.engine.states(NS, S, from_version=start))
        assert [s.version for s in stepped] == list(range(start, self.version + 1))
        for state in stepped:
            assert state == self.full_fold(state.version)

    def teardown(self) -> None:
        if self.horizon > 0:  # a rebuild from a log that lost its front cannot match: retention's part
            try:
                assert self.call(self.engine.verify_snapshots) == []
            finally:
                self.harness.stop()
            return
        try:
            assert self.call(self.engine.verify_snapshots) == []
        finally:
            super().teardown()


@pytest.fixture
def small_grid(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(snapshots, "GRID", 3)
    yield


def test_state_via_snapshots_is_the_full_fold(
    harness: Callable[..., EngineHarness], small_grid: None
) -> None:
    class Machine(SnapshotMachine):
        # The grid keeper on (`snapshot_grid`): the machine checks the grid points it lays too.
        make = staticmethod(lambda **options: harness(snapshot_grid=True, **options))
        clock = ManualClock()

    run_state_machine_as_test(Machine, settings=machine_settings())
