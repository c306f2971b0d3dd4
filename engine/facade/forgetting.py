"""What the engine forgets on purpose: erasure of a session and retention runs
(`Engine.erase`, `Engine.retain`; specs/lifecycle.md).

Each is recorded in the log first, then carried out on the writer (engine/erasure.py,
engine/retention/run.py hold the SQL).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Connection

from session_engine.engine import erasure
from session_engine.engine.clock import as_utc
from session_engine.engine.erasure import Erasure, ErasureNotEnabled
from session_engine.engine.errors import NotFound, ValidationFailed
from session_engine.engine.facade.arguments import comparable
from session_engine.engine.inspect import kept
from session_engine.engine.log import reads
from session_engine.engine.log.records import Metadata, NewEvent
from session_engine.engine.log.sealing import SESSION_ERASED
from session_engine.engine.retention import RetentionPolicy, RetentionReport
from session_engine.engine.retention import run as retention_run
from session_engine.engine.values.queries import count_expired

if TYPE_CHECKING:
    from session_engine.engine.engine import Engine


async def erase(
    engine: Engine,
    namespace: str,
    session: str,
    *,
    reason: str | None,
    metadata: Metadata | Mapping[str, Any] | None,
) -> Erasure:
    """`Engine.erase`: record the erasure, destroy the keys and rows, scrub the files."""
    comparable(namespace, session)
    if namespace not in engine.encrypted_namespaces:
        raise ErasureNotEnabled(namespace)
    if reason is not None and not isinstance(reason, str):
        raise ValidationFailed("reason must be a string")
    metadata = Metadata.of(metadata)
    if await engine.read(lambda c: reads.stream_version(c, namespace, session)) == 0:
        raise NotFound(f"session {namespace}/{session} has no events")
    await engine.records.delete(namespace, session, metadata=metadata)
    appended = await engine.append(
        namespace,
        session,
        [NewEvent(SESSION_ERASED, {} if reason is None else {"reason": reason})],
        metadata=metadata,
    )
    now = as_utc(engine.clock.now())
    committer = engine._committer

    def destroy(connection: Connection) -> tuple[int, int]:
        done = erasure.destroy(connection, engine.backend, list(engine.projections), namespace, session, now)
        committer.forget_state()  # its cached cipher for the session is gone
        return done

    keys, rows = await committer.exclusive(destroy)
    await engine.drop_snapshots(namespace, session)  # they hold plaintext state
    kept.forget_all()  # so may the states this process keeps in memory
    await committer.exclusive(lambda c: engine.backend.scrub(c, erasure.TEXT_INDEXES), transaction=False)
    plain = await engine.read(lambda c: erasure.unsealed(c, namespace, session))
    return Erasure(namespace, session, appended.last_version, keys, rows, plain)


async def retain(
    engine: Engine, policies: Iterable[RetentionPolicy] | None, *, dry_run: bool
) -> list[RetentionReport]:
    """`Engine.retain`: each policy in turn (default: the engine's own)."""
    chosen = list(engine.retention if policies is None else policies)
    return [await _retain_one(engine, policy, dry_run) for policy in chosen]


async def _retain_one(engine: Engine, policy: RetentionPolicy, dry_run: bool) -> RetentionReport:
    if dry_run:
        now = as_utc(engine.clock.now())
        report = await engine.read(lambda c: retention_run.preview(c, policy, now))
        if policy.purge_expired:
            report.values_purged = await engine.read(lambda c: count_expired(c, policy.namespace, now))
        return report
    purged = 0
    if policy.purge_expired:
        while done := await engine.values.purge_expired(policy.namespace, metadata=retention_run.ACTOR):
            purged += done
    cuts = await engine.read(lambda c: retention_run.sessions_to_cut(c, policy))
    bases: dict[str, int] = {}
    for cut in cuts:  # off the lock: the events up to the cut never change
        with contextlib.suppress(NotFound):
            bases[cut.stream] = (
                await engine.take_snapshot(policy.namespace, cut.stream, cut.through)
            ).version
    projections = list(engine.projections)
    return await engine._committer.exclusive_unit(
        lambda unit: retention_run.run(unit, policy, projections, purged, bases)
    )
