"""The data lifecycle against a model (`specs/lifecycle.md`): writes, record deletes, erasures and
recreates in an encrypting namespace, restarts between them, on both backends.

What a user relies on: every event keeps its type and version forever; an erased session's events
read as `{"erased": true}` (their payloads can never be read again) while later ones, written after
an explicit recreate, read as written; an erased session is deleted (late writes refused); its
values and record are gone; the chain verifies throughout. Retention runs (branch i22-retention)
extend this machine with their own rules.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import invariant, rule, run_state_machine_as_test

from session_engine.engine import Engine, NewEvent, NotFound, SessionDeleted
from session_engine.engine.erasure import ErasureNotEnabled
from session_engine.engine.log import reads
from tests.harness import EngineHarness, EngineMachine
from tests.records.helpers import record

NS = "private"
PLAIN = "plain"
SIDS = st.sampled_from(["s1", "s2"])
ERASED = {"erased": True}


async def stream_version(engine: Engine, namespace: str, sid: str) -> int:
    return await engine.read(lambda c: reads.stream_version(c, namespace, sid))


async def value_of(engine: Engine, sid: str) -> Any:
    stored = await engine.values.get(NS, sid, "k")
    return None if stored is None else stored.value


class LifecycleMachine(EngineMachine):
    """Each session's events as the model expects to read them: (type, the payload a note carries,
    or None for events whose payload the model does not track, or ERASED)."""

    def __init__(self) -> None:
        super().__init__(durability="off", encrypted_namespaces=[NS])
        self.events: dict[str, list[tuple[str, Any]]] = {}
        self.deleted: dict[str, bool] = {}
        self.has_record: dict[str, bool] = {}
        self.values: dict[str, Any] = {}
        self.notes = 0

    def write(
        self, sid: str, recreate: bool, types: list[tuple[str, Any]], action: Callable[[], Any]
    ) -> bool:
        """Run a write; check it was refused exactly when the model says the session is deleted."""
        deleted = self.deleted.get(sid, False)
        try:
            action()
        except SessionDeleted:
            assert deleted and not recreate
            return False
        assert not deleted or recreate
        log = self.events.setdefault(sid, [])
        if deleted:
            log.append(("session_recreated", None))
        log.extend(types)
        self.deleted[sid] = False
        return True

    @rule(sid=SIDS, recreate=st.booleans())
    def note(self, sid: str, recreate: bool) -> None:
        self.notes += 1
        payload = {"text": f"MARKER-{self.notes}"}
        note = [NewEvent("note", payload)]
        self.write(
            sid,
            recreate,
            [("note", payload)],
            lambda: self.call(self.engine.append, NS, sid, note, recreate=recreate),
        )

    @rule(sid=SIDS, value=st.integers(0, 3), recreate=st.booleans())
    def set_value(self, sid: str, value: int, recreate: bool) -> None:
        action = lambda: self.call(self.engine.values.set, NS, sid, "k", value, recreate=recreate)  # noqa: E731
        if self.write(sid, recreate, [("value_set", None)], action):
            self.values[sid] = value

    @rule(sid=SIDS)
    def set_record(self, sid: str) -> None:
        before = self.call(stream_version, self.engine, NS, sid)
        self.call(self.engine.records.set, NS, sid, record(sid))
        if self.call(stream_version, self.engine, NS, sid) > before:  # the same record again: no event
            self.events.setdefault(sid, []).append(("session_record_set", None))
        self.deleted[sid] = False
        self.has_record[sid] = True

    @rule(sid=SIDS)
    def delete_record(self, sid: str) -> None:
        if self.call(self.engine.records.delete, NS, sid):
            assert self.has_record.get(sid, False)
            self.events[sid].append(("session_record_deleted", None))
            self.deleted[sid] = True
        else:
            assert not self.has_record.get(sid, False)
        self.has_record[sid] = False

    @rule(sid=SIDS, reason=st.sampled_from([None, "request 7"]))
    def erase(self, sid: str, reason: str | None) -> None:
        log = self.events.get(sid, [])
        if not log:
            try:
                self.call(self.engine.erase, NS, sid, reason=reason)
            except NotFound:
                return
            raise AssertionError("a session with no events was erased")
        erased = self.call(self.engine.erase, NS, sid, reason=reason)
        if self.has_record.get(sid, False):
            log.append(("session_record_deleted", None))
        # Every payload is gone but the erasures' own (their reasons are the audit trail's).
        log[:] = [(t, data if t == "session_erased" else ERASED) for t, data in log]
        log.append(("session_erased", {} if reason is None else {"reason": reason}))
        assert erased.version == len(log)
        self.deleted[sid] = True
        self.has_record[sid] = False
        self.values.pop(sid, None)

    @rule(sid=SIDS)
    def erase_where_not_encrypted(self, sid: str) -> None:
        self.call(self.engine.append, PLAIN, sid, [NewEvent("note", {"text": "kept"})])
        before = self.call(stream_version, self.engine, PLAIN, sid)
        try:
            self.call(self.engine.erase, PLAIN, sid)
        except ErasureNotEnabled as refused:
            assert "encrypt = true" in str(refused)
        else:
            raise AssertionError("a namespace that does not encrypt was erased")
        assert self.call(stream_version, self.engine, PLAIN, sid) == before

    @rule()
    def restart(self) -> None:
        self.engine = self.harness.restart()

    @rule(sid=SIDS)
    def time_travel_reads_what_is_left(self, sid: str) -> None:
        log = self.events.get(sid, [])
        if log:
            state = self.call(self.engine.state_as_of, NS, sid, version=len(log))
            assert state.version == len(log)

    @invariant()
    def every_read_matches_the_model(self) -> None:
        for sid, log in self.events.items():
            events = self.call(self.engine.read_stream, NS, sid)
            assert [(e.version, e.type) for e in events] == [(i + 1, t) for i, (t, _) in enumerate(log)]
            for event, (_, expected) in zip(events, log, strict=True):
                if expected is not None:
                    assert event.data == expected, (event, expected)
            value = self.call(value_of, self.engine, sid)
            assert value == self.values.get(sid)
            alive = self.call(self.engine.records.get, NS, sid)
            assert (alive is not None) == self.has_record.get(sid, False)

    @invariant()
    def the_chain_verifies(self) -> None:
        assert self.call(self.engine.verify_chain).ok


def test_writes_deletes_and_erasures_against_a_model(harness: Callable[..., EngineHarness]) -> None:
    class Machine(LifecycleMachine):
        make = staticmethod(harness)

    run_state_machine_as_test(Machine)
