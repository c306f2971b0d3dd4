"""Envelopes and threads against the kit's model (`models/objects.py`): uploads with replace
semantics, downloads, the listing, appends, deletes that take children along, thread items with
paging and time filters."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import invariant, precondition, rule, run_state_machine_as_test

from session_engine.adapters.conformance.models.graph import Refused
from session_engine.adapters.conformance.models.objects import Item, Session
from session_engine.adapters.conformance.strategies import (
    ALIASES,
    ITEM_CONTENT,
    ITEM_METADATA,
    MESSAGES,
    OBJECT_TYPES,
    PARENTS,
    object_values,
)
from session_engine.engine import ManualClock
from session_engine.engine.objects.limits import MAX_THREAD_ITEM_BYTES
from session_engine.engine.objects.threads.errors import ThreadItemTooLarge
from tests.harness import EngineHarness, EngineMachine

NS, S = "rev", "sess"


def stamp(instant: datetime) -> str:
    return instant.isoformat(timespec="microseconds")


class ObjectsMachine(EngineMachine):
    def __init__(self) -> None:
        self.clock = ManualClock()
        super().__init__(clock=self.clock)
        self.model = Session()

    def expect(
        self, compute: Callable[[], Any], function: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> Any:
        """The engine's answer, where the model accepts; else the engine must refuse with the
        model's error (the class or one of its bases) and append nothing. Returns (model, engine)."""
        try:
            expected = compute()
        except Refused as refused:
            head = self.call(self.engine.head)
            with pytest.raises(Exception) as raised:
                self.call(function, *args, **kwargs)
            assert refused.name in {kind.__name__ for kind in type(raised.value).__mro__}, raised.value
            assert self.call(self.engine.head) == head
            return None, None
        return expected, self.call(function, *args, **kwargs)

    @rule(data=st.data(), alias=ALIASES, kind=OBJECT_TYPES)
    def upload(self, data: st.DataObject, alias: str, kind: str) -> None:
        value = data.draw(object_values(kind))
        summary = self.call(self.engine.objects.upload, NS, S, alias, value)
        assert (summary.alias, summary.type, summary.updated_at) == (alias, kind, self.clock.now())
        self.model.upload(alias, value)

    @rule(alias=ALIASES)
    def delete(self, alias: str) -> None:
        self.expect(lambda: self.model.delete(alias), self.engine.objects.delete, NS, S, alias)

    @rule(alias=ALIASES)
    def download(self, alias: str) -> None:
        expected, stored = self.expect(
            lambda: self.model.download(alias), self.engine.objects.download, NS, S, alias
        )
        if stored is not None:
            assert (stored.alias, stored.value) == (alias, expected)

    @rule()
    def list_objects(self) -> None:
        page = self.call(self.engine.objects.list_objects, NS, S)
        assert [(o.alias, o.type) for o in page.objects] == self.model.listing()
        assert page.cursor is None

    @rule(alias=ALIASES, messages=st.lists(MESSAGES, min_size=1, max_size=3))
    def append(self, alias: str, messages: list[Any]) -> None:
        expected, summary = self.expect(
            lambda: self.model.append(alias, messages),
            self.engine.objects.append_messages,
            NS,
            S,
            alias,
            messages,
        )
        if summary is not None:
            assert (summary.first_ordinal, summary.count) == expected

    @rule(
        alias=ALIASES,
        content=ITEM_CONTENT,
        parent=PARENTS,
        metadata=ITEM_METADATA,
        user=st.none() | st.sampled_from(["u1", "u2"]),
    )
    def post(
        self, alias: str, content: list[Any], parent: str | None, metadata: Any, user: str | None
    ) -> None:
        _, item = self.expect(
            lambda: self.model.check_post(alias, content),
            self.engine.objects.post_thread_item,
            NS,
            S,
            alias,
            content,
            parent_id=parent,
            item_metadata=metadata,
            user_id=user,
        )
        if item is None:
            return
        assert (item.content, item.parent_id, item.metadata, item.user_id) == (
            content,
            parent,
            metadata,
            user,
        )
        assert item.created_at == self.clock.now()
        self.model.post(alias, Item(item.id, item.created_at, content, parent, metadata, user))

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

    @precondition(lambda self: bool(self.model.aliases("thread")))
    @rule(data=st.data(), ascending=st.booleans(), limit=st.integers(1, 4), filtered=st.booleans())
    def page_through(self, data: st.DataObject, ascending: bool, limit: int, filtered: bool) -> None:
        alias = data.draw(st.sampled_from(self.model.aliases("thread")))
        times = sorted({i.created_at for i in self.model.thread(alias)}) or [self.clock.now()]
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
        assert seen == [i.id for i in self.model.items(alias, ascending, since, before)]

    @rule(data=st.data(), alias=ALIASES)
    def get_item(self, data: st.DataObject, alias: str) -> None:
        known = [i.id for i in self.model.thread(alias)] if alias in self.model.aliases("thread") else []
        item_id = data.draw(st.sampled_from([*known, "absent"]))
        expected, item = self.expect(
            lambda: self.model.item(alias, item_id),
            self.engine.objects.get_thread_item,
            NS,
            S,
            alias,
            item_id,
        )
        if item is not None:
            assert (item.id, item.alias, item.content, item.created_at) == (
                expected.id,
                alias,
                expected.content,
                expected.created_at,
            )

    @invariant()
    def items_match(self) -> None:
        for alias in self.model.aliases("thread"):
            page = self.call(self.engine.objects.list_thread_items, NS, S, alias, ascending=True, limit=1000)
            got = [
                (i.id, i.content, i.parent_id, i.metadata, i.user_id, stamp(i.created_at)) for i in page.items
            ]
            assert got == [
                (i.id, i.content, i.parent_id, i.metadata, i.user_id, stamp(i.created_at))
                for i in self.model.items(alias, ascending=True)
            ]
        self.steps += 1
        if self.steps % 25 == 0:
            assert self.call(self.engine.verify) == []


def test_envelopes_and_threads_match_the_model(harness: Callable[..., EngineHarness]) -> None:
    class Machine(ObjectsMachine):
        make = staticmethod(harness)

    run_state_machine_as_test(Machine)
