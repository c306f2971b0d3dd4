"""Snapshots: one session's read models as of a version, stored so time travel need not refold.

A snapshot is the as-of read models' SQLite image (`SessionAsOf.dump`), compressed, plus (for a
point someone asked for) the typed state read off it. It is derived data keyed by a fingerprint of
the projections' code and schema: a row written by other code is never served as a cache. A pinned
snapshot is a retention base: once the events up to its version are deleted it is the only source
of the session's state there, so it is kept, and used while the projections keep its `shape` (names,
versions, tables) even if their code changed - the rule the live read models follow too.
specs/audit.md, "Snapshots", has the decisions.
"""

from __future__ import annotations

import hashlib
import inspect
import sys
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from session_engine.engine.backends import Backend, Prepared
from session_engine.engine.log.schema import events, snapshots
from session_engine.engine.projections.asof import Base, schema_sql
from session_engine.engine.projections.base import Projection

GRID = 128
"""A fold that crosses a multiple of this version leaves a snapshot there: any later point is then
at most this many events past one."""
MAX_PER_SESSION = 1024
"""Cached (unpinned) snapshots a session keeps; past it (or past `MAX_BYTES`) every second one goes."""
MAX_BYTES = 64 * 1024 * 1024
"""Stored bytes a session's cached snapshots may take."""
_LAST_VERSION = 2**31 - 1
_LAST_POSITION = 2**63 - 1
MAX_IMAGE_BYTES = 32 * 1024 * 1024
"""A session whose read models are larger than this is not snapshotted (the fold is the cost then)."""


@dataclass(frozen=True)
class Fingerprint:
    """What made a snapshot: `code` covers `shape` plus the source of the projections' packages."""

    code: str
    shape: str


_fingerprints: dict[tuple[int, ...], Fingerprint] = {}


def fingerprint(projections: Sequence[Projection]) -> Fingerprint:
    """The projections' fingerprint, computed once per process and set of projections."""
    key = tuple(id(p) for p in projections)
    found = _fingerprints.get(key)
    if found is None:
        shape = hashlib.sha256()
        for projection in projections:
            _field(shape, f"{projection.name}\x00{projection.version}".encode())
        for sql in schema_sql(list(projections)):
            _field(shape, sql.encode())
        code = hashlib.sha256(shape.digest())
        for path in sorted(_source_files(projections)):
            _field(code, str(path.name).encode())
            _field(code, path.read_bytes())
        found = _fingerprints[key] = Fingerprint(code.hexdigest(), shape.hexdigest())
    return found


def _field(digest: Any, data: bytes) -> None:
    digest.update(len(data).to_bytes(8, "big"))
    digest.update(data)


def _source_files(projections: Iterable[Projection]) -> set[Path]:
    """Every source file of the packages that define the projections, their base classes and their
    handlers: a change to any helper a handler calls inside its domain changes the fingerprint."""
    modules: set[str] = set()
    for projection in projections:
        modules.update(cls.__module__ for cls in type(projection).__mro__ if cls is not object)
        modules.update(getattr(h, "__module__", "") for h in projection.handlers)
    files: set[Path] = set()
    for name in modules:
        module = sys.modules.get(name)
        source = inspect.getsourcefile(module) if module is not None else None
        if source is None:
            continue
        path = Path(source)
        if "." in name and path.name != "__init__.py":
            files.update(path.parent.rglob("*.py"))  # the module's package: its helpers too
        else:
            files.add(path)
    return files


# -- rows -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Snapshot:
    """A stored snapshot: where it is, what made it, and its content."""

    namespace: str
    stream: str
    version: int
    position: int
    recorded_at: datetime
    fingerprint: str
    shape: str
    event_hash: bytes
    pinned: bool
    tables: bytes
    state: bytes | None
    digest: bytes

    @property
    def base(self) -> Base:
        return Base(self.version, self.position, self.recorded_at, zlib.decompress(self.tables))

    def expected_digest(self) -> bytes:
        return digest_of(
            self.namespace,
            self.stream,
            self.fingerprint,
            self.version,
            self.position,
            self.event_hash,
            self.tables,
            self.state,
        )


def digest_of(
    namespace: str,
    stream: str,
    fingerprint: str,
    version: int,
    position: int,
    event_hash: bytes,
    tables: bytes,
    state: bytes | None,
) -> bytes:
    """SHA-256 over a snapshot's identity and content, each part length-prefixed: a stored row whose
    bytes were damaged no longer matches it."""
    digest = hashlib.sha256()
    for part in (namespace.encode(), stream.encode(), fingerprint.encode()):
        _field(digest, part)
    _field(digest, version.to_bytes(8, "big", signed=True) + position.to_bytes(8, "big", signed=True))
    for part in (event_hash, tables, state if state is not None else b""):
        _field(digest, part)
    _field(digest, b"1" if state is not None else b"0")
    return digest.digest()


@dataclass(frozen=True)
class SnapshotInfo:
    """A snapshot as `Engine.take_snapshot` answers it: the session, the version it holds, whether
    it is pinned (a retention base, kept until dropped)."""

    namespace: str
    session: str
    version: int
    position: int
    recorded_at: datetime
    pinned: bool


@dataclass(frozen=True)
class Taken:
    """A snapshot to store: the image of a fold after `version` (and its typed state, if read)."""

    version: int
    position: int
    recorded_at: datetime
    image: bytes
    state: bytes | None = None


_c = snapshots.c
_COLUMNS = (
    _c.namespace,
    _c.stream,
    _c.version,
    _c.position,
    _c.recorded_at,
    _c.fingerprint,
    _c.shape,
    _c.event_hash,
    _c.pinned,
    _c.tables,
    _c.state,
    _c.digest,
)


def _snapshot(row: Sequence[Any]) -> Snapshot:
    ns, stream, version, position, at, fp, shape, event_hash, pinned, tables, state, digest = row
    return Snapshot(
        ns,
        stream,
        int(version),
        int(position),
        at,
        fp,
        shape,
        bytes(event_hash),
        bool(pinned),
        bytes(tables),
        None if state is None else bytes(state),
        bytes(digest),
    )


_FAR = datetime(9999, 12, 31, tzinfo=UTC)
_find = Prepared(
    sa.select(*_COLUMNS)
    .where(
        _c.namespace == sa.bindparam("ns"),
        _c.stream == sa.bindparam("stream"),
        _c.fingerprint == sa.bindparam("fp"),
        _c.version >= sa.bindparam("at_least"),
        _c.version <= sa.bindparam("to_version"),
        _c.position <= sa.bindparam("to_position"),
        _c.recorded_at <= sa.bindparam("until", type_=_c.recorded_at.type),
    )
    .order_by(_c.version.desc())
    .limit(1)
)


def find(
    connection: Connection,
    backend: Backend,
    namespace: str,
    stream: str,
    fingerprint: str,
    *,
    to_version: int | None = None,
    to_position: int | None = None,
    until: datetime | None = None,
    at_least: int = 0,
) -> Snapshot | None:
    """The newest snapshot written by these projections within the cut-off (and at `at_least` or
    later). On the driver: it is most of a repeated `state_as_of`."""
    rows = backend.rows(
        connection,
        _find,
        {
            "ns": namespace,
            "stream": stream,
            "fp": fingerprint,
            "at_least": at_least,
            "to_version": _LAST_VERSION if to_version is None else to_version,
            "to_position": _LAST_POSITION if to_position is None else to_position,
            "until": _FAR if until is None else until,
        },
    )
    return _snapshot(rows[0]) if rows else None


def stored(connection: Connection, namespace: str, stream: str) -> list[Snapshot]:
    """Every snapshot of a session, whatever wrote it, in version order."""
    query = sa.select(*_COLUMNS).where(_c.namespace == namespace, _c.stream == stream)
    return [_snapshot(row) for row in connection.execute(query.order_by(_c.version, _c.fingerprint))]


def pinned_versions(connection: Connection, namespace: str, stream: str) -> list[int]:
    query = sa.select(_c.version).where(_c.namespace == namespace, _c.stream == stream, _c.pinned != 0)
    return sorted({int(v) for v in connection.execute(query).scalars()})


def pinned_base(
    connection: Connection, namespace: str, stream: str, shape: str, version: int
) -> Snapshot | None:
    """The pinned snapshot at `version` whose projections had this shape (any code)."""
    query = sa.select(*_COLUMNS).where(
        _c.namespace == namespace,
        _c.stream == stream,
        _c.version == version,
        _c.pinned != 0,
        _c.shape == shape,
    )
    row = connection.execute(query.limit(1)).first()
    return None if row is None else _snapshot(row)


def sessions(connection: Connection) -> list[tuple[str, str]]:
    """Every session that has a snapshot."""
    query = sa.select(_c.namespace, _c.stream).distinct().order_by(_c.namespace, _c.stream)
    return [(ns, stream) for ns, stream in connection.execute(query)]


def save(
    connection: Connection,
    namespace: str,
    stream: str,
    projections: Sequence[Projection],
    taken: Sequence[Taken],
    *,
    pinned: bool = False,
    now: datetime,
) -> list[int]:
    """Store snapshots of a session (in the caller's transaction); the versions stored.

    A snapshot is stored only while the event at its version is in the log, and it records that
    event's chain hash. A pinned one replaces a cached one at its version. The session's cached
    snapshots written by other code go; past the budget, every second cached one goes."""
    if not taken:
        return []
    fp = fingerprint(projections)
    key = {"ns": namespace, "stream": stream}
    versions = [t.version for t in taken]
    hashes = dict(connection.execute(_hashes, {**key, "versions": versions}).all())
    done: list[int] = []
    for one in taken:
        event_hash = hashes.get(one.version)
        if event_hash is None or len(one.image) > MAX_IMAGE_BYTES:
            continue
        here = {**key, "fp": fp.code, "version": one.version}
        existing = connection.execute(_existing, here).first()
        if existing is not None:
            if existing[0] or not pinned:
                continue  # the same fold of the same events: nothing new to store
            connection.execute(_delete_one, here)
        tables = zlib.compress(one.image, 1)
        state = None if one.state is None else zlib.compress(one.state, 1)
        digest = digest_of(
            namespace, stream, fp.code, one.version, one.position, bytes(event_hash), tables, state
        )
        row = {
            "namespace": namespace,
            "stream": stream,
            "fingerprint": fp.code,
            "version": one.version,
            "shape": fp.shape,
            "position": one.position,
            "recorded_at": one.recorded_at,
            "event_hash": bytes(event_hash),
            "pinned": 1 if pinned else 0,
            "tables": tables,
            "state": state,
            "digest": digest,
            "created_at": now,
        }
        connection.execute(_insert, row)  # bound, not `.values()`: its cache key walked the blobs
        done.append(one.version)
    connection.execute(_delete_of_other_code, {**key, "fp": fp.code})
    _keep_to_budget(connection, namespace, stream)
    return done


# Built once with bound parameters: building them per call cost SQLAlchemy a cache key each time.
_session = (_c.namespace == sa.bindparam("ns"), _c.stream == sa.bindparam("stream"))
_at = (*_session, _c.fingerprint == sa.bindparam("fp"), _c.version == sa.bindparam("version"))
_hashes = sa.select(events.c.version, events.c.hash).where(
    events.c.namespace == sa.bindparam("ns"),
    events.c.stream == sa.bindparam("stream"),
    events.c.version.in_(sa.bindparam("versions", expanding=True)),
)
_existing = sa.select(_c.pinned).where(*_at)
_delete_one = snapshots.delete().where(*_at)
_delete_of_other_code = snapshots.delete().where(
    *_session, _c.fingerprint != sa.bindparam("fp"), _c.pinned == 0
)
_insert = snapshots.insert()
_size = sa.func.length(_c.tables) + sa.func.coalesce(sa.func.length(_c.state), 0)
_cached = (_c.namespace == sa.bindparam("ns"), _c.stream == sa.bindparam("stream"), _c.pinned == 0)
_budget = sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(_size), 0)).where(*_cached)
_each_cached = sa.select(_c.fingerprint, _c.version).where(*_cached).order_by(_c.version)


def _keep_to_budget(connection: Connection, namespace: str, stream: str) -> None:
    key = {"ns": namespace, "stream": stream}
    count, size = connection.execute(_budget, key).one()
    if int(count) <= MAX_PER_SESSION and int(size) <= MAX_BYTES:
        return
    cached = connection.execute(_each_cached, key).all()
    for fp, version in cached[1::2]:  # thin out evenly: the spacing doubles
        connection.execute(
            snapshots.delete().where(
                _c.namespace == namespace, _c.stream == stream, _c.fingerprint == fp, _c.version == version
            )
        )


def drop(connection: Connection, namespace: str, stream: str) -> int:
    """Delete every snapshot of a session, pinned ones included (erasure). Returns how many."""
    deleted = connection.execute(snapshots.delete().where(_c.namespace == namespace, _c.stream == stream))
    return int(deleted.rowcount or 0)
