"""The base of every wire machine: a target, options and an optional clock, bound by `WireMachine.bind`."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import ClassVar, Protocol

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, precondition

from session_engine.adapters.conformance.options import Options
from session_engine.adapters.conformance.wire import Target, Transcript


class SteppedClock(Protocol):
    def now(self) -> datetime: ...
    def advance(self, seconds: float = 0.0) -> datetime: ...


class WireMachine(RuleBasedStateMachine):
    target: ClassVar[Target]
    options: ClassVar[Options] = Options()
    clock: ClassVar[SteppedClock | None] = None
    last_log: ClassVar[Transcript | None] = None
    """The transcript of the example that ran last: after a failure, the shrunk one."""

    def __init__(self) -> None:
        super().__init__()
        self.log = Transcript()
        type(self).last_log = self.log
        self.token = uuid.uuid4().hex[:8]

    def now(self) -> datetime:
        return self.clock.now() if self.clock is not None else datetime.now(UTC)

    @classmethod
    def bind(
        cls, target: Target, options: Options | None = None, clock: SteppedClock | None = None
    ) -> type[WireMachine]:
        attributes = {"target": target, "options": options or Options(), "clock": clock, "last_log": None}
        return type(cls.__name__, (cls,), attributes)


TIMED = precondition(lambda self: self.clock is not None)
ADVANCES = st.sampled_from([1, 3600, 86400, 3 * 86400])
