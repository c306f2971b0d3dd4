"""Verifying snapshots: each one that time travel may serve must equal the fold it stands for.

A snapshot is derived data, so it is checked by deriving it again: the session's events are folded
once (from nothing, or from its retention base when the log's front was deleted) and, at each
snapshot's version, the fold's read models and typed state are compared with the snapshot's. Every
row's digest is checked too, and the chain hash of the event it was taken after, while that event
is in the log. A retention base whose events are gone cannot be folded again: its digest is
checked against the one the `retention_run` that cut the session recorded (on the chain), where
the run recorded one.
"""

from __future__ import annotations

import sqlite3
import zlib
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from session_engine.engine.backends import Backend
from session_engine.engine.events import EventRegistry
from session_engine.engine.inspect.state import read_state
from session_engine.engine.inspect.travel import Fold, decode_state, horizon, restarts_at
from session_engine.engine.log import reads
from session_engine.engine.log.schema import events
from session_engine.engine.projections import snapshots
from session_engine.engine.projections.asof import SessionAsOf
from session_engine.engine.projections.base import Projection
from session_engine.engine.projections.snapshots import Snapshot
from session_engine.engine.retention.bases import recorded_digests


@dataclass(frozen=True)
class SnapshotProblem:
    namespace: str
    session: str
    version: int
    reason: str

    def describe(self) -> str:
        return f"snapshot {self.namespace}/{self.session} at version {self.version}: {self.reason}"


def check_all(
    connection: Connection, backend: Backend, registry: EventRegistry, projections: list[Projection]
) -> list[SnapshotProblem]:
    """Every problem with every session's snapshots."""
    found: list[SnapshotProblem] = []
    recorded = recorded_digests(connection)
    for namespace, stream in snapshots.sessions(connection):
        found += check_session(connection, backend, registry, projections, namespace, stream, recorded)
    return found


def check_session(
    connection: Connection,
    backend: Backend,
    registry: EventRegistry,
    projections: list[Projection],
    namespace: str,
    stream: str,
    recorded: dict[tuple[str, str, int], set[str]] | None = None,
) -> list[SnapshotProblem]:
    """`recorded`: the base digests the retention runs recorded (`recorded_digests`; read here
    when not given)."""
    fp = snapshots.fingerprint(projections)
    if recorded is None:
        recorded = recorded_digests(connection)
    stored = snapshots.stored(connection, namespace, stream)
    problems: list[SnapshotProblem] = []

    def problem(snapshot: Snapshot, reason: str) -> None:
        problems.append(SnapshotProblem(namespace, stream, snapshot.version, reason))

    hashes = dict(
        connection.execute(
            sa.select(events.c.version, events.c.hash).where(
                events.c.namespace == namespace,
                events.c.stream == stream,
                events.c.version.in_([s.version for s in stored]),
            )
        ).all()
    )
    sound: list[Snapshot] = []
    for snapshot in stored:
        event_hash = hashes.get(snapshot.version)
        if snapshot.digest != snapshot.expected_digest():
            problem(snapshot, "damaged: its digest does not match its content")
        elif event_hash is not None and bytes(event_hash) != snapshot.event_hash:
            problem(snapshot, "taken after another event than the log's at its version (hash differs)")
        elif (
            event_hash is None
            and snapshot.pinned
            and (namespace, stream, snapshot.version) in recorded
            and snapshot.digest.hex() not in recorded[(namespace, stream, snapshot.version)]
        ):
            problem(snapshot, "a retention base its retention run did not record (changed or made up)")
        else:
            sound.append(snapshot)
    cut = horizon(connection, backend, namespace, stream)
    base = next((s for s in sound if s.version == cut and s.pinned and s.shape == fp.shape), None)
    served = [s for s in sound if s.fingerprint == fp.code and s.version > cut]
    restarts = base is None and restarts_at(connection, backend, namespace, stream, cut)
    if not served or (cut > 0 and base is None and not restarts):
        return problems  # nothing time travel would serve from here
    fold = Fold(
        base if cut > 0 else None,
        reads.read_stream(
            connection,
            backend,
            registry,
            namespace,
            stream,
            from_version=cut + 1,
            to_version=served[-1].version,
        ),
        cut if restarts else 0,
    )
    with fold.open(namespace, stream, projections) as state:
        for snapshot in served:
            state.advance(fold.events[state.version - fold.start : snapshot.version - fold.start])
            if state.version != snapshot.version:
                problem(
                    snapshot, f"the log has no event at its version (the session ends at {state.version})"
                )
                continue
            try:
                reason = _compare(snapshot, state, projections)
            except (zlib.error, ValueError, sqlite3.DatabaseError, sa.exc.DBAPIError) as error:
                reason = f"unreadable: {type(error).__name__}: {error}"
            if reason is not None:
                problem(snapshot, reason)
    return problems


def _compare(snapshot: Snapshot, folded: SessionAsOf, projections: list[Projection]) -> str | None:
    """What differs between a snapshot and the fold at its version (None: nothing)."""
    with SessionAsOf(snapshot.namespace, snapshot.stream, [], projections, base=snapshot.base) as kept:
        tables, expected = kept.tables, folded.tables
    wrong = [name for name in expected if tables.get(name) != expected[name]]
    if wrong:
        return f"its read models differ from the fold's in {', '.join(wrong)}"
    as_of = snapshot.recorded_at
    if snapshot.state is not None and decode_state(snapshot.state, as_of) != read_state(folded, as_of):
        return "its kept state differs from the state read off the fold"
    return None
