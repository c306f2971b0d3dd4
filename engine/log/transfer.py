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
import binascii
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from session_engine.engine.backends.base import EVENT_COLUMNS
from session_engine.engine.clock import as_utc
from session_engine.engine.errors import ValidationFailed
from session_engine.engine.lifecycle import SESSION_EXPIRED
from session_engine.engine.log import removed_keys
from session_engine.engine.log.chain import GENESIS, MISSING, check_rows, event_hash, micros
from session_engine.engine.log.records import RecordedEvent
from session_engine.engine.log.schema import events, snapshots
from session_engine.engine.log.sealing import ERASED_FIELD, StreamKeys, hashed_data, is_sealed
from session_engine.engine.projections.snapshots import Snapshot, digest_of
from session_engine.engine.retention.bases import recorded_digests, retention_bases

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


def base_lines(connection: Connection, scope: ExportScope = WHOLE_LOG) -> Iterator[bytes]:
    """After the events: the retention base of each session `keep_last` shortened (within the
    scope's namespace and session), which an import needs to start it from."""
    for base in retention_bases(connection):
        if scope.namespace not in (None, base.namespace) or scope.stream not in (None, base.stream):
            continue
        yield _base_line(base)


_LEGACY_FIELDS = frozenset(FIELDS) - {"hash"}
"""An export written before the chain existed: its events get their hashes as they are imported."""
_LINE_FIELDS = (frozenset(FIELDS), frozenset((*FIELDS, SEALED_FIELD)), _LEGACY_FIELDS)
BASE_FIELD = "retention_base"
"""A line after the events holding one retention base: the pinned snapshot a `keep_last` cut
session starts from (engine/retention/bases.py), which its removed events no longer give."""


def parse_line(
    line: bytes, number: int, previous: bytes | None, hashed: bool | None = True
) -> dict[str, Any]:
    """One exported event as an insert's parameters. `number`: the line's number among the
    non-blank lines; `hashed`: whether the lines carry hashes (None: whatever this one does).
    A line with a hash keeps it, for `check_rows` to check (`import_lines`); one without (an
    export from before the chain) gets the hash that follows `previous`, the line before's."""
    where = f"line {number}"
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError as error:
        raise ValidationFailed(f"{where}: not JSON ({error})") from None
    if isinstance(record, dict) and record.get(ERASED_FIELD) is True:
        del record[ERASED_FIELD]  # what the export saw of the keys: the stored row says it again
    if not isinstance(record, dict) or set(record) not in _LINE_FIELDS:
        raise ValidationFailed(f"{where}: expected the fields {', '.join(FIELDS)} (and maybe {SEALED_FIELD})")
    has_hash = "hash" in record
    if hashed is not None and hashed != has_hash:
        raise ValidationFailed(f"{where}: some lines carry a hash and others do not")
    if not all(_is_int(record[name]) for name in ("position", "version", "schema_version")) or not all(
        isinstance(record[name], str) for name in ("namespace", "stream", "type")
    ):
        raise ValidationFailed(f"{where}: a field has the wrong type or form")
    if not has_hash and record["position"] != number:
        raise ValidationFailed(
            f"{where}: position {record['position']} breaks the gap-free sequence (an export without"
            " hashes has no removed ranges)"
        )
    try:
        record["recorded_at"] = as_utc(datetime.fromisoformat(record["recorded_at"]))
        sealed = record.get(SEALED_FIELD)
        record[SEALED_FIELD] = sealed = None if sealed is None else base64.b64decode(sealed, validate=True)
        data, meta = orjson.dumps(record["data"]), orjson.dumps(record["metadata"])
        if has_hash:
            digest = bytes.fromhex(record["hash"])
        else:
            digest = event_hash(
                previous or GENESIS,
                record["position"],
                record["namespace"].encode(),
                record["stream"].encode(),
                record["version"],
                record["type"].encode(),
                record["schema_version"],
                hashed_data(data, sealed),
                meta,
                micros(record["recorded_at"]),
            )
    except (TypeError, ValueError, AttributeError, OverflowError, orjson.JSONEncodeError) as error:
        raise ValidationFailed(f"{where}: a field has the wrong type or form ({error})") from None
    record["data_text"], record["meta_text"] = data.decode(), meta.decode()
    record["hash"] = digest
    record["hashed"] = has_hash
    record["meta"] = record.pop("metadata")
    return record


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _chain_row(record: dict[str, Any]) -> tuple[Any, ...]:
    """An imported event as `check_rows` reads a stored row (`Backend.read_chain`)."""
    return (
        record["position"],
        record["namespace"],
        record["stream"],
        record["version"],
        record["type"],
        record["schema_version"],
        record.pop("data_text"),
        record.pop("meta_text"),
        record["recorded_at"],
        record["hash"],
        record[SEALED_FIELD],
    )


class _Lines:
    """Which line each imported position came from: positions skip only where ranges were removed,
    so a few offsets map them (a gap's missing positions report the line after it)."""

    def __init__(self) -> None:
        self._skips: list[tuple[int, int]] = []  # (first position after a gap, positions skipped so far)
        self._skipped = 0

    def gap(self, position: int, skipped: int) -> None:
        self._skipped += skipped
        self._skips.append((position, self._skipped))

    def line_of(self, position: int) -> int:
        skipped = 0
        for first, total in self._skips:
            if first > position:
                break
            skipped = total
        return max(position - skipped, 1)


def import_lines(
    connection: Connection, lines: Iterable[bytes], progress: Callable[[int], None] | None = None
) -> int:
    """Insert exported events into an empty log. Positions run 1, 2, 3... except where retention
    removed ranges, which a later `retention_run` line must vouch for exactly as `verify` requires
    (`chain.check_rows`, the one rule), and every event's hash must follow from the one before (an
    export without hashes at all is an older one: its chain is computed here). The retention bases
    after the events go in as pinned snapshots; the idempotency keys the runs list go back into
    `removed_keys`. Raises `ValidationFailed` naming the first bad line; the caller's transaction
    then rolls back whatever was inserted."""
    if connection.execute(sa.select(events.c.position).limit(1)).first() is not None:
        raise ValidationFailed("import needs an empty event log")
    batch: list[dict[str, Any]] = []
    bases: list[dict[str, Any]] = []
    count = 0
    hashed: bool | None = None
    numbering = _Lines()

    def rows() -> Iterator[tuple[Any, ...]]:
        nonlocal count, hashed, batch
        previous: bytes | None = GENESIS
        expected = 1
        for line in lines:
            if not line.strip():
                continue
            if bases or line.lstrip().startswith(b'{"' + BASE_FIELD.encode()):
                bases.append(_parse_base(line, count + len(bases) + 1))
                continue
            count += 1
            record = parse_line(line, count, previous, hashed)
            if hashed is None:
                hashed = record["hashed"]
            del record["hashed"]
            if record["position"] > expected:
                numbering.gap(record["position"], record["position"] - expected)
            expected = record["position"] + 1
            previous = record["hash"]
            row = _chain_row(record)
            batch.append(record)
            if len(batch) >= PAGE:
                connection.execute(events.insert(), batch)
                batch = []
            if progress is not None and count % PROGRESS_STEP == 0:
                progress(PROGRESS_STEP)
            yield row

    checked = check_rows(rows())
    if not checked.ok:
        at = checked.broken_at or 0
        where = f"line {numbering.line_of(at)} (position {at})"
        if checked.reason == MISSING:
            raise ValidationFailed(
                f"{where}: position {at} breaks the gap-free sequence: {checked.reason}; nothing was imported"
            )
        raise ValidationFailed(
            f"{where}: the hash chain is broken there: {checked.reason} (changed after export, or an"
            " earlier line was); nothing was imported"
        )
    if batch:
        connection.execute(events.insert(), batch)
    if progress is not None and count % PROGRESS_STEP:
        progress(count % PROGRESS_STEP)
    _insert_bases(connection, bases)
    removed_keys.restore(connection)
    return count


def _parse_base(line: bytes, number: int) -> dict[str, Any]:
    where = f"retention base {number}"
    try:
        found = orjson.loads(line)[BASE_FIELD]
        return {
            "namespace": str(found["namespace"]),
            "stream": str(found["stream"]),
            "version": int(found["version"]),
            "position": int(found["position"]),
            "recorded_at": as_utc(datetime.fromisoformat(found["recorded_at"])),
            "fingerprint": str(found["fingerprint"]),
            "shape": str(found["shape"]),
            "event_hash": bytes.fromhex(found["event_hash"]),
            "pinned": 1,
            "tables": base64.b64decode(found["tables"], validate=True),
            "state": None if found["state"] is None else base64.b64decode(found["state"], validate=True),
            "digest": bytes.fromhex(found["digest"]),
        }
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, binascii.Error) as error:
        raise ValidationFailed(f"{where}: not a retention base ({type(error).__name__}: {error})") from None


def _insert_bases(connection: Connection, bases: list[dict[str, Any]]) -> None:
    """Every session whose kept events start after version 1 needs what it started from: the
    `session_expired` marker that opens its stream (a dropped session), or its retention base at
    the version before its first kept event, whose digest the `retention_run` that cut the session
    recorded (the run is on the chain: a base changed or made up is refused). Otherwise its state
    would be silently lost, or forged: refused."""
    given = {(b["namespace"], b["stream"]): b for b in bases}
    vouched = recorded_digests(connection)
    now = datetime.now(UTC)
    starts = (
        sa.select(events.c.namespace, events.c.stream, sa.func.min(events.c.version))
        .group_by(events.c.namespace, events.c.stream)
        .having(sa.func.min(events.c.version) > 1)
    )
    for namespace, stream, first in connection.execute(starts).all():
        opening = connection.execute(
            sa.select(events.c.type).where(
                events.c.namespace == namespace, events.c.stream == stream, events.c.version == first
            )
        ).scalar()
        found = given.pop((namespace, stream), None)
        if opening == SESSION_EXPIRED and found is None:
            continue
        if found is None or found["version"] != int(first) - 1:
            raise ValidationFailed(
                f"session {namespace}/{stream}: its events up to version {int(first) - 1} were removed"
                " by retention and the export holds no retention base there, so its state would be"
                " lost; nothing was imported"
            )
        recorded = vouched.get((namespace, stream, found["version"]), set())
        if found["digest"].hex() not in recorded or found["digest"] != _digest(found):
            raise ValidationFailed(
                f"the retention base of {namespace}/{stream} does not match the digest its retention run"
                " recorded; nothing was imported"
            )
        connection.execute(snapshots.insert().values(**found, created_at=now))
    if given:
        namespace, stream = next(iter(given))
        raise ValidationFailed(
            f"a retention base for {namespace}/{stream}, whose events were not shortened;"
            " nothing was imported"
        )


def _digest(base: dict[str, Any]) -> bytes:
    return digest_of(
        base["namespace"],
        base["stream"],
        base["fingerprint"],
        base["version"],
        base["position"],
        base["event_hash"],
        base["tables"],
        base["state"],
    )


def _base_line(snapshot: Snapshot) -> bytes:
    return (
        orjson.dumps(
            {
                BASE_FIELD: {
                    "namespace": snapshot.namespace,
                    "stream": snapshot.stream,
                    "version": snapshot.version,
                    "position": snapshot.position,
                    "recorded_at": snapshot.recorded_at.isoformat(),
                    "fingerprint": snapshot.fingerprint,
                    "shape": snapshot.shape,
                    "event_hash": snapshot.event_hash.hex(),
                    "tables": base64.b64encode(snapshot.tables).decode(),
                    "state": None if snapshot.state is None else base64.b64encode(snapshot.state).decode(),
                    "digest": snapshot.digest.hex(),
                }
            }
        )
        + b"\n"
    )


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
    for line in base_lines(connection, scope):
        out.write(line)
    return count
