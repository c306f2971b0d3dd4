"""The state machine shared by both policies: drive engine and model, compare after every step."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from hypothesis import settings
from hypothesis.stateful import invariant, rule
from sqlalchemy.engine import Connection

from session_engine.adapters.conformance.models.values import Model
from session_engine.engine import ManualClock
from session_engine.engine.log import reads
from session_engine.engine.values import queries
from session_engine.engine.values.parts import PART_PREFIX
from session_engine.engine.values.policy import Policies
from tests.harness import EngineMachine

NS = "tenant"


def machine_settings() -> settings:
    """Half the profile's examples: every example opens an engine on a fresh database."""
    return settings(settings.default, max_examples=max(5, settings.default.max_examples // 2))


VERIFY_EVERY = 15
"""`verify` rebuilds every projection into a scratch copy: costly, so not after every step (as-of is)."""


class ValuesMachine(EngineMachine):
    """Subclasses add rules; this class holds the engine, the model and the comparisons."""

    policies = Policies()

    def __init__(self) -> None:
        self.clock = ManualClock()
        # Durability off: these machines check semantics; fsyncs would only slow them down.
        super().__init__(clock=self.clock, durability="off")
        self.engine.values.policies = self.policies
        self.model = Model(self.clock.now(), self.policies)
        self.touched: str | None = None

    def expect(self, expected: str | None, function: Callable[..., Any], *args: Any, **kw: Any) -> None:
        """Run a write; it must fail exactly when (and how) the model says (the error's class name)."""
        try:
            self.call(function, *args, **kw)
        except Exception as error:  # noqa: BLE001 - compared with the model's verdict below
            classes = {kind.__name__ for kind in type(error).__mro__}
            assert expected is not None and expected in classes, f"engine raised {error!r}, model {expected}"
        else:
            assert expected is None, f"engine accepted, model expected {expected}"

    def advance(self, seconds: float) -> None:
        self.model.now = self.clock.advance(seconds)

    @rule()
    def purge_expired(self) -> None:
        assert self.call(self.engine.values.purge_expired, NS) == self.model.purge()

    # -- comparisons ---------------------------------------------------------------------------
    def probed(self) -> dict[str, list[str]]:
        """Keys read one by one: the touched session's, bar the bulk `fill` keys (get_all covers those)."""
        sid = self.touched
        if sid is None or sid not in self.model.sessions:
            return {}
        keys = [k for k in self.model.sessions[sid].entries if not k.startswith("f")]
        return {sid: [*keys, "f0", "f63"]}

    def snapshot(self, connection: Connection, now: datetime) -> dict[str, Any]:
        sids = sorted(self.model.sessions)
        return {
            "values": {sid: queries.get_all(connection, NS, sid, now) for sid in sids},
            "stored": {
                sid: {
                    key: (stored.value, stored.expires_at)
                    for key in keys
                    if (stored := queries.get_value(connection, NS, sid, key, now)) is not None
                }
                for sid, keys in self.probed().items()
            },
            "head": reads.head(connection),
            "listing": [
                (s.session_id, s.key_count, s.keys, s.updated_at)
                for s in queries.list_sessions(connection, NS, now, limit=1000)
            ],
        }

    @invariant()
    def engine_and_model_agree(self) -> None:
        now = self.clock.now()
        got = self.call(self.engine.read, lambda c: self.snapshot(c, now))
        sids = sorted(self.model.sessions)
        assert got["values"] == {sid: self.model.values(sid) for sid in sids}
        live = {sid: self.model.live(sid) for sid in sids}
        assert got["stored"] == {
            sid: {k: (live[sid][k].value, live[sid][k].expires_at) for k in keys if k in live[sid]}
            for sid, keys in self.probed().items()
        }
        assert got["listing"] == self.model.listing()
        assert got["head"] == self.model.events  # every change is one event, refusals none

    @invariant()
    def the_log_rebuilds_the_same_state(self) -> None:
        self.steps += 1
        if self.touched is not None:
            sid, now = self.touched, self.clock.now()
            state = self.call(self.engine.state_as_of, NS, sid, position=self.model.events or 1)
            live = {k: v.value for k, v in state.values.items() if v.expires_at is None or v.expires_at > now}
            parts = {k: v for k, v in state.user_parts.items() if v.expires_at is None or v.expires_at > now}
            assert live | {PART_PREFIX + k: v.value for k, v in parts.items()} == self.model.values(sid)
            assert [v.value for v in parts.values() if isinstance(v.value, dict)] == self.model_parts(sid)
        if self.steps % VERIFY_EVERY == 0:
            assert self.call(self.engine.verify) == []

    def model_parts(self, sid: str) -> list[Any]:
        live = self.model.live(sid)
        parts = sorted((e.created, e.value) for k, e in live.items() if k.startswith("__user_part_"))
        return [value for _, value in parts if isinstance(value, dict)]
