"""Idempotency keys of appends whose events retention removed (specs/lifecycle.md, "Idempotency
keys of removed events").

An idempotency key lives on the first event of its append, and the engine answers a repeat from
that event for as long as the stream exists (specs/engine-core.md: keys have no expiry). When
retention removes that event, the key and where its append landed move to `removed_keys` and are
listed in the run's `retention_run` event, so a retried write still answers the first outcome
(`repeated`) instead of being applied again; an import restores the table from those events.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from session_engine.engine.backends import Backend, Prepared
from session_engine.engine.log.gaps import RETENTION_RUN, RETENTION_STREAM
from session_engine.engine.log.records import AppendResult
from session_engine.engine.log.schema import events, removed_keys

_e = events.c
_k = removed_keys.c


@dataclass(frozen=True, slots=True)
class RemovedKey:
    """One removed append's key and where it landed."""

    stream: str
    key: str
    first_version: int
    last_version: int
    first_position: int
    last_position: int

    def as_json(self) -> list[Any]:
        return [
            self.stream,
            self.key,
            self.first_version,
            self.last_version,
            self.first_position,
            self.last_position,
        ]


def keyed_appends(
    connection: Connection, namespace: str, stream: str, through: int | None = None
) -> list[RemovedKey]:
    """The keyed appends whose first event (the one carrying the key) is among the stream's events
    up to version `through` (all of them when None): those retention is about to remove."""
    query = sa.select(_e.version, _e.position, _e.idempotency_key, _e.meta).where(
        _e.namespace == namespace, _e.stream == stream, _e.idempotency_key.is_not(None)
    )
    if through is not None:
        query = query.where(_e.version <= through)
    found = []
    for version, position, key, meta in connection.execute(query.order_by(_e.version)).all():
        size = int((meta or {}).get("append_size", 1))
        found.append(RemovedKey(stream, key, version, version + size - 1, position, position + size - 1))
    return found


def remember(connection: Connection, namespace: str, keys: list[RemovedKey]) -> None:
    """Keep the keys (in the transaction that removes their events)."""
    if keys:
        connection.execute(
            removed_keys.insert(),
            [
                {
                    "namespace": namespace,
                    "stream": k.stream,
                    "idempotency_key": k.key,
                    "first_version": k.first_version,
                    "last_version": k.last_version,
                    "first_position": k.first_position,
                    "last_position": k.last_position,
                }
                for k in keys
            ],
        )


_find = Prepared(
    sa.select(_k.first_version, _k.last_version, _k.first_position, _k.last_position).where(
        _k.namespace == sa.bindparam("namespace"),
        _k.stream == sa.bindparam("stream"),
        _k.idempotency_key == sa.bindparam("key"),
    )
)
"""On the driver: every first use of a key reads here once (SQLAlchemy's execution cost more than
the indexed read itself: docs/benchmarks.md, session 10)."""


def find(
    connection: Connection, backend: Backend, namespace: str, stream: str, key: str
) -> AppendResult | None:
    """Where the removed append with this key landed, as a repeat answers it; None if no removed
    append had it."""
    rows = backend.rows(connection, _find, {"namespace": namespace, "stream": stream, "key": key})
    if not rows:
        return None
    first_version, last_version, first_position, last_position = rows[0]
    return AppendResult(
        namespace, stream, first_version, last_version, first_position, last_position, repeated=True
    )


def restore(connection: Connection) -> int:
    """Fill `removed_keys` from the log's `retention_run` events (after an import). Returns how many."""
    runs = sa.select(_e.namespace, _e.data).where(_e.stream == RETENTION_STREAM, _e.type == RETENTION_RUN)
    count = 0
    for namespace, data in connection.execute(runs.order_by(_e.position)).all():
        listed = (orjson.loads(data) if isinstance(data, str | bytes) else data).get("keys") or []
        keys = [RemovedKey(*entry) for entry in listed]
        remember(connection, namespace, keys)
        count += len(keys)
    return count
