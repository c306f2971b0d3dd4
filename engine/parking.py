"""Parked sessions: connection-bound sessions whose client went away, kept for a while so that the
client can take its session back (resume it) through any process that shares the database.

A parked session is named by a bearer secret its client holds (a resume id). The database stores
only the secret's SHA-256, never the secret: a copy of the table resumes nothing. The rules:

- a session is parked once its `disconnect` is committed, so whoever claims it finds the session
  ready to resume and never waits for another process;
- a claim is one statement (DELETE ... RETURNING): of two processes claiming one secret, exactly one
  gets the session; a claim after the session's expiry gets nothing (the row stays for a reaper);
- a reap is one statement too, and takes only expired rows: a row is either claimed or reaped,
  once, whichever process asks;
- a process stopping takes back the sessions it parked (`take_parked_by`) to end them.

The rate window travels with the session (`recent_actions`), so a session's rate limit is one
across processes: at any instant a session is carried by at most one connection.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from session_engine.engine.clock import Clock, as_utc
from session_engine.engine.errors import ValidationFailed
from session_engine.engine.ids import check_id
from session_engine.engine.log.schema import Json, UtcDateTime, metadata

T = TypeVar("T")
Writer = Callable[[Callable[[Connection], T]], Awaitable[T]]
"""Runs a function on a connection (the engine's writer, between batches; or a read connection)."""

REAP_BATCH = 100
"""Rows one reap takes at most: a reaper asks again while it gets a full batch."""

parked_sessions = sa.Table(
    "parked_sessions",
    metadata,
    # SHA-256 of the resume id: the secret itself is never stored.
    sa.Column("secret_hash", sa.LargeBinary(32), primary_key=True),
    sa.Column("namespace", sa.String(200), nullable=False),
    sa.Column("session_id", sa.String(200), nullable=False),
    sa.Column("client_id", sa.String(200), nullable=True),
    # Whom the adapter opened the session for (a server's tenant name): a namespace may serve several.
    sa.Column("tenant", sa.String(200), nullable=False),
    # The instants (UNIX seconds) of the session's recent actions: its rate window.
    sa.Column("recent_actions", Json, nullable=False),
    # The process that parked it: on a graceful stop that process ends what it parked.
    sa.Column("parked_by", sa.String(64), nullable=False),
    sa.Column("parked_at", UtcDateTime, nullable=False),
    sa.Column("expires_at", UtcDateTime, nullable=False),
    sa.Index("ix_parked_sessions_expires_at", "expires_at"),
    sa.Index("ix_parked_sessions_parked_by", "parked_by"),
)
"""Not a read model: nothing in the log rebuilds it. The log records each session's `disconnect`,
`resume` and end; this table holds which secret may resume which disconnected session, until when."""


@dataclass(frozen=True)
class ParkedSession:
    """A session waiting for its client: enough to carry on with it on any process."""

    namespace: str
    session_id: str
    client_id: str | None
    tenant: str
    recent_actions: tuple[float, ...]
    parked_by: str
    expires_at: datetime


def secret_hash(secret: str) -> bytes:
    """What the table stores of a resume id (any string a client sends hashes; none is refused)."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).digest()


_COLUMNS = (
    parked_sessions.c.namespace,
    parked_sessions.c.session_id,
    parked_sessions.c.client_id,
    parked_sessions.c.tenant,
    parked_sessions.c.recent_actions,
    parked_sessions.c.parked_by,
    parked_sessions.c.expires_at,
)


def _parked(row: Any) -> ParkedSession:
    return ParkedSession(
        namespace=row.namespace,
        session_id=row.session_id,
        client_id=row.client_id,
        tenant=row.tenant,
        recent_actions=tuple(float(instant) for instant in row.recent_actions),
        parked_by=row.parked_by,
        expires_at=as_utc(row.expires_at),
    )


class ParkedSessions:
    """`engine.parking`: park, claim and reap parked sessions (each a short write transaction)."""

    def __init__(self, write: Writer[Any], read: Writer[Any], clock: Clock) -> None:
        self._write = write
        self._read = read
        self._clock = clock

    def _now(self) -> datetime:
        return as_utc(self._clock.now())

    async def park(
        self,
        secret: str,
        *,
        namespace: str,
        session_id: str,
        client_id: str | None,
        tenant: str,
        recent_actions: Sequence[float],
        parked_by: str,
        seconds: float,
    ) -> ParkedSession:
        """Park a session for `seconds` under `secret`. Call it once the session's `disconnect`
        has committed: from this call's return any process may claim it."""
        check_id("namespace", namespace)
        check_id("session id", session_id)
        if not isinstance(seconds, int | float) or isinstance(seconds, bool) or not 0 < seconds < 10**7:
            raise ValidationFailed("a parked session's window must be from 0 to 10,000,000 seconds")
        now = self._now()
        parked = ParkedSession(
            namespace=namespace,
            session_id=session_id,
            client_id=client_id,
            tenant=tenant,
            recent_actions=tuple(float(instant) for instant in recent_actions),
            parked_by=parked_by,
            expires_at=now + timedelta(seconds=seconds),
        )
        row = {
            "secret_hash": secret_hash(secret),
            "namespace": namespace,
            "session_id": session_id,
            "client_id": client_id,
            "tenant": tenant,
            "recent_actions": list(parked.recent_actions),
            "parked_by": parked_by,
            "parked_at": now,
            "expires_at": parked.expires_at,
        }
        await self._write(lambda connection: connection.execute(parked_sessions.insert(), row))
        return parked

    async def claim(self, secret: str) -> ParkedSession | None:
        """The session `secret` names, taken out of the table; None when there is none or its window
        has passed (an expired row is the reaper's, which ends its session)."""
        hashed, now = secret_hash(secret), self._now()
        statement = (
            parked_sessions.delete()
            .where(parked_sessions.c.secret_hash == hashed, parked_sessions.c.expires_at > now)
            .returning(*_COLUMNS)
        )

        def claim(connection: Connection) -> ParkedSession | None:
            row = connection.execute(statement).first()
            return None if row is None else _parked(row)

        result: ParkedSession | None = await self._write(claim)
        return result

    async def is_parked(self, secret: str) -> bool:
        """Whether `secret` names a parked session now (a read: no claim, no write)."""
        query = sa.select(parked_sessions.c.session_id).where(
            parked_sessions.c.secret_hash == secret_hash(secret), parked_sessions.c.expires_at > self._now()
        )
        return bool(await self._read(lambda connection: connection.execute(query).first() is not None))

    async def reap(self, limit: int = REAP_BATCH) -> list[ParkedSession]:
        """Take up to `limit` sessions whose window has passed out of the table, for the caller to
        end. Never a row another reaper or a claimer took: each row goes to one caller."""
        now = self._now()
        expired = (
            sa.select(parked_sessions.c.secret_hash)
            .where(parked_sessions.c.expires_at <= now)
            .order_by(parked_sessions.c.expires_at)
            .limit(limit)
        )
        statement = (
            parked_sessions.delete()
            .where(parked_sessions.c.secret_hash.in_(expired), parked_sessions.c.expires_at <= now)
            .returning(*_COLUMNS)
        )
        taken: list[ParkedSession] = await self._write(
            lambda connection: [_parked(row) for row in connection.execute(statement)]
        )
        return taken

    async def take_parked_by(self, parked_by: str) -> list[ParkedSession]:
        """Take every session `parked_by` parked, expired or not (a process stopping ends them)."""
        mine = parked_sessions.c.parked_by == parked_by
        statement = parked_sessions.delete().where(mine).returning(*_COLUMNS)
        taken: list[ParkedSession] = await self._write(
            lambda connection: [_parked(row) for row in connection.execute(statement)]
        )
        return taken

    async def count(self) -> int:
        """Sessions parked now, expired ones not yet reaped included."""
        query = sa.select(sa.func.count()).select_from(parked_sessions)
        return int(await self._read(lambda connection: connection.execute(query).scalar_one()))
