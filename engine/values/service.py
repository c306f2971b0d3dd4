"""The values service: the public calls of the domain, `engine.values`.

Writes go through the engine's command path (group-committed, one event per change); reads run
the pure query functions on a read connection, judging expiry by the engine clock at call time.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
from sqlalchemy.engine import Connection

from session_engine.engine.clock import as_utc
from session_engine.engine.commands import Command
from session_engine.engine.errors import ValidationFailed
from session_engine.engine.ids import check_id
from session_engine.engine.log.records import NO_METADATA, Metadata
from session_engine.engine.values import commands, parts, queries
from session_engine.engine.values.policy import Policies
from session_engine.engine.values.queries import SessionSummary, StoredValue, ValueSession
from session_engine.engine.values.validation import check_key

if TYPE_CHECKING:
    from session_engine.engine.engine import Engine

T = TypeVar("T")
MAX_PAGE = 1000


class ValuesService:
    """Session values with TTLs, under a policy per kind of session (see `engine.values.policy`)."""

    def __init__(self, engine: Engine, policies: Policies | None = None) -> None:
        self._engine = engine
        self.policies = policies or Policies()

    def _now(self) -> datetime:
        return as_utc(self._engine.clock.now())

    async def _read(self, query: Callable[[Connection, datetime], T]) -> T:
        now = self._now()
        return await self._engine.read(lambda connection: query(connection, now))

    async def _lookup(self, query: Callable[[Connection, datetime], T]) -> T:
        """A point read by primary key (see `Engine.lookup`)."""
        now = self._now()
        return await self._engine.lookup(lambda connection: query(connection, now))

    async def _run(self, command: Command) -> Any:
        return (await self._engine.execute(command)).result

    # -- values ---------------------------------------------------------------------------------
    async def set(
        self,
        namespace: str,
        session_id: str,
        key: str,
        value: Any,
        *,
        ttl_seconds: float | None = None,
        expires_at: datetime | None = None,
        metadata: Metadata | None = None,
        recreate: bool = False,
    ) -> None:
        """Write a value under the session's policy. Raises StoreOutOfMemory / StoreOutOfEntries, and
        SessionDeleted when the session was deleted unless `recreate` (`specs/lifecycle.md`)."""
        await self._run(
            commands.SetValue(
                namespace=namespace,
                stream=session_id,
                key=key,
                value=value,
                ttl_seconds=ttl_seconds,
                expires_at=expires_at,
                policies=self.policies,
                metadata=metadata or NO_METADATA,
                recreate=recreate,
            )
        )

    async def get(self, namespace: str, session_id: str, key: str) -> StoredValue | None:
        """The live value, or None when it is missing or expired. Never extends a TTL."""
        _check_ids(namespace, session_id)
        check_key(key)
        return await self._lookup(lambda c, now: queries.get_value(c, namespace, session_id, key, now))

    async def get_all(self, namespace: str, session_id: str) -> dict[str, Any]:
        _check_ids(namespace, session_id)
        return await self._read(lambda c, now: queries.get_all(c, namespace, session_id, now))

    async def delete(
        self, namespace: str, session_id: str, key: str, *, metadata: Metadata | None = None
    ) -> bool:
        """True when a live value was deleted; False (and no event) when it was missing or expired."""
        command = commands.DeleteValue(
            namespace=namespace, stream=session_id, key=key, metadata=metadata or NO_METADATA
        )
        return bool(await self._run(command))

    async def clear(self, namespace: str, session_id: str, *, metadata: Metadata | None = None) -> None:
        await self._run(
            commands.ClearValues(namespace=namespace, stream=session_id, metadata=metadata or NO_METADATA)
        )

    async def list_sessions(
        self, namespace: str, *, limit: int = 50, offset: int = 0, session_id: str | None = None
    ) -> list[SessionSummary]:
        """Sessions holding live values, most recently changed first."""
        check_id("namespace", namespace)
        if session_id is not None:
            check_id("session id", session_id)
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
            raise ValidationFailed(f"limit must be an integer from 1 to {MAX_PAGE}")
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            raise ValidationFailed("offset must be a non-negative integer")
        return await self._read(
            lambda c, now: queries.list_sessions(
                c, namespace, now, limit=limit, offset=offset, session_id=session_id
            )
        )

    async def purge_expired(
        self, namespace: str | None = None, *, sessions: int = 1000, metadata: Metadata | None = None
    ) -> int:
        """Remove the rows of expired values (invisible already), one `values_expired` event per
        session, in up to `sessions` sessions (of `namespace`, or of every namespace). Returns how
        many values went: call it again while that is not 0. History keeps every value's events."""
        if namespace is not None:
            check_id("namespace", namespace)
        if isinstance(sessions, bool) or not isinstance(sessions, int) or not 1 <= sessions <= 10_000:
            raise ValidationFailed("sessions must be an integer from 1 to 10000")
        found = await self._read(lambda c, now: queries.sessions_with_expired(c, namespace, now, sessions))
        purged = 0

        async def purge(ns: str, sid: str) -> None:
            nonlocal purged
            command = commands.PurgeExpired(namespace=ns, stream=sid, metadata=metadata or NO_METADATA)
            count = int(await self._run(command))
            purged += count  # after the await: `purged += await ...` would read `purged` before it

        async with anyio.create_task_group() as tasks:  # concurrently: they share batches
            for ns, sid in found:
                tasks.start_soon(purge, ns, sid)
        return purged

    async def session(self, namespace: str, session_id: str) -> ValueSession | None:
        """The session's kind and lifetime status (None: it never held values nor was opened)."""
        _check_ids(namespace, session_id)
        return await self._engine.lookup(lambda c: queries.session_info(c, namespace, session_id))

    # -- connection-bound lifetime ----------------------------------------------------------------
    async def open_connection_session(
        self, namespace: str, session_id: str, *, client_id: str, metadata: Metadata | None = None
    ) -> None:
        await self._run(
            commands.OpenConnectionSession(
                namespace=namespace, stream=session_id, client_id=client_id, metadata=metadata or NO_METADATA
            )
        )

    async def disconnect(self, namespace: str, session_id: str, *, metadata: Metadata | None = None) -> None:
        """The connection dropped; values stay until `end_connection_session` (resumable)."""
        await self._run(
            commands.Disconnect(namespace=namespace, stream=session_id, metadata=metadata or NO_METADATA)
        )

    async def resume(self, namespace: str, session_id: str, *, metadata: Metadata | None = None) -> None:
        await self._run(
            commands.Resume(namespace=namespace, stream=session_id, metadata=metadata or NO_METADATA)
        )

    async def end_connection_session(
        self, namespace: str, session_id: str, *, reason: str, metadata: Metadata | None = None
    ) -> None:
        """The session is over: its values are gone, by an event. Ending twice is a no-op."""
        await self._run(
            commands.EndConnectionSession(
                namespace=namespace, stream=session_id, reason=reason, metadata=metadata or NO_METADATA
            )
        )

    # -- user parts -------------------------------------------------------------------------------
    # Every write takes `metadata` like `set`/`delete`: without it the event records no actor,
    # adapter or correlation id (specs/rest.md: every write records them).
    async def set_text_part(
        self, namespace: str, session_id: str, name: str, text: str, *, metadata: Metadata | None = None
    ) -> None:
        await self.set(namespace, session_id, parts.part_key(name), parts.text_part(text), metadata=metadata)

    async def set_image_part(
        self,
        namespace: str,
        session_id: str,
        name: str,
        *,
        bytes_b64: str | None = None,
        url: str | None = None,
        mime_type: str,
        filename: str | None = None,
        metadata: Metadata | None = None,
    ) -> None:
        value = parts.image_part(bytes_b64=bytes_b64, url=url, mime_type=mime_type, filename=filename)
        await self.set(namespace, session_id, parts.part_key(name), value, metadata=metadata)

    async def delete_part(
        self, namespace: str, session_id: str, name: str, *, metadata: Metadata | None = None
    ) -> bool:
        return await self.delete(namespace, session_id, parts.part_key(name), metadata=metadata)

    async def clear_parts(self, namespace: str, session_id: str, *, metadata: Metadata | None = None) -> int:
        """Remove every user part in one event. Returns how many live parts there were."""
        command = commands.ClearParts(
            namespace=namespace, stream=session_id, metadata=metadata or NO_METADATA
        )
        return int(await self._run(command))

    async def get_parts(self, namespace: str, session_id: str) -> list[dict[str, Any]]:
        """Live parts in creation order (an overwrite keeps its place; non-object values are skipped)."""
        _check_ids(namespace, session_id)
        return await self._read(lambda c, now: queries.get_parts(c, namespace, session_id, now))


def _check_ids(namespace: str, session_id: str) -> None:
    check_id("namespace", namespace)
    check_id("session id", session_id)
