"""One stream's rows (`StreamRow`) made into events: the loop every session read runs per event.

A stream's read knows its namespace and stream, so its rows leave them out, and the rare sealed
payload is opened by a `SealedOpener` that reads the keys and sealed bytes the first time one is met.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy.engine import Connection

from session_engine.engine.backends import Backend, StreamRow
from session_engine.engine.events import EventRegistry
from session_engine.engine.log.records import RecordedEvent, build_recorded
from session_engine.engine.log.schema import instant_from_stored
from session_engine.engine.log.sealing import ERASED, SEALED, StreamKeys


class SealedOpener:
    """Opens the sealed payloads of one stream's read, loading its keys once and, for payloads
    stored as bytes (since 0015), the bytes of the versions read.

    The bytes come from a second statement: a row deleted in between (retention) reads as erased.
    """

    __slots__ = ("_backend", "_connection", "_keys", "_namespace", "_payloads", "_rows", "_stream")

    def __init__(
        self, connection: Connection, backend: Backend, namespace: str, stream: str, rows: Sequence[StreamRow]
    ) -> None:
        self._connection = connection
        self._backend = backend
        self._namespace = namespace
        self._stream = stream
        self._rows = rows
        """The read's rows, in version order or reversed (the range whose sealed bytes are read)."""
        self._keys: StreamKeys | None = None
        self._payloads: dict[int, bytes] | None = None

    def open(self, version: int, type_: str, data: dict[str, Any]) -> Any:
        """The payload of a row whose `data` is only `{"$enc": ...}`, or `ERASED`."""
        if self._keys is None:
            self._keys = StreamKeys.load(self._connection, [(self._namespace, self._stream)])
        if data[SEALED] is not None:  # sealed before 0015: the ciphertext is in `data`, as base64
            return self._keys.open(self._namespace, self._stream, version, type_, data)
        if self._payloads is None:
            ends = (self._rows[0][1], self._rows[-1][1])
            self._payloads = self._backend.sealed_payloads(
                self._connection, self._namespace, self._stream, min(ends), max(ends)
            )
        sealed = self._payloads.get(version)
        if sealed is None:
            return ERASED
        return self._keys.open(self._namespace, self._stream, version, type_, data, sealed)


def stream_events(
    rows: Sequence[StreamRow], registry: EventRegistry, namespace: str, stream: str, opener: SealedOpener
) -> list[RecordedEvent]:
    """The events of one stream's rows, opened and upcast, in the rows' order.

    Per row: one JSON decode (two when the metadata is not empty: empty, it comes as None) unless
    the driver decoded the documents as it read them (SQLite's converters), and one event built by
    `build_recorded`; the type's schema version and the instant are looked up only when they
    differ from the row before's (the events of one commit share their instant)."""
    versions = registry.versions
    upcast = registry.upcast
    loads = orjson.loads
    build = build_recorded
    recorded: list[RecordedEvent] = []
    append = recorded.append
    last_type: str | None = None
    latest = 1
    last_at: Any = None
    instant = datetime.min  # replaced at the first row (`recorded_at` is never NULL)
    for position, version, type_, schema_version, data, meta, at in rows:
        if type(meta) is not dict:  # JSON text, or None for `{}`: the driver decoded neither
            data = loads(data)
            meta = {} if meta is None else loads(meta)
        if type(data) is dict and SEALED in data and len(data) == 1:
            data = opener.open(version, type_, data)
        if type_ != last_type:
            last_type, latest = type_, versions.get(type_, 1)
        type_ = last_type  # one string for the run of events of a type: fewer objects to keep and free
        if latest > schema_version and data is not ERASED:
            schema_version, data = upcast(type_, schema_version, data)
        if at is not last_at and at != last_at:
            last_at, instant = at, instant_from_stored(at)
        append(build(position, namespace, stream, version, type_, schema_version, data, meta, instant))
    return recorded
