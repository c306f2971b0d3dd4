"""One retention run over one namespace: find what the policy removes, remove it, and record it.

It runs as one write transaction under the log lock (`Committer.exclusive_unit`), between write
batches: writers wait for it, never interleave with it, and a session written to meanwhile is
judged by its last event as committed before the run. What it records:
- in each dropped session's stream, `session_expired` (a deleting event: the session stays
  deleted, and a late write needs `recreate`), the only event left there;
- in the namespace's `$retention` stream, one `retention_run` listing the counts, the sessions,
  every removed range of log positions with the chain hash of its last event, which is what lets
  `verify` walk the chain across the gaps (engine/log/gaps.py), and the idempotency keys of the
  removed appends, also kept in `removed_keys` (engine/log/removed_keys.py), and the digest of each
  shortened session's retention base, so the base travels in an export vouched for by the chain.
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
from session_engine.engine.log import removed_keys
from session_engine.engine.log.gaps import RETENTION_RUN, RETENTION_STREAM, encode_ranges, ranges_of
from session_engine.engine.log.records import ANY, Metadata, NewEvent
from session_engine.engine.log.schema import events
from session_engine.engine.log.schema import snapshots as snapshot_rows
from session_engine.engine.projections import snapshots
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


@dataclass(frozen=True)
class Cut:
    """A session `keep_last` shortens: its events up to `through` go, a pinned snapshot there stays."""

    stream: str
    through: int


def sessions_to_cut(connection: Connection, policy: RetentionPolicy) -> list[Cut]:
    """The namespace's sessions holding more than `keep_last` events, each with the last version to
    remove. A deleted session keeps its deleting event (with no mark left the log would read it as
    alive; a recreating mark may go: none left reads the same), and the `$retention` stream is
    kept whole (its events vouch for the removed ranges)."""
    keep = policy.keep_last
    if keep is None:
        return []
    query = (
        sa.select(_e.stream, sa.func.min(_e.version), sa.func.max(_e.version))
        .where(_e.namespace == policy.namespace, _e.stream != RETENTION_STREAM)
        .group_by(_e.stream)
        .having(sa.func.count() > keep)
        .order_by(_e.stream)
    )
    found: list[Cut] = []
    for stream, first, last in connection.execute(query).all():
        through = int(last) - keep
        mark = connection.execute(
            sa.select(_e.version, _e.type)
            .where(_e.namespace == policy.namespace, _e.stream == stream, _e.type.in_(_MARKS))
            .order_by(_e.version.desc())
            .limit(1)
        ).first()
        if mark is not None and mark[1] in lifecycle.DELETES:
            through = min(through, int(mark[0]) - 1)  # the delete stays: the session stays deleted
        if through >= int(first):
            found.append(Cut(stream, through))
    return found


_MARKS = sorted(lifecycle.DELETES | lifecycle.RECREATES)


def _cutoff(now: datetime, days: float | None) -> datetime | None:
    return None if days is None else now - timedelta(days=days)


def _removed_rows(
    connection: Connection, namespace: str, stream: str, through: int | None = None
) -> list[tuple[int, bytes]]:
    query = sa.select(_e.position, _e.hash).where(_e.namespace == namespace, _e.stream == stream)
    if through is not None:
        query = query.where(_e.version <= through)
    return [(int(position), bytes(digest)) for position, digest in connection.execute(query).all()]


def preview(connection: Connection, policy: RetentionPolicy, now: datetime) -> RetentionReport:
    """What a run would remove now, removing nothing (`retain(dry_run=True)`)."""
    report = RetentionReport(policy.namespace, dry_run=True)
    removed: list[tuple[int, bytes]] = []
    dropped = sessions_to_drop(connection, policy, now)
    for session in dropped:
        report.dropped.append(session.stream)
        removed.extend(_removed_rows(connection, policy.namespace, session.stream))
    for cut in sessions_to_cut(connection, policy):
        if cut.stream not in report.dropped:
            report.truncated[cut.stream] = cut.through
            removed.extend(_removed_rows(connection, policy.namespace, cut.stream, cut.through))
    report.events_removed = len(removed)
    report.ranges = [(first, last) for first, last, _ in ranges_of(removed)]
    return report


def run(
    unit: UnitOfWork,
    policy: RetentionPolicy,
    projections: Sequence[Projection],
    values_purged: int,
    bases: dict[str, int],
) -> RetentionReport:
    """Remove what the policy removes and record it (see the module's docstring). `bases`: the
    sessions `keep_last` shortens, each with the version of the pinned snapshot taken for it
    (`Engine.take_snapshot`, before the run); a session cut here only down to its snapshot."""
    namespace, connection = policy.namespace, unit.connection
    report = RetentionReport(namespace, values_purged=values_purged)
    removed: list[tuple[int, bytes]] = []
    keys: list[removed_keys.RemovedKey] = []
    based: list[list[Any]] = []
    for session in sessions_to_drop(connection, policy, unit.now):
        unit.stream_version(namespace, session.stream)  # known before its rows go: versions go on
        carried: dict[str, Any] = {}
        for projection in projections:
            carried.update(projection.forget_session(unit.projection, namespace, session.stream).carried)
        unit.projection.flush()
        removed.extend(_removed_rows(connection, namespace, session.stream))
        keys.extend(removed_keys.keyed_appends(connection, namespace, session.stream))
        connection.execute(events.delete().where(_e.namespace == namespace, _e.stream == session.stream))
        snapshots.drop(connection, namespace, session.stream)  # they hold its state: it goes too
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
    for cut in sessions_to_cut(connection, policy):
        through = min(cut.through, bases.get(cut.stream, 0))
        if cut.stream in report.dropped or through not in snapshots.pinned_versions(
            connection, namespace, cut.stream
        ):
            continue  # no snapshot holds its state there: nothing may go
        cut_rows = _removed_rows(connection, namespace, cut.stream, through)
        if not cut_rows:
            continue
        removed.extend(cut_rows)
        keys.extend(removed_keys.keyed_appends(connection, namespace, cut.stream, through))
        connection.execute(
            events.delete().where(_e.namespace == namespace, _e.stream == cut.stream, _e.version <= through)
        )
        # Older snapshots hold states no read can reach any more (`travel.plan` starts at the cut).
        connection.execute(
            snapshot_rows.delete().where(
                snapshot_rows.c.namespace == namespace,
                snapshot_rows.c.stream == cut.stream,
                snapshot_rows.c.version < through,
            )
        )
        report.truncated[cut.stream] = through
        based.extend(
            [cut.stream, through, bytes(digest).hex()]
            for digest in connection.execute(
                sa.select(snapshot_rows.c.digest).where(
                    snapshot_rows.c.namespace == namespace,
                    snapshot_rows.c.stream == cut.stream,
                    snapshot_rows.c.version == through,
                    snapshot_rows.c.pinned != 0,
                )
            ).scalars()
        )
    if not removed and not values_purged:
        return report
    removed_keys.remember(connection, namespace, keys)  # a retried write still answers its outcome
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
            "keys": [key.as_json() for key in keys],
            "bases": based,
        },
    )
    [recorded] = unit.record(_command(namespace, RETENTION_STREAM), [record], ANY, system=True)
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
