"""The table of detached sessions waiting, for a while, for their client to come back.

Connection-local bookkeeping (what the log also knows as `disconnect`/`resume`), held by the
process that served the connection. A resume id is a bearer secret, one use: 43 url-safe
characters, the issuing table's 8-character tag then 26 random bytes, so that a resume id brought
to another process is told apart from an unknown one (specs/operations.md says why the parked
session is not shared).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import anyio

from session_engine.adapters.config import Tenant
from session_engine.adapters.websocket.rate_limit import SlidingWindow

ISSUER_LENGTH = 8


def new_issuer() -> str:
    return secrets.token_urlsafe(6)  # 8 characters


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
        self.issuer = new_issuer()
        """This table's (this process's) tag, the first characters of every id it issues."""

    def new_id(self) -> str:
        """A fresh resume id (43 characters), tagged as this table's."""
        return self.issuer + secrets.token_urlsafe(26)

    def issued_elsewhere(self, resume_id: str) -> bool:
        """An id of another table's form and tag: another server process's, one from before a
        restart, or made up (which cannot be told apart)."""
        return len(resume_id) == ISSUER_LENGTH + 35 and not resume_id.startswith(self.issuer)

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
