"""Export and import of the log as JSON Lines, exactly as stored (no upcasting, positions kept)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import IO, Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from session_engine.engine.clock import as_utc
from session_engine.engine.errors import ValidationFailed
from session_engine.engine.log.records import RecordedEvent
from session_engine.engine.log.schema import events

FIELDS = (
    "position",
    "namespace",
    "stream",
    "version",
    "type",
    "schema_version",
    "data",
    "metadata",
    "idempotency_key",
    "recorded_at",
)
PAGE = 5000


def export_lines(connection: Connection, *, after: int = 0) -> Iterator[bytes]:
    """Every stored event after `after` as one JSON line, in position order."""
    position = after
    while True:
        rows = connection.execute(
            sa.select(events).where(events.c.position > position).order_by(events.c.position).limit(PAGE)
        ).all()
        if not rows:
            return
        for position_, namespace, stream, version, type_, schema_version, data, meta, key, at in rows:
            event = RecordedEvent(
                position_, namespace, stream, version, type_, schema_version, data, meta, at
            )
            record = event.to_json()  # as stored: not upcast
            record["idempotency_key"] = key
            record["recorded_at"] = record.pop("recorded_at")  # the last field, as `FIELDS` has it
            yield orjson.dumps(record) + b"\n"
        position = rows[-1][0]


def parse_line(line: bytes, expected_position: int) -> dict[str, Any]:
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError as error:
        raise ValidationFailed(f"line {expected_position}: not JSON ({error})") from None
    if not isinstance(record, dict) or set(record) != set(FIELDS):
        raise ValidationFailed(f"line {expected_position}: expected the fields {', '.join(FIELDS)}")
    if record["position"] != expected_position:
        raise ValidationFailed(
            f"line {expected_position}: position {record['position']} breaks the gap-free sequence"
        )
    record["recorded_at"] = as_utc(datetime.fromisoformat(record["recorded_at"]))
    record["meta"] = record.pop("metadata")
    return record


def import_lines(connection: Connection, lines: Iterable[bytes]) -> int:
    """Insert exported events into an empty log. Positions must run 1, 2, 3... without gaps."""
    if connection.execute(sa.select(events.c.position).limit(1)).first() is not None:
        raise ValidationFailed("import needs an empty event log")
    batch: list[dict[str, Any]] = []
    count = 0
    for line in lines:
        if not line.strip():
            continue
        count += 1
        batch.append(parse_line(line, count))
        if len(batch) >= PAGE:
            connection.execute(events.insert(), batch)
            batch = []
    if batch:
        connection.execute(events.insert(), batch)
    return count


def write_export(connection: Connection, out: IO[bytes]) -> int:
    count = 0
    for line in export_lines(connection):
        out.write(line)
        count += 1
    return count
