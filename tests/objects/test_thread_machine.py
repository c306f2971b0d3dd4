"""Threads against an in-memory model: posting, refusals, paging by cursor under timestamp ties."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import (
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from session_engine.engine import ManualClock
from session_engine.engine.objects.errors import ObjectNotFound
from session_engine.engine.objects.limits import MAX_THREAD_ITEM_BYTES
from session_engine.engine.objects.threads.errors import (
    InvalidThreadEnvelope,
    InvalidThreadItem,
    ThreadItemTooLarge,
)
from tests.harness import EngineHarness, EngineMachine

NS, S = "rev", "sess"
ALIASES = st.sampled_from(["t1", "t2", "other"])
TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=6)
BLOCK = st.one_of(
    st.builds(lambda t: {"type": "text", "text": t}, TEXT),
    st.builds(lambda v: {"type": "json", "json": v}, st.integers(-5, 5) | TEXT),
    st.just({"type": "image", "id": "img-1"}),
)


@dataclass
class Item:
    id: str
    created_at: datetime
    content: list[dict[str, Any]]
    parent_id: str | None
    metadata: dict[str, Any] | None
    user_id: str | None


class ThreadMachine(EngineMachine):
    def __init__(self) -> None:
        self.clock = ManualClock()
        super().__init__(clock=self.clock)
        self.kinds: dict[str, str] = {}
        self.threads: dict[str, list[Item]] = {}

    @rule(alias=ALIASES, kind=st.sampled_from(["thread", "thread", "message"]))
    def upload(self, alias: str, kind: str) -> None:
        if kind == "thread":
            value: dict[str, Any] = {"type": "thread", "thread": {"attributes": {"name": alias}}}
        else:
            value = {
                "type": "message",
                "message": {"role": "user", "content": [{"type": "text", "text": "m"}]},
            }
        self.call(self.engine.objects.upload, NS, S, alias, value)
        if kind == "thread" and self.kinds.get(alias) != "thread":
            self.threads[alias] = []
        if kind != "thread":
            self.threads.pop(alias, None)
        self.kinds[alias] = kind

    @rule(alias=ALIASES)
    def delete(self, alias: str) -> None:
        try:
            self.call(self.engine.objects.delete, NS, S, alias)
        except ObjectNotFound:
            assert alias not in self.kinds
            return
        del self.kinds[alias]
        self.threads.pop(alias, None)

    @rule(
        alias=ALIASES,
        content=st.lists(BLOCK, max_size=3),
        parent=st.none() | st.just("p-1"),
        metadata=st.none() | st.fixed_dictionaries({"type": st.sampled_from(["text", "status"])}),
        user=st.none() | st.sampled_from(["u1", "u2"]),
    )
    def post(
        self, alias: str, content: list[dict[str, Any]], parent: str | None, metadata: Any, user: str | None
    ) -> None:
        expected: type[Exception] | None = None
        if not content:
            expected = InvalidThreadItem
        elif alias not in self.threads:
            expected = InvalidThreadEnvelope
        try:
            item = self.call(
                self.engine.objects.post_thread_item,
                NS,
                S,
                alias,
                content,
                parent_id=parent,
                item_metadata=metadata,
                user_id=user,
            )
        except Exception as error:  # noqa: BLE001 - compared with the model's verdict
            assert expected is not None and isinstance(error, expected), repr(error)
            return
        assert expected is None
        assert item.content == content and item.user_id == user and item.parent_id == parent
        self.threads[alias].append(Item(item.id, self.clock.now(), content, parent, metadata, user))

    @rule(alias=ALIASES)
    def post_too_large(self, alias: str) -> None:
        head = self.call(self.engine.head)
        content = [{"type": "text", "text": "x" * MAX_THREAD_ITEM_BYTES}]
        with pytest.raises(ThreadItemTooLarge):
            self.call(self.engine.objects.post_thread_item, NS, S, alias, content)
        assert self.call(self.engine.head) == head

    @rule(seconds=st.sampled_from([0, 0, 0.000001, 1]))
    def tick(self, seconds: float) -> None:
        self.clock.advance(seconds)

    def expected_items(
        self, alias: str, ascending: bool, since: datetime | None, before: datetime | None
    ) -> list[str]:
        items = [
            i.id
            for i in self.threads[alias]
            if (since is None or i.created_at > since) and (before is None or i.created_at < before)
        ]
        return items if ascending else items[::-1]

    @precondition(lambda self: bool(self.threads))
    @rule(
        data=st.data(),
        ascending=st.booleans(),
        limit=st.integers(1, 4),
        filtered=st.booleans(),
    )
    def page_through(self, data: st.DataObject, ascending: bool, limit: int, filtered: bool) -> None:
        alias = data.draw(st.sampled_from(sorted(self.threads)))
        times = sorted({i.created_at for i in self.threads[alias]}) or [self.clock.now()]
        since = data.draw(st.none() | st.sampled_from(times)) if filtered else None
        before = data.draw(st.none() | st.sampled_from(times)) if filtered else None
        seen: list[str] = []
        cursor = None
        for _ in range(100):
            page = self.call(
                self.engine.objects.list_thread_items,
                NS,
                S,
                alias,
                ascending=ascending,
                created_since=since,
                created_before=before,
                limit=limit,
                cursor=cursor,
            )
            assert len(page.items) <= limit
            seen += [item.id for item in page.items]
            cursor = page.cursor
            if cursor is None:
                break
        assert seen == self.expected_items(alias, ascending, since, before)

    @invariant()
    def items_match(self) -> None:
        for alias, items in self.threads.items():
            page = self.call(self.engine.objects.list_thread_items, NS, S, alias, ascending=True, limit=1000)
            got = [
                (i.id, i.content, i.metadata, i.user_id, i.created_at.isoformat(timespec="microseconds"))
                for i in page.items
            ]
            assert got == [
                (i.id, i.content, i.metadata, i.user_id, i.created_at.isoformat(timespec="microseconds"))
                for i in items
            ]
            if items:
                one = self.call(self.engine.objects.get_thread_item, NS, S, alias, items[-1].id)
                assert one.id == items[-1].id and one.alias == alias
        self.steps += 1
        if self.steps % 25 == 0:
            assert self.call(self.engine.verify) == []


def test_threads_match_the_model(harness: Callable[..., EngineHarness]) -> None:
    class Machine(ThreadMachine):
        make = staticmethod(harness)

    run_state_machine_as_test(Machine)
