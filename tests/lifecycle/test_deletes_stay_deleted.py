"""Deletes that stay deleted (`specs/lifecycle.md`): after a session's record is deleted, a late
write to the session - a value, an object, a raw append with the current or a stale expected
version - is refused with `SessionDeleted` and changes nothing, until a caller recreates it (a
records `set`, or any write with `recreate=True`). A state machine checks it against a model,
across restarts (the committer's cache of deleted sessions starts empty again), on both backends.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import invariant, rule, run_state_machine_as_test

from session_engine.engine import Engine, NewEvent, SessionDeleted, WrongExpectedVersion
from session_engine.engine.log import reads
from session_engine.engine.records.commands import WriteResult
from tests.harness import EngineHarness, EngineMachine, in_one_batch
from tests.records.helpers import record

NS = "tenant"
SIDS = st.sampled_from(["s1", "s2", "s3"])
REFUSED = WriteResult(success=False, client_account_changed=False)
MESSAGE = {"role": "user", "content": [{"type": "text", "text": "x"}]}
pytestmark = pytest.mark.anyio


async def stream_version(engine: Engine, sid: str) -> int:
    return await engine.read(lambda c: reads.stream_version(c, NS, sid))


async def value_of(engine: Engine, sid: str) -> Any:
    stored = await engine.values.get(NS, sid, "k")
    return None if stored is None else stored.value


async def test_a_late_write_to_a_deleted_session_is_refused_until_recreated(engine: Engine) -> None:
    await engine.records.set(NS, "s", record("s"))
    await engine.values.set(NS, "s", "k", 1)
    assert await engine.records.delete(NS, "s")
    version = await stream_version(engine, "s")
    with pytest.raises(SessionDeleted) as refused:
        await engine.values.set(NS, "s", "k", 2)
    assert refused.value.code == "session_deleted" and "recreate" in str(refused.value)
    with pytest.raises(SessionDeleted):  # the current version is no way back in either
        await engine.append(NS, "s", [NewEvent("note", {})], expected_version=version)
    with pytest.raises(WrongExpectedVersion):  # a stale one is refused as stale first
        await engine.append(NS, "s", [NewEvent("note", {})], expected_version=version - 1)
    with pytest.raises(SessionDeleted):
        await engine.objects.upload(NS, "s", "doc", {"type": "message", "message": MESSAGE})
    assert await stream_version(engine, "s") == version
    assert await engine.records.update(NS, "s", {"title": "late"}) == REFUSED
    assert await value_of(engine, "s") == 1  # deleting the record left the values

    await engine.values.set(NS, "s", "k", 3, recreate=True)
    events = await engine.read_stream(NS, "s", from_version=version + 1)
    assert [e.type for e in events] == ["session_recreated", "value_set"]
    await engine.append(NS, "s", [NewEvent("note", {})])  # alive again: no flag needed
    assert await engine.records.delete(NS, "s") is False  # no record: nothing to delete


async def test_a_records_set_is_the_records_protocols_recreate(engine: Engine) -> None:
    await engine.records.set(NS, "s", record("s"))
    await engine.records.delete(NS, "s")
    await engine.records.set(NS, "s", record("s", title="again"))
    await engine.values.set(NS, "s", "k", 1)
    assert (await engine.records.get(NS, "s") or {})["title"] == "again"


async def test_a_delete_and_a_late_write_in_one_batch(engine: Engine) -> None:
    await engine.records.set(NS, "s", record("s"))
    outcomes = await in_one_batch(
        engine,
        [
            lambda: engine.records.delete(NS, "s"),
            lambda: engine.values.set(NS, "s", "k", 1),
            lambda: engine.values.set(NS, "s", "k", 2, recreate=True),
            lambda: engine.values.set(NS, "s", "k", 3),
        ],
    )
    assert outcomes[0] is True and isinstance(outcomes[1], SessionDeleted)
    assert outcomes[2:] == [None, None]
    assert await value_of(engine, "s") == 3


async def test_other_sessions_and_namespaces_are_untouched(engine: Engine) -> None:
    await engine.records.set(NS, "s", record("s"))
    await engine.records.delete(NS, "s")
    await engine.values.set(NS, "t", "k", 1)
    await engine.values.set("other", "s", "k", 1)


class DeletesMachine(EngineMachine):
    """Writes of every kind, record deletes and recreates against a model of which sessions are
    deleted and what each stream holds; restarts drop the committer's cache."""

    def __init__(self) -> None:
        super().__init__(durability="off")
        self.deleted: dict[str, bool] = {}
        self.has_record: dict[str, bool] = {}
        self.versions: dict[str, int] = {}
        self.values: dict[str, Any] = {}

    def version(self, sid: str) -> int:
        return int(self.call(stream_version, self.engine, sid))

    def refused_if_deleted(self, sid: str, write: Callable[[], Any], recreate: bool, events: int) -> bool:
        before = self.version(sid)
        try:
            write()
        except SessionDeleted:
            assert self.deleted.get(sid, False) and not recreate
            assert self.version(sid) == before
            return False
        assert not self.deleted.get(sid, False) or recreate
        revived = self.deleted.get(sid, False)
        assert self.version(sid) == before + events + int(revived)
        self.deleted[sid] = False
        return True

    @rule(sid=SIDS, value=st.integers(0, 3), recreate=st.booleans())
    def set_value(self, sid: str, value: int, recreate: bool) -> None:
        def write() -> None:
            self.call(self.engine.values.set, NS, sid, "k", value, recreate=recreate)

        if self.refused_if_deleted(sid, write, recreate, 1):
            self.values[sid] = value

    @rule(sid=SIDS, stale=st.booleans(), recreate=st.booleans())
    def append(self, sid: str, stale: bool, recreate: bool) -> None:
        current = self.version(sid)
        expected = current - 1 if stale and current > 0 else current

        def write() -> None:
            note = [NewEvent("note", {})]
            self.call(self.engine.append, NS, sid, note, expected_version=expected, recreate=recreate)

        if expected != current:
            try:
                write()
            except WrongExpectedVersion:
                assert self.version(sid) == current
                return
            raise AssertionError("a stale expected version was accepted")
        self.refused_if_deleted(sid, write, recreate, 1)

    @rule(sid=SIDS)
    def set_record(self, sid: str) -> None:
        self.call(self.engine.records.set, NS, sid, record(sid))
        self.deleted[sid] = False
        self.has_record[sid] = True

    @rule(sid=SIDS)
    def delete_record(self, sid: str) -> None:
        deleted = self.call(self.engine.records.delete, NS, sid)
        assert deleted == self.has_record.get(sid, False)
        if deleted:
            self.deleted[sid] = True
        self.has_record[sid] = False

    @rule()
    def restart(self) -> None:
        self.engine = self.harness.restart()

    @invariant()
    def values_match(self) -> None:
        for sid, value in self.values.items():
            assert self.call(value_of, self.engine, sid) == value


def test_deletes_stay_deleted_against_a_model(harness: Callable[..., EngineHarness]) -> None:
    class Machine(DeletesMachine):
        make = staticmethod(harness)

    run_state_machine_as_test(Machine)
