"""Retention runs mixed with writes, record deletes and recreates, against a model of what each
session holds: which sessions a run drops and how far it cuts each (a dropped session recreated
too), what stays readable, that a dropped session stays deleted, that a retried keyed write is
never applied twice (its events removed or not), that no write reaches `$retention`, that the
chain and the read models verify after every run, and that an export of the retained log imports
elsewhere and verifies clean there (specs/lifecycle.md, "Retention"). On SQLite and PostgreSQL."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import invariant, rule, run_state_machine_as_test

from session_engine.engine import Engine, ManualClock, NewEvent, ReservedStream, SessionDeleted
from session_engine.engine.log import reads
from session_engine.engine.log.gaps import RETENTION_STREAM
from session_engine.engine.retention import RetentionPolicy
from tests.harness import EngineHarness, EngineMachine
from tests.records.helpers import record

NS = "tenant"
SIDS = st.sampled_from(["s1", "s2", "s3"])
DELETES = {"session_record_deleted", "session_expired"}


@dataclass
class Session:
    """What the model knows of one session."""

    version: int = 0
    first: int = 1
    """The first version still in the log."""
    deleted: bool = False
    record: bool = False
    value: Any = None
    last_at: datetime | None = None
    last_mark: tuple[int, str] | None = None
    """The version and type of its last deleting or recreating event."""
    keys: dict[str, tuple[int, int]] = field(default_factory=dict)
    """Idempotency key -> the versions its append landed at (kept after retention removes them)."""

    def recorded(self, now: datetime, *types: str) -> None:
        for event_type in types:
            self.version += 1
            if event_type in DELETES | {"session_record_set", "session_recreated"}:
                self.last_mark = (self.version, event_type)
        self.last_at = now


async def stream_version(engine: Engine, sid: str) -> int:
    return await engine.read(lambda c: reads.stream_version(c, NS, sid))


async def value_of(engine: Engine, sid: str) -> Any:
    stored = await engine.values.get(NS, sid, "k")
    return None if stored is None else stored.value


class RetentionMachine(EngineMachine):
    def __init__(self) -> None:
        self.clock = ManualClock()
        super().__init__(durability="off", clock=self.clock)
        self.sessions: dict[str, Session] = {}

    def session(self, sid: str) -> Session:
        return self.sessions.setdefault(sid, Session())

    @rule(sid=SIDS, value=st.integers(0, 3), recreate=st.booleans())
    def set_value(self, sid: str, value: int, recreate: bool) -> None:
        model, now = self.session(sid), self.clock.now()
        try:
            self.call(self.engine.values.set, NS, sid, "k", value, recreate=recreate)
        except SessionDeleted:
            assert model.deleted and not recreate
            return
        assert not model.deleted or recreate
        model.recorded(now, *(["session_recreated"] if model.deleted else []), "value_set")
        model.deleted, model.value = False, value

    @rule(sid=SIDS)
    def set_record(self, sid: str) -> None:
        model = self.session(sid)
        before = self.call(stream_version, self.engine, sid)
        self.call(self.engine.records.set, NS, sid, record(sid))
        if self.call(stream_version, self.engine, sid) > before:  # the same record again: no event
            model.recorded(self.clock.now(), "session_record_set")
        assert model.record or self.call(stream_version, self.engine, sid) > before
        model.deleted, model.record = False, True

    @rule(sid=SIDS)
    def delete_record(self, sid: str) -> None:
        model = self.session(sid)
        assert self.call(self.engine.records.delete, NS, sid) == model.record
        if model.record:
            model.recorded(self.clock.now(), "session_record_deleted")
            model.deleted, model.record = True, False

    @rule(days=st.integers(0, 4))
    def time_passes(self, days: int) -> None:
        self.clock.advance(days=days, seconds=1)

    @rule(
        idle=st.sampled_from([None, 2, 5]),
        closed=st.sampled_from([None, 1]),
        keep=st.sampled_from([None, 1, 3]),
    )
    def retain(self, idle: int | None, closed: int | None, keep: int | None) -> None:
        if idle is None and closed is None and keep is None:
            return
        now = self.clock.now()
        dropped = sorted(sid for sid, model in self.sessions.items() if self.drops(model, now, idle, closed))
        [report] = self.call(self.engine.retain, [RetentionPolicy(NS, idle, closed, keep)])
        assert report.dropped == dropped
        for sid in dropped:
            model = self.sessions[sid]
            model.recorded(now, "session_expired")
            model.first, model.deleted, model.record, model.value = model.version, True, False, None
        cuts = {}
        for sid, model in self.sessions.items():
            through = self.cut(model, keep) if sid not in dropped else None
            if through is not None:
                cuts[sid] = through
                model.first = through + 1
        assert report.truncated == cuts
        assert self.call(self.engine.verify_chain).ok
        assert self.call(self.engine.verify) == []
        for sid, model in self.sessions.items():  # time travel reaches the last event of each
            if model.version:
                state = self.call(self.engine.state_as_of, NS, sid, version=model.version)
                assert state.version == model.version

    @staticmethod
    def drops(model: Session, now: datetime, idle: int | None, closed: int | None) -> bool:
        if (
            model.version == 0
            or model.last_at is None
            or model.last_mark == (model.version, "session_expired")
        ):
            return False
        if idle is not None and model.last_at < now - timedelta(days=idle):
            return True
        return closed is not None and model.deleted and model.last_at < now - timedelta(days=closed)

    @staticmethod
    def cut(model: Session, keep: int | None) -> int | None:
        if keep is None or model.version - model.first + 1 <= keep:
            return None
        through = model.version - keep
        if model.last_mark is not None and model.last_mark[1] in DELETES:
            through = min(through, model.last_mark[0] - 1)
        return through if through >= model.first else None

    @rule(sid=SIDS, key=st.sampled_from(["a", "b"]), size=st.integers(1, 2), recreate=st.booleans())
    def keyed_append(self, sid: str, key: str, size: int, recreate: bool) -> None:
        model, now = self.session(sid), self.clock.now()
        notes = [NewEvent("noted", {"n": n}) for n in range(size)]
        try:
            done = self.call(self.engine.append, NS, sid, notes, idempotency_key=key, recreate=recreate)
        except SessionDeleted:
            assert model.deleted and not recreate and key not in model.keys
            return
        if key in model.keys:  # a retry: the first outcome, nothing recorded
            assert done.repeated and (done.first_version, done.last_version) == model.keys[key]
            return
        assert not done.repeated and (not model.deleted or recreate)
        model.recorded(now, *(["session_recreated"] if model.deleted else []), *["noted"] * size)
        model.keys[key] = (done.first_version, done.last_version)
        assert done.last_version == model.version
        model.deleted = False

    @rule()
    def no_client_writes_the_retention_stream(self) -> None:
        head = self.call(self.engine.head)
        try:
            self.call(self.engine.append, NS, RETENTION_STREAM, [NewEvent("retention_run", {"removed": []})])
        except ReservedStream:
            pass
        else:
            raise AssertionError("a client wrote to $retention")
        assert self.call(self.engine.head) == head

    @rule()
    def an_export_imports_clean_elsewhere(self) -> None:
        out = io.BytesIO()
        self.call(self.engine.export, out)
        target = self.make(durability="off", clock=self.clock)
        try:
            imported = target.start()
            self.call(imported.import_, out.getvalue().splitlines())
            assert self.call(imported.verify_chain).ok
            assert self.call(imported.verify) == []
            for sid, model in self.sessions.items():
                assert self.call(value_of, imported, sid) == model.value
                versions = [e.version for e in self.call(imported.read_stream, NS, sid)]
                assert versions == list(range(model.first, model.version + 1))
        finally:
            target.stop()

    @rule()
    def restart(self) -> None:
        self.engine = self.harness.restart()

    @invariant()
    def sessions_match(self) -> None:
        for sid, model in self.sessions.items():
            assert self.call(value_of, self.engine, sid) == model.value
            versions = [e.version for e in self.call(self.engine.read_stream, NS, sid)]
            assert versions == list(range(model.first, model.version + 1))
            assert (self.call(self.engine.records.get, NS, sid) is not None) == model.record


def test_retention_runs_against_a_model(harness: Callable[..., EngineHarness]) -> None:
    class Machine(RetentionMachine):
        make = staticmethod(harness)

    # A third of the profile's examples: every run verifies the chain and the read models.
    run_state_machine_as_test(Machine, settings=settings(max_examples=max(5, settings().max_examples // 3)))
