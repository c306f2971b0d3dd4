"""The table of detached sessions waiting, for a while, for their client to come back.

Connection-local bookkeeping (what the log also knows as `disconnect`/`resume`), held by the
process that served the connection. A resume id is a bearer secret: 32 random bytes, one use.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import anyio

from session_engine.adapters.config import Tenant
from session_engine.adapters.websocket.rate_limit import SlidingWindow


def new_resume_id() -> str:
    return secrets.token_urlsafe(32)


@dataclass(eq=False)
class SocketSession:
    """What a connection's session is, whichever connection currently carries it."""

    session_id: str
    rate: SlidingWindow
    tenant: Tenant | None = None
    client_id: str | None = None
    failed_initializations: int = 0
    detached: anyio.Event = field(default_factory=anyio.Event)
    """Set once the engine has recorded the disconnect (a quick reconnect waits for it)."""
    ended: bool = False

    @property
    def initialized(self) -> bool:
        return self.tenant is not None


@dataclass(frozen=True)
class Detached:
    state: SocketSession
    expires_at: float


class ResumptionTable:
    def __init__(self, window: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.window = window
        self._clock = clock
        self._detached: dict[str, Detached] = {}

    def __len__(self) -> int:
        return len(self._detached)

    def park(self, resume_id: str, state: SocketSession) -> None:
        self._detached[resume_id] = Detached(state, self._clock() + self.window)

    def claim(self, resume_id: str) -> SocketSession | None:
        """The parked session, removed from the table; None when unknown or expired."""
        entry = self._detached.pop(resume_id, None)
        if entry is None:
            return None
        if entry.expires_at <= self._clock():
            self._detached[resume_id] = entry  # the reaper ends it
            return None
        return entry.state

    def expired(self) -> list[SocketSession]:
        """Remove and return every session whose window has passed."""
        now = self._clock()
        gone = [key for key, entry in self._detached.items() if entry.expires_at <= now]
        return [self._detached.pop(key).state for key in gone]

    def drain(self) -> list[SocketSession]:
        states = [entry.state for entry in self._detached.values()]
        self._detached.clear()
        return states
