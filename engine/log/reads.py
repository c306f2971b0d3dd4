"""Reads of the event log. Plain functions on a connection; the Engine runs them off the event loop."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from session_engine.engine.backends import Backend, LogRow
from session_engine.engine.events import EventRegistry
from session_engine.engine.log.chain import GENESIS
from session_engine.engine.log.records import RecordedEvent, build_recorded
from session_engine.engine.log.schema import events
from session_engine.engine.log.sealing import ERASED, SEALED, StreamKeys
from session_engine.engine.log.stream_events import SealedOpener, stream_events


def head(connection: Connection) -> int:
    """The position of the last committed event (0 for an empty log)."""
    return int(connection.execute(sa.select(sa.func.max(events.c.position))).scalar() or 0)


_head_event = (
    sa.select(events.c.position, events.c.recorded_at, events.c.hash)
    .order_by(events.c.position.desc())
    .limit(1)
)


def head_event(connection: Connection) -> tuple[int, datetime | None, bytes]:
    """The head's position, recorded time and hash, in one read (0, None and the genesis hash for
    an empty log)."""
    row = connection.execute(_head_event).first()
    if row is None:
        return 0, None, GENESIS
    return int(row[0]), row[1], GENESIS if row[2] is None else bytes(row[2])


_stream_version = sa.select(sa.func.max(events.c.version)).where(
    events.c.namespace == sa.bindparam("namespace"), events.c.stream == sa.bindparam("stream")
)


def stream_version(connection: Connection, namespace: str, stream: str) -> int:
    value = connection.execute(_stream_version, {"namespace": namespace, "stream": stream}).scalar()
    return int(value or 0)


def read_stream(
    connection: Connection,
    backend: Backend,
    registry: EventRegistry,
    namespace: str,
    stream: str,
    *,
    from_version: int = 1,
    to_version: int | None = None,
    to_position: int | None = None,
    until: datetime | None = None,
    types: Iterable[str] | None = None,
    limit: int | None = None,
    descending: bool = False,
    alone: bool = False,
) -> list[RecordedEvent]:
    """One stream's events in version order, optionally cut off at a version, position or instant.
    `alone`: no other statement of the caller's must see the same state (`Backend.read_stream_rows`).

    Read on the driver (`Backend.read_stream_rows`): SQLAlchemy's row processing cost most of a
    session's read; the rows are made into events by `stream_events`."""
    rows = backend.read_stream_rows(
        connection,
        namespace,
        stream,
        from_version=from_version,
        to_version=to_version,
        to_position=to_position,
        until=until,
        types=None if types is None else list(types),
        limit=limit,
        descending=descending,
        alone=alone,
    )
    opener = SealedOpener(connection, backend, namespace, stream, rows)
    return stream_events(rows, registry, namespace, stream, opener)


def read_all(
    connection: Connection,
    backend: Backend,
    registry: EventRegistry,
    *,
    after: int = 0,
    limit: int = 1000,
    upto: int | None = None,
    namespace: str | None = None,
    stream: str | None = None,
    types: Iterable[str] | None = None,
) -> list[RecordedEvent]:
    """A page of the whole log in position order, strictly after `after`.

    Replays and subscriptions read the whole log through here, so its rows come from the driver
    (`Backend.read_log`): SQLAlchemy's result processing would cost more than the read.
    """
    wanted = None if types is None else list(types)
    if wanted is not None and not wanted:
        return []
    rows = backend.read_log(
        connection, after=after, limit=limit, upto=upto, namespace=namespace, stream=stream, types=wanted
    )
    return LogRows(rows, registry, connection).events()


class LogRows:
    """Driver rows of the log, decoded only as far as a reader asks.

    A replay reads every event once, but most projections handle a few event types and the streams
    catalog needs only the headers: payloads are decoded for the events that someone will look at.
    """

    __slots__ = ("_connection", "_instants", "_keys", "registry", "rows")

    def __init__(
        self, rows: Sequence[LogRow], registry: EventRegistry, connection: Connection | None = None
    ) -> None:
        self.rows = rows
        self.registry = registry
        self._instants: dict[Any, datetime] = {}
        self._connection = connection
        """Where the keys of sealed payloads are read, the first time the page holds one."""
        self._keys: StreamKeys | None = None

    def keys(self) -> StreamKeys:
        """The keys of the page's streams, read once (a page without sealed payloads reads none)."""
        if self._keys is None:
            if self._connection is None:
                raise RuntimeError("a page of sealed events was read without its connection")
            self._keys = StreamKeys.load(self._connection, {(row[1], row[2]) for row in self.rows})
        return self._keys

    def instant(self, stored: Any) -> datetime:
        """The aware instant of a row's `recorded_at` (events of one commit share theirs)."""
        instant = self._instants.get(stored)
        if instant is None:
            instant = stored
            if isinstance(stored, str):
                instant = datetime.fromisoformat(stored).replace(tzinfo=UTC)
            self._instants[stored] = instant
        return instant

    def events(self, types: Collection[str] | None = None, *, erased: bool = True) -> list[RecordedEvent]:
        """The page's events of these types (all when None), opened and upcast, in position order;
        without those of erased sessions when not `erased` (projections have nothing to apply).

        The loop runs once per event of every read and replay: `instant` and `is_sealed` are inlined
        and events are built by `build_recorded`."""
        versions = self.registry.versions
        upcast = self.registry.upcast
        loads = orjson.loads
        instants = self._instants
        build = build_recorded
        recorded: list[RecordedEvent] = []
        append = recorded.append
        for (
            position,
            namespace_,
            stream_,
            version,
            type_,
            schema_version,
            data,
            meta,
            at,
            sealed,
        ) in self.rows:
            if types is not None and type_ not in types:
                continue
            if sealed is not None:  # its `data` says only that (sealing.STORED_AS_BYTES)
                data = self.keys().open(namespace_, stream_, version, type_, data, sealed)
                if data is ERASED and not erased:
                    continue
            else:
                if type(data) is str or type(data) is bytes:
                    data = loads(data)
                if type(data) is dict and SEALED in data and len(data) == 1:  # sealed before 0015
                    data = self.keys().open(namespace_, stream_, version, type_, data)
                    if data is ERASED and not erased:
                        continue
            if type(meta) is str or type(meta) is bytes:
                meta = {} if meta == "{}" else loads(meta)
            if versions.get(type_, 1) > schema_version and data is not ERASED:
                schema_version, data = upcast(type_, schema_version, data)
            instant = instants.get(at)
            if instant is None:
                instant = self.instant(at)
            append(build(position, namespace_, stream_, version, type_, schema_version, data, meta, instant))
        return recorded


def read_page(
    connection: Connection,
    backend: Backend,
    registry: EventRegistry,
    *,
    after: int,
    upto: int,
    limit: int,
    types: Collection[str] | None = None,
    payloads: Collection[str] | None = None,
) -> LogRows:
    """Up to `limit` events in (after, upto] (of `types` only, unless None), in position order, with
    the data and metadata of `payloads` types only (all when None; the others read as None)."""
    if types is not None and not types:
        return LogRows([], registry)
    rows = backend.read_log_page(
        connection, after=after, upto=upto, limit=limit, types=types, payloads=payloads
    )
    return LogRows(rows, registry, connection)


_by_idempotency_key = sa.select(events.c.version, events.c.meta).where(
    events.c.namespace == sa.bindparam("namespace"),
    events.c.stream == sa.bindparam("stream"),
    events.c.idempotency_key == sa.bindparam("key"),
)


def find_idempotent(
    connection: Connection, backend: Backend, registry: EventRegistry, namespace: str, stream: str, key: str
) -> list[RecordedEvent] | None:
    """The events of the earlier append that carried this idempotency key, if any."""
    row = connection.execute(
        _by_idempotency_key, {"namespace": namespace, "stream": stream, "key": key}
    ).first()
    if row is None:
        return None
    version, meta = row
    size = int(meta.get("append_size", 1))
    return read_stream(
        connection, backend, registry, namespace, stream, from_version=version, to_version=version + size - 1
    )


def status(connection: Connection) -> dict[str, Any]:
    """A summary of the log: head, event and stream counts, first and last record times."""
    first = connection.execute(sa.select(events.c.recorded_at).order_by(events.c.position).limit(1)).scalar()
    position, last, head_hash = head_event(connection)
    streams = connection.execute(
        sa.select(sa.func.count()).select_from(
            sa.select(events.c.namespace, events.c.stream).distinct().subquery()
        )
    ).scalar()
    return {
        "head": position,
        "head_hash": head_hash.hex(),
        "events": int(connection.execute(sa.select(sa.func.count()).select_from(events)).scalar() or 0),
        "streams": int(streams or 0),
        "first_recorded_at": first.isoformat() if first else None,
        "last_recorded_at": last.isoformat() if last else None,
    }
