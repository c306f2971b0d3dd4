"""The log's hash chain: every event's hash covers the previous event's hash and the event as stored.

Changing any stored field of any event (or removing, inserting or reordering events) changes that
event's hash and every later one, so a head hash recorded somewhere else vouches for the whole log
up to it (specs/audit.md). The writer computes each hash as it encodes the event's row, from the
exact text it stores; `verify` and import recompute them the same way.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.engine import Connection

from session_engine.engine.backends import Backend
from session_engine.engine.log.gaps import RETENTION_RUN, RETENTION_STREAM, Gap, Gaps
from session_engine.engine.log.schema import instant_from_stored
from session_engine.engine.log.sealing import hashed_data

GENESIS = bytes(32)
"""The previous hash of the first event."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_HEADER = struct.Struct(">32sqIIqIqIIq")
"""The fixed part of an event's encoding: the previous hash, then position, the lengths of
namespace and stream, version, the length of type, schema version, the lengths of data and
metadata, and recorded_at; integers big-endian (8 bytes signed, lengths 4 bytes unsigned)."""
_new_sha256 = hashlib.sha256().copy
"""A fresh SHA-256 as a copy of an empty one: `hashlib.sha256()` looks the digest up in OpenSSL's
provider tables on every call, a copy does not."""
PROGRESS_STEP = 1000
"""Progress is reported every this many events (and once for the rest at the end)."""


def micros(instant: datetime) -> int:
    """An instant as whole microseconds since 1970 UTC: the form the hash covers."""
    return (instant - _EPOCH) // _MICROSECOND


def event_hash(
    previous: bytes,
    position: int,
    namespace: bytes,
    stream: bytes,
    version: int,
    type_: bytes,
    schema_version: int,
    data: bytes,
    metadata: bytes,
    recorded_at: int,
) -> bytes:
    """SHA-256 over the canonical encoding: the fixed header (`_HEADER`: the previous hash, the
    integers and every variable field's length), then the variable fields' bytes in order:
    namespace, stream, type (UTF-8), data, metadata (their stored JSON text, UTF-8; a payload
    stored as sealed bytes is hashed as those bytes: `sealing.hashed_data`).
    `recorded_at`: `micros` of the instant.

    The lengths come first, so no two different events share one byte string; one `pack` and one
    join keep the writer's cost per event small."""
    header = _HEADER.pack(
        previous,
        position,
        len(namespace),
        len(stream),
        version,
        len(type_),
        schema_version,
        len(data),
        len(metadata),
        recorded_at,
    )
    digest = _new_sha256()
    digest.update(b"".join((header, namespace, stream, type_, data, metadata)))
    return digest.digest()


def hash_stored_row(previous: bytes, row: tuple[Any, ...]) -> bytes:
    """The hash of a row as `Backend.read_chain` returns it (its own `hash` column aside; a row
    without the `sealed` column that follows it is one stored before 0015)."""
    position, namespace, stream, version, type_, schema_version, data, meta, recorded_at = row[:9]
    return event_hash(
        previous,
        position,
        namespace.encode(),
        stream.encode(),
        version,
        type_.encode(),
        schema_version,
        hashed_data(data.encode(), row[10] if len(row) > 10 else None),
        meta.encode(),
        micros(instant_from_stored(recorded_at)),
    )


@dataclass(frozen=True, slots=True)
class ChainCheck:
    """What recomputing the chain found: the head it reached and the first position that breaks it."""

    head: int
    head_hash: bytes
    broken_at: int | None = None
    reason: str = ""
    at_hash: bytes | None = None
    """The hash at the position asked for (`check_chain(at=...)`), when the chain reached it."""

    @property
    def ok(self) -> bool:
        return self.broken_at is None


def stored_rows(
    connection: Connection, backend: Backend, *, upto: int | None = None, page: int = 5000
) -> Iterator[tuple[Any, ...]]:
    """Every stored row up to `upto` in position order, as `Backend.read_chain` gives them."""
    after = 0
    while True:
        rows = backend.read_chain(connection, after=after, limit=page, upto=upto)
        if not rows:
            return
        yield from rows
        after = int(rows[-1][0])


def check_rows(
    rows: Iterable[tuple[Any, ...]],
    *,
    at: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> ChainCheck:
    """Recompute every row's hash and compare it with the stored one (`check_chain`, on rows).

    Positions must run 1, 2, 3..., except where retention removed events: a gap is accepted once a
    later `retention_run` event on the chain lists every position of it and the hash of its last
    event makes the row after the gap check out (engine/log/gaps.py). A gap no marker covers breaks
    the chain there, as a missing event always did."""
    expected_position, head, head_hash = 1, 0, GENESIS
    at_hash = GENESIS if at == 0 else None
    gaps = Gaps()
    done = 0

    def broken(position: int, reason: str) -> ChainCheck:
        earlier = gaps.open[0] if gaps.open and gaps.open[0].first < position else None
        if earlier is not None:  # the earliest problem is a gap nothing has vouched for yet
            return ChainCheck(earlier.head, earlier.head_hash, earlier.first, MISSING, at_hash)
        return ChainCheck(head, head_hash, position, reason, at_hash)

    for row in rows:
        position = int(row[0])
        stored = row[9]
        if position != expected_position:
            if position < expected_position:
                return broken(expected_position, "the event there is out of order")
            gaps.open.append(Gap(expected_position, position - 1, row, head, head_hash))
        if stored is None:
            return broken(position, "the event there has no hash")
        if position != expected_position:
            computed = bytes(stored)  # provisional: checked when a marker vouches for the gap
        else:
            try:
                computed = hash_stored_row(head_hash, row)
            except (TypeError, ValueError, AttributeError, OverflowError, struct.error) as error:
                return broken(position, f"the stored event cannot be read as an event ({error})")
            if bytes(stored) != computed:
                return broken(position, _CHANGED)
        head, head_hash, expected_position = position, computed, position + 1
        if row[4] == RETENTION_RUN and row[2] == RETENTION_STREAM:
            gaps.vouch(position, row[6])
            for gap in list(gaps.open):
                before = gaps.hash_before(gap)
                if before is None:
                    continue
                try:
                    matches = hash_stored_row(before, gap.row) == bytes(gap.row[9])
                except (TypeError, ValueError, AttributeError, OverflowError, struct.error):
                    matches = False
                gaps.open.remove(gap)
                if not matches:
                    return broken(int(gap.row[0]), _CHANGED)
        if position == at:
            at_hash = computed
        done += 1
        if progress is not None and done % PROGRESS_STEP == 0:
            progress(PROGRESS_STEP)
    if progress is not None and done % PROGRESS_STEP:
        progress(done % PROGRESS_STEP)
    if gaps.open:
        return broken(head + 1, MISSING)
    if at_hash is None and at is not None and at < head:
        at_hash = gaps.vouched_hash(at)  # removed by retention: the hash its marker recorded
    return ChainCheck(head, head_hash, at_hash=at_hash)


MISSING = "the event there is missing (no retention run records its removal)"
"""Why a gap no retention run vouches for breaks the chain (import names it so too)."""
_CHANGED = "the stored event does not match its hash (it, or its hash, was changed)"


def check_chain(
    connection: Connection,
    backend: Backend,
    *,
    upto: int | None = None,
    at: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> ChainCheck:
    """Recompute the chain from the stored events: the head it reached and its hash, the first
    position that breaks it (if any), and the hash at `at` (to compare with a recorded anchor)."""
    return check_rows(stored_rows(connection, backend, upto=upto), at=at, progress=progress)


def parse_anchor(text: str) -> tuple[int | None, bytes]:
    """`HASH` or `POSITION:HASH` (hex) as an auditor recorded it; ValueError when malformed."""
    position_text, _, hash_text = text.strip().rpartition(":")
    position = None
    if position_text:
        if not position_text.isdigit():
            raise ValueError(f"{text!r}: the position before ':' must be a whole number")
        position = int(position_text)
    try:
        digest = bytes.fromhex(hash_text)
    except ValueError:
        raise ValueError(f"{text!r}: the hash must be 64 hexadecimal digits") from None
    if len(digest) != 32:
        raise ValueError(f"{text!r}: the hash must be 64 hexadecimal digits")
    return position, digest
