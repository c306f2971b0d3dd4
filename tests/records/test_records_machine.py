"""A hypothesis state machine: the nine subjects against the in-memory model, on both backends.

Few ids and few timestamps, so ties in `lastActivityAt`, shared adapter session ids, lineage trees
and status moves all happen often. Every few steps the read models are rebuilt and compared.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import invariant, rule, run_state_machine_as_test

from session_engine.adapters.conformance.models.records import Model, Refused
from session_engine.adapters.conformance.strategies import (
    ACCOUNT,
    SIDS,
    STATUS_FILTER,
    UPDATABLE,
    WORDS,
    identity,
    records,
)
from session_engine.adapters.rpc.bus.subjects import RecordSubjects
from session_engine.engine.errors import SessionDeleted
from session_engine.engine.records.errors import InvalidRecordRequest
from tests.harness import EngineHarness, EngineMachine
from tests.records.helpers import NS

VERIFY_EVERY = 10


class RecordsMachine(EngineMachine):
    def __init__(self) -> None:
        super().__init__(durability="off")
        self.records = RecordSubjects(self.engine)
        self.model = Model()
        self.said = 0
        self.deleted: set[str] = set()
        """Sessions whose record was deleted and not set again: the engine refuses other writes to
        them (specs/lifecycle.md), so a message said there is refused and kept by no one."""

    def write(
        self, expected: Callable[[], dict[str, Any]], function: Callable[..., Any], request: Any
    ) -> None:
        try:
            want: dict[str, Any] | None = expected()
        except Refused:
            want = None
        try:
            got = self.call(function, NS, request).model_dump()
        except InvalidRecordRequest:
            assert want is None, f"engine refused, model answered {want}"
        else:
            assert got == want

    # -- writes -----------------------------------------------------------------------------
    @rule(data=st.data(), sid=SIDS, if_absent=st.sampled_from([None, False, True]))
    def set(self, data: st.DataObject, sid: str, if_absent: bool | None) -> None:
        record = data.draw(records(sid))
        request = {
            "sessionId": sid,
            "session": record,
            **({} if if_absent is None else {"ifAbsent": if_absent}),
        }
        self.write(lambda: self.model.set(record, bool(if_absent)), self.records.set, request)
        if sid in self.model.records:  # a records set is that protocol's recreate
            self.deleted.discard(sid)

    @rule(data=st.data(), sid=SIDS)
    def update(self, data: st.DataObject, sid: str) -> None:
        names = data.draw(st.sets(st.sampled_from(sorted(UPDATABLE)), max_size=3))
        changes = {name: data.draw(UPDATABLE[name]) for name in sorted(names)}
        if data.draw(st.booleans()):
            changes.update(identity(data.draw(ACCOUNT)))
        self.write(
            lambda: self.model.update(sid, changes), self.records.update, {"sessionId": sid, **changes}
        )

    @rule(sid=SIDS)
    def delete(self, sid: str) -> None:
        existed = sid in self.model.records
        self.write(lambda: self.model.delete(sid), self.records.delete, {"sessionId": sid})
        if existed:
            self.deleted.add(sid)

    @rule(
        sid=SIDS,
        role=st.sampled_from(["user", "assistant"]),
        words=st.lists(st.sampled_from(WORDS), min_size=1, max_size=2),
    )
    def say(self, sid: str, role: str, words: list[str]) -> None:
        self.said += 1
        text = " ".join(words)
        message = {"role": role, "content": [{"type": "text", "text": text}]}
        upload = (
            self.engine.objects.upload,
            NS,
            sid,
            f"m{self.said}",
            {"type": "message", "message": message},
        )
        if sid in self.deleted:
            with pytest.raises(SessionDeleted):
                self.call(*upload)
            return
        self.call(*upload)
        self.model.say(sid, role, text)

    # -- reads ------------------------------------------------------------------------------
    @rule(sid=SIDS)
    def get(self, sid: str) -> None:
        got = self.call(self.records.get, NS, {"sessionId": sid}).model_dump()
        assert got == {"session": self.model.records.get(sid)}

    @rule(asid=st.sampled_from(["ad-1", "ad-2"]))
    def get_by_adapter_session_id(self, asid: str) -> None:
        got = self.call(self.records.get_by_adapter_session_id, NS, {"adapterSessionId": asid}).model_dump()
        assert got == {"session": self.model.by_adapter(asid)}

    @rule(sid=SIDS)
    def get_children(self, sid: str) -> None:
        got = self.call(self.records.get_children, NS, {"sessionId": sid}).model_dump()
        assert got == {"children": self.model.children(sid)}

    @rule(
        status=STATUS_FILTER,
        exec_target=st.sampled_from([None, "t1"]),
        limit=st.integers(1, 4),
        offset=st.integers(0, 4),
        preview=st.booleans(),
    )
    def list(
        self, status: str | None, exec_target: str | None, limit: int, offset: int, preview: bool
    ) -> None:
        target = exec_target
        request: dict[str, Any] = {"limit": limit, "offset": offset, "includePreview": preview}
        if status is not None:
            request["status"] = status
        if target is not None:
            request["executionTargetId"] = target
        got = self.call(self.records.list, NS, request).model_dump()
        assert got == self.model.list(status, target, limit, offset, preview)

    @rule(word=st.sampled_from(WORDS), status=STATUS_FILTER, limit=st.integers(1, 3))
    def search(self, word: str, status: str | None, limit: int) -> None:
        request: dict[str, Any] = {"query": word, "limit": limit, **({"status": status} if status else {})}
        got = self.call(self.records.search, NS, request).model_dump()
        assert got == self.model.search(word, status, limit)

    @invariant()
    def counts_and_rebuild(self) -> None:
        assert self.call(self.records.get_status_counts, NS).model_dump() == self.model.counts()
        self.steps += 1
        if self.steps % VERIFY_EVERY == 0:
            assert self.call(self.engine.verify) == []


def test_records_match_the_model(harness: Callable[..., EngineHarness]) -> None:
    class Machine(RecordsMachine):
        make = staticmethod(harness)

    run_state_machine_as_test(Machine)
