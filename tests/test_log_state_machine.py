"""For any sequence of appends, rebuilds and as-of reads, the engine agrees with a plain model,
and rebuilt read models always equal live ones."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from session_engine.engine import NO_STREAM, ManualClock, NewEvent, WrongExpectedVersion
from session_engine.engine.catalog import catalog_domain
from tests.harness import EngineHarness

streams = st.sampled_from(["a", "b", "c", "d"])
payloads = st.dictionaries(
    st.sampled_from(["k", "n", "text"]),
    st.one_of(st.integers(-5, 5), st.text(max_size=5), st.none()),
    max_size=3,
)


def test_log_agrees_with_model(harness: Callable[..., EngineHarness], clock: ManualClock) -> None:
    class LogMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.h = harness(clock=clock, extra_domains=[catalog_domain])
            self.engine = self.h.start()
            self.model: list[tuple[str, dict[str, Any], Any]] = []  # (stream, data, recorded_at)

        def version(self, stream: str) -> int:
            return sum(1 for s, _, _ in self.model if s == stream)

        @initialize()
        def nothing_yet(self) -> None:
            assert self.h.call(self.engine.head) == 0

        @rule(stream=streams, data=st.lists(payloads, min_size=1, max_size=3), stale=st.booleans())
        def append(self, stream: str, data: list[dict[str, Any]], stale: bool) -> None:
            current = self.version(stream)
            expected = current + 1 if stale else current
            events = [NewEvent("noted", d) for d in data]
            try:
                result = self.h.call(self.engine.append, "ns", stream, events, expected_version=expected)
            except WrongExpectedVersion as error:
                assert stale and error.actual == current
                return
            assert not stale
            assert result.first_version == current + 1
            assert result.first_position == len(self.model) + 1
            for d in data:
                self.model.append((stream, d, clock.now()))

        @rule(stream=streams)
        def new_stream_only(self, stream: str) -> None:
            try:
                self.h.call(self.engine.append, "ns", stream, [NewEvent("x", {})], expected_version=NO_STREAM)
                assert self.version(stream) == 0
                self.model.append((stream, {}, clock.now()))
            except WrongExpectedVersion:
                assert self.version(stream) > 0

        @rule(seconds=st.integers(1, 100))
        def time_passes(self, seconds: int) -> None:
            clock.advance(seconds)

        @rule()
        def rebuild(self) -> None:
            self.h.call(self.engine.rebuild)

        @rule()
        def restart(self) -> None:
            self.engine = self.h.restart()

        @rule(stream=streams, data=st.data())
        def as_of_version(self, stream: str, data: st.DataObject) -> None:
            history = [(d, t) for s, d, t in self.model if s == stream]
            version = data.draw(st.integers(0, len(history)))
            state = self.h.call(self.engine.state_as_of, "ns", stream, version=version)
            assert (state.session, state.version) == (stream, version)
            if version == 0:
                assert state.recorded_at is None and state.position == 0
            else:
                assert state.recorded_at == history[version - 1][1]

        @rule(data=st.data())
        def as_of_position(self, data: st.DataObject) -> None:
            position = data.draw(st.integers(0, len(self.model)))
            stream = data.draw(streams)
            state = self.h.call(self.engine.state_as_of, "ns", stream, position=position)
            expected = sum(1 for s, _, _ in self.model[:position] if s == stream)
            assert state.version == expected

        @rule(data=st.data())
        def as_of_instant(self, data: st.DataObject) -> None:
            if not self.model:
                return
            _, _, instant = self.model[data.draw(st.integers(0, len(self.model) - 1))]
            stream = data.draw(streams)
            state = self.h.call(self.engine.state_as_of, "ns", stream, at=instant)
            expected = sum(1 for s, _, t in self.model if s == stream and t <= instant)
            assert state.version == expected

        @invariant()
        def log_matches_model(self) -> None:
            log = self.h.call(self.engine.read_all, after=0, limit=10_000)
            assert [(e.stream, e.data) for e in log] == [(s, d) for s, d, _ in self.model]
            assert [e.position for e in log] == list(range(1, len(self.model) + 1))

        @rule()
        def rebuilt_equals_live(self) -> None:
            assert self.h.call(self.engine.verify) == []

        def teardown(self) -> None:
            try:
                assert self.h.call(self.engine.verify) == []
            finally:
                self.h.stop()

    run_state_machine_as_test(LogMachine, settings=settings(max_examples=min(settings().max_examples, 15)))
