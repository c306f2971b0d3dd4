"""Typed time travel against itself: for random command sequences over every domain of a session,
`diff(state(a), state(b))` applied to `state(a)` gives `state(b)`, stepping gives the same states as
asking for each version, and `engine.diff` is the diff of the two states."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import initialize, precondition, rule, run_state_machine_as_test

from session_engine.engine import EngineError, ManualClock
from session_engine.engine.inspect import diff
from tests.harness import EngineHarness, EngineMachine
from tests.records.helpers import NS, put
from tests.values.machine import machine_settings

S = "session-1"
KEYS = st.sampled_from(["a", "b", "c"])
ALIASES = st.sampled_from(["t", "g", "m"])
KINDS = st.sampled_from(["thread", "graph", "messages"])
KIND_OF = {"t": "thread", "g": "graph", "m": "messages"}
TEXT = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=6)
VALUES: st.SearchStrategy[Any] = st.one_of(st.integers(-5, 5), TEXT, st.lists(st.integers(0, 3), max_size=2))
TTL = st.sampled_from([None, 1, 5])
IDS = st.sampled_from(["v1", "v2", "v3"])


def _message(text: str) -> dict[str, Any]:
    return {"role": "user", "content": [{"type": "text", "text": text}]}


def _envelope(kind: str) -> dict[str, Any]:
    if kind == "messages":
        return {"type": "messages", "messages": [_message("hello")]}
    return {"type": kind, kind: {}}


class TimeTravelMachine(EngineMachine):
    clock: ManualClock

    def __init__(self) -> None:
        super().__init__(clock=self.clock)
        self.version = 0

    def run(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """A command; a refused one (a thread item on a graph, say) records nothing."""
        with contextlib.suppress(EngineError):
            self.call(function, *args, **kwargs)
        self.version = len(self.call(self.engine.read_stream, NS, S))

    @initialize()
    def objects_of_each_kind(self) -> None:
        for alias, kind in KIND_OF.items():
            self.run(self.engine.objects.upload, NS, S, alias, _envelope(kind))

    @rule(key=KEYS, value=VALUES, ttl=TTL)
    def set_value(self, key: str, value: Any, ttl: int | None) -> None:
        self.run(self.engine.values.set, NS, S, key, value, ttl_seconds=ttl)

    @rule(key=KEYS)
    def delete_value(self, key: str) -> None:
        self.run(self.engine.values.delete, NS, S, key)

    @rule(name=st.sampled_from(["x", "y"]), text=TEXT)
    def set_part(self, name: str, text: str) -> None:
        self.run(self.engine.values.set_text_part, NS, S, name, text)

    @rule(really=st.integers(0, 3))
    def clear(self, really: int) -> None:
        if really == 0:  # now and then: a clear undoes most of what came before
            self.run(self.engine.values.clear, NS, S)

    @rule(seconds=st.sampled_from([1, 3]))
    def advance(self, seconds: int) -> None:
        self.clock.advance(seconds)

    @rule(alias=ALIASES)
    def upload(self, alias: str) -> None:
        self.run(self.engine.objects.upload, NS, S, alias, _envelope(KIND_OF[alias]))

    @rule(alias=ALIASES, kind=KINDS)
    def replace_with_any_kind(self, alias: str, kind: str) -> None:
        self.run(self.engine.objects.upload, NS, S, alias, _envelope(kind))

    @rule(alias=ALIASES)
    def delete_object(self, alias: str) -> None:
        self.run(self.engine.objects.delete, NS, S, alias)

    @rule(text=TEXT)
    def post_item(self, text: str) -> None:
        self.run(self.engine.objects.post_thread_item, NS, S, "t", [{"type": "text", "text": text or "-"}])

    @rule(text=TEXT)
    def append_message(self, text: str) -> None:
        self.run(self.engine.objects.append_messages, NS, S, "m", [_message(text or "-")])

    @rule(
        element=IDS,
        value=st.integers(0, 3),
        op=st.sampled_from(["add", "edge", "set", "delete"]),
    )
    def mutate_graph(self, element: str, value: int, op: str) -> None:
        operation: dict[str, Any] = {
            "add": {"op": "add_vertex", "element_id": element, "labels": ["n"], "props": {"v": value}},
            "edge": {
                "op": "add_edge",
                "element_id": f"e-{element}",
                "label": "to",
                "from_id": element,
                "to_id": "v1",
            },
            "set": {"op": "set_vertex_props", "element_id": element, "props": {"v": value}},
            "delete": {"op": "delete_vertex", "element_id": element},
        }[op]
        self.run(self.engine.objects.apply_graph_mutations, NS, S, "g", [operation])

    @rule(last=st.integers(1000, 1005), title=st.sampled_from([None, "one", "two"]))
    def put_record(self, last: int, title: str | None) -> None:
        fields = {} if title is None else {"title": title}
        self.run(put, self.engine, S, last, **fields)

    @precondition(lambda self: self.version > 0)
    @rule(data=st.data())
    def diff_of_two_points_applies(self, data: st.DataObject) -> None:
        a = data.draw(st.integers(0, self.version), label="a")
        b = data.draw(st.integers(0, self.version), label="b")
        before = self.call(self.engine.state_as_of, NS, S, version=a)
        after = self.call(self.engine.state_as_of, NS, S, version=b)
        found = self.call(self.engine.diff, NS, S, a, b)
        assert found == diff(before, after)
        assert found.apply(before) == after
        assert found.empty == (before.model_copy(update=_header(after)) == after)

    @precondition(lambda self: self.version > 0)
    @rule(data=st.data())
    def stepping_gives_each_version(self, data: st.DataObject) -> None:
        start = data.draw(st.integers(1, self.version), label="from_version")
        stepped = self.call(_collect, self.engine.states(NS, S, from_version=start))
        assert [s.version for s in stepped] == list(range(start, self.version + 1))
        for state in stepped[:: max(1, len(stepped) // 3)]:
            assert state == self.call(self.engine.state_as_of, NS, S, version=state.version)


def _header(state: Any) -> dict[str, Any]:
    return {name: getattr(state, name) for name in ("version", "position", "recorded_at", "as_of")}


async def _collect(states: Any) -> list[Any]:
    return [state async for state in states]


def test_diff_applied_to_the_first_state_gives_the_second(harness: Callable[..., EngineHarness]) -> None:
    class Machine(TimeTravelMachine):
        make = staticmethod(harness)
        clock = ManualClock()

    run_state_machine_as_test(Machine, settings=machine_settings())
