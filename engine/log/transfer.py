"""Export and import of the log as JSON Lines, exactly as stored (no upcasting, positions kept).

Each line carries its event's chain hash (hex), and a payload stored as sealed bytes carries them
as base64 (`sealed`: JSON has no bytes). A sealed event whose session was erased keeps its
stored (sealed) data, which its hash covers, and says so: `"erased": true` beside it (a reader
sees what happened without a key; import ignores the mark, which the stored row implies). Import
recomputes the chain from the lines and refuses the file at the first line whose hash does not
follow (specs/audit.md), before it commits anything: a tampered or truncated-in-the-middle export
changes nothing."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from session_engine.engine.backends.base import EVENT_COLUMNS
from session_engine.engine.clock import as_utc
from session_engine.engine.errors import ValidationFailed
from session_engine.engine.log.chain import GENESIS, event_hash, micros
from session_engine.engine.log.records import RecordedEvent
from session_engine.engine.log.schema import events
from session_engine.engine.log.sealing import ERASED_FIELD, StreamKeys, hashed_data, is_sealed

SEALED_FIELD = "sealed"
FIELDS = tuple(name for name in EVENT_COLUMNS if name != SEALED_FIELD)
"""An export line holds exactly the columns an event row stores, in their order; `sealed` (the
last) only on the lines of events whose payload is stored as sealed bytes, so an export of a log
without them reads as it always did."""
PAGE = 5000
PROGRESS_STEP = 1000
"""Progress is reported every this many events (and once for the rest at the end)."""


@dataclass(frozen=True)
class ExportScope:
    """Which events an export holds: the whole log (the default), or one namespace, one session
    (stream) of it, and/or a time range [since, until]. A partial export is for reading: each line
    keeps its chain hash, but import takes only a whole log (its chain must start at position 1)."""

    namespace: str | None = None
    stream: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def where(self) -> list[sa.ColumnElement[bool]]:
        clauses: list[sa.ColumnElement[bool]] = []
        if self.namespace is not None:
            clauses.append(events.c.namespace == self.namespace)
        if self.stream is not None:
            clauses.append(events.c.stream == self.stream)
        if self.since is not None:
            clauses.append(events.c.recorded_at >= self.since)
        if self.until is not None:
            clauses.append(events.c.recorded_at <= self.until)
        return clauses


WHOLE_LOG = ExportScope()


def export_lines(
    connection: Connection, *, after: int = 0, scope: ExportScope = WHOLE_LOG
) -> Iterator[bytes]:
    """Every stored event after `after` (within `scope`) as one JSON line, in position order."""
    position = after
    chosen = scope.where()
    while True:
        rows = connection.execute(
            sa.select(events)
            .where(events.c.position > position, *chosen)
            .order_by(events.c.position)
            .limit(PAGE)
        ).all()
        if not rows:
            return
        opened = [(row[1], row[2]) for row in rows if is_sealed(row[6])]
        keys = StreamKeys.load(connection, opened) if opened else None
        for row in rows:
            (
                position_,
                namespace,
                stream,
                version,
                type_,
                schema_version,
                data,
                meta,
                key,
                at,
                hash_,
                sealed,
            ) = row
            event = RecordedEvent(
                position_, namespace, stream, version, type_, schema_version, data, meta, at
            )
            record = event.to_json()  # as stored: not upcast
            record["idempotency_key"] = key
            record["recorded_at"] = record.pop("recorded_at")  # in the order `FIELDS` has them
            record["hash"] = None if hash_ is None else bytes(hash_).hex()
            if sealed is not None:
                record[SEALED_FIELD] = base64.b64encode(sealed).decode()
            if keys is not None and is_sealed(data) and keys.erased(namespace, stream, version):
                record[ERASED_FIELD] = True
            yield orjson.dumps(record) + b"\n"
        position = rows[-1][0]


_LEGACY_FIELDS = frozenset(FIELDS) - {"hash"}
"""An export written before the chain existed: its events get their hashes as they are imported."""
_LINE_FIELDS = (frozenset(FIELDS), frozenset((*FIELDS, SEALED_FIELD)), _LEGACY_FIELDS)


def parse_line(
    line: bytes, expected_position: int, previous: bytes, hashed: bool | None = True
) -> dict[str, Any]:
    """One exported event as an insert's parameters, its hash checked against the chain so far
    (`previous`: the hash of the line before). `expected_position` is also the line's number among
    the non-blank lines; `hashed`: whether the lines carry hashes (None: whatever this one does)."""
    where = f"line {expected_position}"
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError as error:
        raise ValidationFailed(f"{where}: not JSON ({error})") from None
    if isinstance(record, dict) and record.get(ERASED_FIELD) is True:
        del record[ERASED_FIELD]  # what the export saw of the keys: the stored row says it again
    if not isinstance(record, dict) or set(record) not in _LINE_FIELDS:
        raise ValidationFailed(f"{where}: expected the fields {', '.join(FIELDS)} (and maybe {SEALED_FIELD})")
    if record["position"] != expected_position:
        raise ValidationFailed(f"{where}: position {record['position']} breaks the gap-free sequence")
    try:
        record["recorded_at"] = as_utc(datetime.fromisoformat(record["recorded_at"]))
        sealed = record.get(SEALED_FIELD)
        record[SEALED_FIELD] = sealed = None if sealed is None else base64.b64decode(sealed, validate=True)
        data = hashed_data(orjson.dumps(record["data"]), sealed)
        meta = orjson.dumps(record["metadata"])
        computed = event_hash(
            previous,
            record["position"],
            record["namespace"].encode(),
            record["stream"].encode(),
            record["version"],
            record["type"].encode(),
            record["schema_version"],
            data,
            meta,
            micros(record["recorded_at"]),
        )
    except (TypeError, ValueError, AttributeError, OverflowError, orjson.JSONEncodeError) as error:
        raise ValidationFailed(f"{where}: a field has the wrong type or form ({error})") from None
    if hashed is not None and hashed != ("hash" in record):
        raise ValidationFailed(f"{where}: some lines carry a hash and others do not")
    stated = record.get("hash")
    if "hash" in record and stated != computed.hex():
        raise ValidationFailed(
            f"{where} (position {expected_position}): the hash chain is broken there: the event does not"
            " match its hash (changed after export, or an earlier line was); nothing was imported"
        )
    record["hashed"] = "hash" in record
    record["hash"] = computed
    record["meta"] = record.pop("metadata")
    return record


def import_lines(
    connection: Connection, lines: Iterable[bytes], progress: Callable[[int], None] | None = None
) -> int:
    """Insert exported events into an empty log. Positions must run 1, 2, 3... without gaps and
    every event's hash must follow from the line before (an export without hashes at all is an
    older one: its chain is computed here). Raises `ValidationFailed` naming the first bad line;
    the caller's transaction then rolls back whatever was inserted."""
    if connection.execute(sa.select(events.c.position).limit(1)).first() is not None:
        raise ValidationFailed("import needs an empty event log")
    batch: list[dict[str, Any]] = []
    count = 0
    previous = GENESIS
    hashed: bool | None = None
    for line in lines:
        if not line.strip():
            continue
        count += 1
        record = parse_line(line, count, previous, hashed)
        if hashed is None:
            hashed = record.pop("hashed")
        else:
            del record["hashed"]
        previous = record["hash"]
        batch.append(record)
        if len(batch) >= PAGE:
            connection.execute(events.insert(), batch)
            batch = []
        if progress is not None and count % PROGRESS_STEP == 0:
            progress(PROGRESS_STEP)
    if batch:
        connection.execute(events.insert(), batch)
    if progress is not None and count % PROGRESS_STEP:
        progress(count % PROGRESS_STEP)
    return count


def write_export(
    connection: Connection,
    out: IO[bytes],
    progress: Callable[[int], None] | None = None,
    scope: ExportScope = WHOLE_LOG,
) -> int:
    count = 0
    for line in export_lines(connection, scope=scope):
        out.write(line)
        count += 1
        if progress is not None and count % PROGRESS_STEP == 0:
            progress(PROGRESS_STEP)
    if progress is not None and count % PROGRESS_STEP:
        progress(count % PROGRESS_STEP)
    return count
