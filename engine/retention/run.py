"""One retention run over one namespace: find what the policy removes, remove it, and record it.

It runs as one write transaction under the log lock (`Committer.exclusive_unit`), between write
batches: writers wait for it, never interleave with it, and a session written to meanwhile is
judged by its last event as committed before the run. What it records:
- in each dropped session's stream, `session_expired` (a deleting event: the session stays
  deleted, and a late write needs `recreate`), the only event left there;
- in the namespace's `$retention` stream, one `retention_run` listing the counts, the sessions and
  every removed range of log positions with the chain hash of its last event, which is what lets
  `verify` walk the chain across the gaps (engine/log/gaps.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from session_engine.engine import lifecycle
from session_engine.engine.commands import AppendEvents
from session_engine.engine.log.gaps import RETENTION_RUN, RETENTION_STREAM, encode_ranges, ranges_of
from session_engine.engine.log.records import ANY, Metadata, NewEvent
from session_engine.engine.log.schema import events
from session_engine.engine.projections.base import Projection
from session_engine.engine.retention.policy import RetentionPolicy, RetentionReport
from session_engine.engine.unit_of_work import UnitOfWork

ACTOR = Metadata(actor="retention")
"""Who the events a run records are by."""

_e = events.c


@dataclass(frozen=True)
class Dropped:
    """A session the policy removes whole: why, and its last version and activity."""

    stream: str
    version: int
    last_activity: datetime
    reason: str


def sessions_to_drop(connection: Connection, policy: RetentionPolicy, now: datetime) -> list[Dropped]:
    """The namespace's sessions idle longer than `max_idle_days`, or deleted and idle longer than
    `max_closed_days`; never one retention already dropped, never the `$retention` stream."""
    idle = _cutoff(now, policy.max_idle_days)
    closed = _cutoff(now, policy.max_closed_days)
    loosest = max((c for c in (idle, closed) if c is not None), default=None)
    if loosest is None:
        return []
    last_at = sa.func.max(_e.recorded_at)
    query = (
        sa.select(_e.stream, sa.func.max(_e.version), last_at)
        .where(_e.namespace == policy.namespace, _e.stream != RETENTION_STREAM)
        .group_by(_e.stream)
        .having(last_at < loosest)
        .order_by(_e.stream)
    )
    found: list[Dropped] = []
    for stream, version, last_activity in connection.execute(query).all():
        last_type = connection.execute(
            sa.select(_e.type).where(
                _e.namespace == policy.namespace, _e.stream == stream, _e.version == version
            )
        ).scalar()
        if last_type == lifecycle.SESSION_EXPIRED:
            continue  # dropped by an earlier run: only its marker is left
        if idle is not None and last_activity < idle:
            found.append(Dropped(stream, int(version), last_activity, "idle"))
        elif (
            closed is not None
            and last_activity < closed
            and lifecycle.is_deleted(connection, policy.namespace, stream)
        ):
            found.append(Dropped(stream, int(version), last_activity, "closed"))
    return found


def _cutoff(now: datetime, days: float | None) -> datetime | None:
    return None if days is None else now - timedelta(days=days)


def _removed_rows(connection: Connection, namespace: str, stream: str) -> list[tuple[int, bytes]]:
    rows = connection.execute(
        sa.select(_e.position, _e.hash).where(_e.namespace == namespace, _e.stream == stream)
    ).all()
    return [(int(position), bytes(digest)) for position, digest in rows]


def preview(connection: Connection, policy: RetentionPolicy, now: datetime) -> RetentionReport:
    """What a run would remove now, removing nothing (`retain(dry_run=True)`)."""
    report = RetentionReport(policy.namespace, dry_run=True)
    removed: list[tuple[int, bytes]] = []
    for session in sessions_to_drop(connection, policy, now):
        report.dropped.append(session.stream)
        removed.extend(_removed_rows(connection, policy.namespace, session.stream))
    report.events_removed = len(removed)
    report.ranges = [(first, last) for first, last, _ in ranges_of(removed)]
    return report


def run(
    unit: UnitOfWork, policy: RetentionPolicy, projections: Sequence[Projection], values_purged: int
) -> RetentionReport:
    """Remove what the policy removes and record it (see the module's docstring)."""
    namespace, connection = policy.namespace, unit.connection
    report = RetentionReport(namespace, values_purged=values_purged)
    removed: list[tuple[int, bytes]] = []
    for session in sessions_to_drop(connection, policy, unit.now):
        unit.stream_version(namespace, session.stream)  # known before its rows go: versions go on
        carried: dict[str, Any] = {}
        for projection in projections:
            carried.update(projection.forget_session(unit.projection, namespace, session.stream))
        unit.projection.flush()
        removed.extend(_removed_rows(connection, namespace, session.stream))
        connection.execute(events.delete().where(_e.namespace == namespace, _e.stream == session.stream))
        marker = NewEvent(
            lifecycle.SESSION_EXPIRED,
            {
                "reason": session.reason,
                "removed_through": session.version,
                "last_activity": session.last_activity.isoformat(),
                **carried,
            },
        )
        unit.record(_command(namespace, session.stream), [marker], ANY)
        report.dropped.append(session.stream)
    if not removed and not values_purged:
        return report
    ranges = ranges_of(removed)
    report.events_removed = len(removed)
    report.ranges = [(first, last) for first, last, _ in ranges]
    record = NewEvent(
        RETENTION_RUN,
        {
            "policy": _policy_json(policy),
            "dropped": report.dropped,
            "truncated": report.truncated,
            "events_removed": report.events_removed,
            "values_purged": values_purged,
            "removed": encode_ranges(ranges),
        },
    )
    [recorded] = unit.record(_command(namespace, RETENTION_STREAM), [record], ANY)
    report.recorded_at = recorded.position
    return report


def _command(namespace: str, stream: str) -> AppendEvents:
    return AppendEvents(namespace=namespace, stream=stream, events=[], metadata=ACTOR)


def _policy_json(policy: RetentionPolicy) -> dict[str, Any]:
    return {
        "max_idle_days": policy.max_idle_days,
        "max_closed_days": policy.max_closed_days,
        "keep_last": policy.keep_last,
        "purge_expired": policy.purge_expired,
    }
