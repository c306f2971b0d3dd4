"""Erasing a session: its key destroyed, its read-model rows gone, nothing left in the files.

`Engine.erase` records the act in the log (`session_erased`, a deleting event: the session stays
deleted), then runs `destroy` in one transaction on the writer connection and `Backend.scrub`
after it. Events keep their rows and the chain over them; their sealed payloads read as erased
from then on (engine/log/sealing.py). specs/lifecycle.md "Verifiable erasure".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from session_engine.engine.backends import Backend
from session_engine.engine.errors import ValidationFailed
from session_engine.engine.log.schema import events, session_keys
from session_engine.engine.log.sealing import SEALED_PREFIX, SESSION_ERASED
from session_engine.engine.projections.base import Projection, ProjectionContext
from session_engine.engine.records.tables import TITLE_FTS

TEXT_INDEXES = (TITLE_FTS,)
"""Full-text indexes that keep deleted tokens until merged (SQLite's FTS5; `Backend.scrub`)."""


class ErasureNotEnabled(ValidationFailed):
    """The namespace does not seal its payloads, so its events cannot be erased (Option B, rewriting
    stored events, is refused: specs/lifecycle.md)."""

    code = "erasure_not_enabled"

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        super().__init__(
            f"namespace {namespace!r} does not encrypt its sessions, so they cannot be erased; enable"
            f" it with `encrypt = true` on the tenant with namespace = {namespace!r} in the server"
            " config (`session-engine erase --config FILE`; Engine.open(encrypted_namespaces=...));"
            " it seals what is written from then on"
        )


@dataclass(frozen=True, slots=True)
class Erasure:
    """What an erasure did."""

    namespace: str
    session: str
    version: int
    """The version of its `session_erased` event."""
    keys_destroyed: int
    rows_removed: int
    unsealed_events: int = 0
    """Events of the session stored unencrypted (before the namespace encrypted, or by a process
    not configured to): their payloads stay readable, no erasure reaches them. 0 for a complete
    erasure."""


def unsealed(connection: Connection, namespace: str, session: str) -> int:
    """How many of the session's events hold a payload that is not sealed (`Erasure.unsealed_events`)."""
    return int(
        connection.execute(
            sa.select(sa.func.count()).where(
                events.c.namespace == namespace,
                events.c.stream == session,
                events.c.type != SESSION_ERASED,
                sa.not_(sa.cast(events.c.data, sa.Text).startswith(SEALED_PREFIX.decode(), autoescape=True)),
            )
        ).scalar()
        or 0
    )


def destroy(
    connection: Connection,
    backend: Backend,
    projections: Iterable[Projection],
    namespace: str,
    session: str,
    now: datetime,
) -> tuple[int, int]:
    """Destroy the session's keys and delete its read-model rows; (keys destroyed, rows removed).
    The rows are what each projection's `forget_session` says the session left, the rule
    retention follows too: one place per projection decides it, a new table included. A projection
    built from headers alone (`headers_only`: the streams catalog) keeps its rows: the events stay
    with their headers clear, and a rebuild makes those rows again from them."""
    keys = connection.execute(
        sa.update(session_keys)
        .where(
            session_keys.c.namespace == namespace,
            session_keys.c.stream == session,
            session_keys.c.key.is_not(None),
        )
        .values(key=None, erased_at=now)
    ).rowcount
    context = ProjectionContext(connection, backend)
    rows = sum(
        projection.forget_session(context, namespace, session).rows
        for projection in projections
        if not projection.headers_only
    )
    context.flush()
    return keys, rows
