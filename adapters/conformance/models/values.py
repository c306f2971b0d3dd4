"""The values domain (the websocket value cache and the Distri store underneath) as a plain model.

Written from the spec. A write returns None or the name of the error the server must refuse it with
(the engine's error class names: the engine's machines compare class names, the wire machines map
them to status codes). The clock is `now`, which the caller moves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

import orjson


class Policy(Protocol):
    """The limits a session kind runs under (the engine's `values.policy.Policy` has these fields)."""

    @property
    def strings_only(self) -> bool: ...
    @property
    def default_ttl(self) -> timedelta | None: ...
    @property
    def max_value_bytes(self) -> int | None: ...
    @property
    def max_total_bytes(self) -> int | None: ...
    @property
    def max_entries(self) -> int | None: ...


class Policies(Protocol):
    def of(self, kind: Literal["connection", "durable"]) -> Policy: ...


SessionConflict, SessionEnded, SessionNotFound = "SessionConflict", "SessionEnded", "SessionNotFound"
StoreOutOfEntries, StoreOutOfMemory = "StoreOutOfEntries", "StoreOutOfMemory"
ValidationFailed = "ValidationFailed"


@dataclass
class Entry:
    value: Any
    size: int
    expires_at: datetime | None
    created: int


@dataclass
class Session:
    kind: str
    status: str
    entries: dict[str, Entry] = field(default_factory=dict)
    touched: int | None = None
    touched_at: datetime | None = None


def size_of(value: Any) -> int:
    return len(value.encode()) if isinstance(value, str) else len(orjson.dumps(value))


class Model:
    def __init__(self, now: datetime, policies: Policies) -> None:
        self.now = now
        self.policies = policies
        self.sessions: dict[str, Session] = {}
        self.events = 0

    def _event(self) -> int:
        self.events += 1
        return self.events

    def _touch(self, session: Session) -> int:
        session.touched = self._event()
        session.touched_at = self.now
        return session.touched

    def live(self, sid: str) -> dict[str, Entry]:
        session = self.sessions.get(sid)
        if session is None:
            return {}
        return {k: e for k, e in session.entries.items() if e.expires_at is None or e.expires_at > self.now}

    def values(self, sid: str) -> dict[str, Any]:
        return {k: e.value for k, e in sorted(self.live(sid).items())}

    def listing(self) -> list[tuple[str, int, list[str], datetime | None]]:
        held = [(s.touched or 0, sid) for sid, s in self.sessions.items() if self.live(sid)]
        return [
            (sid, len(self.live(sid)), sorted(self.live(sid)), self.sessions[sid].touched_at)
            for _, sid in sorted(held, reverse=True)
        ]

    # -- writes: return the error type the engine must raise, or None --------------------------
    def set(
        self, sid: str, key: str, value: Any, ttl: float | None = None, expires_at: datetime | None = None
    ) -> str | None:
        session = self.sessions.get(sid)
        if session is not None and session.status == "ended":
            return SessionEnded
        kind = session.kind if session is not None else "durable"
        policy: Policy = self.policies.of("connection" if kind == "connection" else "durable")
        if policy.strings_only and not isinstance(value, str):
            return ValidationFailed
        if expires_at is None:
            if ttl is not None and ttl > 0:
                expires_at = self.now + timedelta(seconds=ttl)
            elif policy.default_ttl is not None:
                expires_at = self.now + policy.default_ttl
        size = size_of(value)
        live = self.live(sid)
        old = live.get(key)
        if policy.max_value_bytes is not None and size > policy.max_value_bytes:
            return StoreOutOfMemory
        total = sum(e.size for e in live.values()) - (old.size if old else 0) + size
        if policy.max_total_bytes is not None and total > policy.max_total_bytes:
            return StoreOutOfMemory
        if old is None and policy.max_entries is not None and len(live) + 1 > policy.max_entries:
            return StoreOutOfEntries
        if session is None:
            session = self.sessions[sid] = Session("durable", "active")
        position = self._touch(session)
        created = old.created if old is not None else position
        session.entries[key] = Entry(value, size, expires_at, created)
        return None

    def delete(self, sid: str, key: str) -> bool:
        if key not in self.live(sid):
            return False
        session = self.sessions[sid]
        del session.entries[key]
        self._touch(session)
        return True

    def clear(self, sid: str, prefix: str = "") -> int:
        session = self.sessions.get(sid)
        doomed = [k for k in session.entries if k.startswith(prefix)] if session else []
        if session is None or not doomed:
            return 0
        count = len([k for k in self.live(sid) if k.startswith(prefix)])
        for key in doomed:
            del session.entries[key]
        self._touch(session)
        return count

    def purge(self) -> int:
        """Expired rows go, one event per session that held any; nothing visible changes."""
        purged = 0
        for session in self.sessions.values():
            expired = [
                k for k, e in session.entries.items() if e.expires_at is not None and e.expires_at <= self.now
            ]
            for key in expired:
                del session.entries[key]
            if expired:
                self._event()
                purged += len(expired)
        return purged

    # -- connection-bound lifetime -------------------------------------------------------------
    def open(self, sid: str) -> str | None:
        session = self.sessions.get(sid)
        if session is not None:
            return SessionEnded if session.status == "ended" else SessionConflict
        self.sessions[sid] = Session("connection", "open")
        self._event()
        return None

    def lifetime(self, sid: str, action: str) -> str | None:
        session = self.sessions.get(sid)
        if session is None or session.kind != "connection":
            return SessionNotFound
        if session.status == "ended":
            return None if action == "end" else SessionEnded
        if action == "end":
            session.entries.clear()
            session.status = "ended"
            self._touch(session)
        elif action == "disconnect" and session.status == "open":
            session.status = "disconnected"
            self._event()
        elif action == "resume" and session.status == "disconnected":
            session.status = "open"
            self._event()
        return None
