"""The unit of work: one batch's transaction, the state handlers read, and what they produce.

The committer (`engine/writes.py`) opens one per batch. Handlers read the read models through it,
as this batch has changed them so far; it checks expected versions and idempotency keys, stages the
events and applies the projections, and writes everything in `finish`, just before the commit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, overload

import orjson
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.engine import Connection
from sqlalchemy.sql import Executable

from session_engine.engine import lifecycle
from session_engine.engine.backends import Backend, HeadMoved, Prepared, Query, Rows
from session_engine.engine.commands import Command
from session_engine.engine.errors import SessionDeleted, ValidationFailed, WrongExpectedVersion
from session_engine.engine.events import DomainEvent, EventRegistry
from session_engine.engine.ids import check_id, check_writable, is_system_stream
from session_engine.engine.log import reads, removed_keys
from session_engine.engine.log.chain import event_hash, micros
from session_engine.engine.log.records import (
    NO_METADATA,
    AppendResult,
    ExpectedVersion,
    NewEvent,
    RecordedEvent,
    build_recorded,
)
from session_engine.engine.log.sealing import (
    SESSION_ERASED,
    STORED_AS_BYTES_TEXT,
    associated,
    refuse_reserved,
    seal,
    writer_cipher,
)
from session_engine.engine.pending_lock import LockingContext, PendingLock
from session_engine.engine.projections.base import ProjectionContext
from session_engine.engine.projections.registry import ProjectionSet
from session_engine.engine.stream_versions import BatchReads, StreamVersions

check_identifier = check_id
"""The engine's identifier rule (`engine.ids`), for the write path's ids and keys."""


_NO_PARAMS: dict[str, Any] = {}
_EMPTY_JSON = b"{}"
"""The stored metadata of most events: nothing to encode."""


class UnitOfWork:
    """One batch's transaction: the state handlers read, and the events and projections they produce."""

    def __init__(
        self,
        connection: Connection,
        backend: Backend,
        registry: EventRegistry,
        projections: ProjectionSet,
        versions: StreamVersions,
        head: int,
        head_hash: bytes,
        now: datetime,
        sealed: frozenset[str] = frozenset(),
        pending: PendingLock | None = None,
    ) -> None:
        self._connection = connection
        self._pending = pending  # the log lock, when the batch began without it (engine/pending_lock.py)
        self._sealed = sealed
        """The namespaces whose payloads are sealed with their session's key (engine/log/sealing.py)."""
        self._staged_ciphers: dict[tuple[str, str], AESGCM] = {}
        self.backend = backend
        self._backend_name = backend.name
        self.projection = LockingContext(self, backend) if pending else ProjectionContext(connection, backend)
        self.now = now
        self.head = head
        self.head_hash = head_hash
        """The hash of the event at `head`: the next event's previous hash (engine/log/chain.py)."""
        self._now_micros = micros(now)
        self._registry = registry
        self._projections = projections
        self._versions = versions
        self._staged_versions: dict[tuple[str, str], int] = {}
        self._staged_deleted: dict[tuple[str, str], bool] = {}
        self._staged_keys: dict[tuple[str, str, str], list[RecordedEvent]] = {}
        self._rows: list[tuple[Any, ...]] = []
        # Rows go to the driver in their stored form: SQLAlchemy's per-row bind processing costs
        # more than the insert itself.
        self._stored_now = backend.stored_instant(now)
        self._no_key = backend.no_idempotency_key
        self.recorded: list[RecordedEvent] = []
        self._deferred: list[RecordedEvent] = []
        self._deferred_streams: set[tuple[str, str]] = set()
        self._deciding: tuple[str, str] | None = None
        guesses = backend.guesses
        self._reads = None if guesses is None else BatchReads(guesses, versions.reads, now)

    @property
    def connection(self) -> Connection:
        """The batch's connection, under the log lock (taken now if it is still pending)."""
        pending = self._pending
        if pending is not None:
            self._pending = None
            pending.take(self._reads)  # with the checks of the reads answered from kept rows
        return self._connection

    # -- what handlers read -------------------------------------------------------------
    @overload
    def read(self, statement: Prepared, params: dict[str, Any] | None = None) -> list[Any]: ...

    @overload
    def read(self, statement: Executable, params: dict[str, Any] | None = None) -> Rows: ...

    def read(self, statement: Query, params: dict[str, Any] | None = None) -> list[Any] | Rows:
        """Query the read models as this batch has changed them so far: a Core statement with named
        parameters, its rows all fetched. A `Prepared` statement (compiled once per backend) runs
        on the driver, for the hot decisions, and gives a list of tuples; any other runs through
        SQLAlchemy (`Backend.rows`) and gives `Rows`."""
        if self._deciding in self._deferred_streams:
            # Before a handler reads: the waiting stream-local writes of its own stream must be in.
            self._apply_deferred()
        self.projection.flush()  # handlers read their own batch's writes
        if type(statement) is Prepared:  # `Backend.rows`, inline: the hottest decisions read here
            compiled = statement.compiled.get(self._backend_name) or self.backend.compile(statement)
            params = params or _NO_PARAMS
            pending, reads = self._pending, self._reads
            if reads is not None:  # nothing written yet: the rows kept of this read may answer it
                kept = reads.answer(compiled, params, pending is not None)
                if kept is not None:
                    return kept
            if pending is not None:  # the lock goes with the batch's first read, in its round trip
                self._pending = None
                return pending.take_reading(compiled, params, reads)
            return compiled.fetch(self._connection, params)
        return self.backend.rows(self.connection, statement, params)

    def stream_version(self, namespace: str, stream: str) -> int:
        return self._version((namespace, stream))

    def _version(self, key: tuple[str, str]) -> int:
        version = self._staged_versions.get(key)
        if version is None:
            version = self._versions.get(key)
            if version is None:
                namespace, stream = key
                # Only checked ids reach the caches, so a known stream needs no checking again.
                check_identifier("namespace", namespace)
                check_identifier("stream", stream)
                version = reads.stream_version(self.connection, namespace, stream)
                self._staged_versions[key] = version
        return version

    # -- what the committer does with a decision ----------------------------------------
    def deciding(self, command: Command) -> None:
        """A command of this stream is about to be decided: should its handler read, it must read
        the stream's own writes, those the stream-local projections hold back included (`read`).
        A handler that does not read (a thread post, say) lets them wait on."""
        self._deciding = (command.namespace, command.stream)

    def _apply_deferred(self) -> None:
        events, self._deferred = self._deferred, []
        self._deferred_streams.clear()
        try:
            self._projections.apply_deferred(self.projection, events)
        except HeadMoved:
            raise
        except BaseException as error:
            raise DeferredFailed(error) from error

    def earlier_append(self, command: Command) -> tuple[list[RecordedEvent], AppendResult] | None:
        """The earlier append with the command's idempotency key: its events (none left when
        retention removed them) and where it landed; None when no append had the key."""
        if command.idempotency_key is None:
            return None
        check_identifier("idempotency key", command.idempotency_key)
        key = (command.namespace, command.stream, command.idempotency_key)
        found = self._staged_keys.get(key) or reads.find_idempotent(
            self.connection, self.backend, self._registry, *key
        )
        if found:
            first, last = found[0], found[-1]
            return found, AppendResult(
                first.namespace,
                first.stream,
                first.version,
                last.version,
                first.position,
                last.position,
                True,
            )
        removed = removed_keys.find(self.connection, self.backend, *key)
        return None if removed is None else ([], removed)

    def record(
        self,
        command: Command,
        events: Sequence[NewEvent | DomainEvent],
        expected: ExpectedVersion,
        *,
        system: bool = False,
    ) -> list[RecordedEvent]:
        """Check the expected version, stage the decided events, and apply them to the projections.
        `system`: the engine's own record (retention's), the one writer of `$` streams; every
        client command is refused there (`ids.check_writable`), whether or not it decided events."""
        if not system:
            check_writable(command.namespace, command.stream)
        stream_key = (command.namespace, command.stream)
        current = self._version(stream_key)
        if expected is not None and expected != current:
            raise WrongExpectedVersion(command.namespace, command.stream, expected, current)
        if not events:
            return []
        deleted = self._is_deleted(stream_key, current)
        if deleted:
            events = self._alive(command, stream_key, events)
        rows, recorded, last_hash = self._encode(command, events, current)
        try:
            self._stage(command, stream_key, rows, recorded)
            after = lifecycle.deleted_after(deleted, [event.type for event in recorded])
            if after is not deleted:
                self._staged_deleted[stream_key] = after
            self.head_hash = last_hash
        except HeadMoved:
            raise  # nothing was written: the batch runs again
        except BaseException as error:
            # Something is half-written: only rolling back the whole transaction undoes it.
            raise HalfWritten(error) from error
        return recorded

    def _is_deleted(self, key: tuple[str, str], version: int) -> bool:
        deleted = self._staged_deleted.get(key)
        if deleted is None:
            deleted = self._versions.deleted(key)
            if deleted is None:
                # A stream with no events was never deleted: new sessions cost no read.
                deleted = version > 0 and lifecycle.is_deleted(self.connection, *key)
                self._staged_deleted[key] = deleted
        return deleted

    def _alive(
        self, command: Command, key: tuple[str, str], events: Sequence[NewEvent | DomainEvent]
    ) -> Sequence[NewEvent | DomainEvent]:
        """The events to record in a deleted session: refused, unless they recreate it or only
        remove things (`lifecycle.REMOVES`), or the command asks to recreate it (then a
        `session_recreated` event goes first). The one place deletes stay deleted, whichever
        domain or adapter decided them."""
        types = [event.type if isinstance(event, NewEvent) else event.event_type for event in events]
        if lifecycle.allowed_when_deleted(types):
            return events
        if command.recreate:
            return [lifecycle.recreated(), *events]
        raise SessionDeleted(*key)

    def _encode(
        self, command: Command, events: Sequence[NewEvent | DomainEvent], version: int
    ) -> tuple[list[tuple[Any, ...]], list[RecordedEvent], bytes]:
        """The events' rows and records, positioned after this batch's head, the stream's after
        `version`, and the last one's hash. Stages nothing yet, so an event that cannot be encoded
        refuses the command with nothing to undo."""
        namespace, stream, key = command.namespace, command.stream, command.idempotency_key
        base_metadata = None if command.metadata is NO_METADATA else command.metadata.to_json()
        now, stored_now, no_key = self.now, self._stored_now, self._no_key
        row_key = no_key if key is None else key  # only the first row carries the key
        position, previous, at = self.head, self.head_hash, self._now_micros
        namespace_bytes, stream_bytes = namespace.encode(), stream.encode()
        rows: list[tuple[Any, ...]] = []
        recorded: list[RecordedEvent] = []
        dumps = orjson.dumps
        # The engine's own streams hold what it did, not a person's data; `$retention`'s runs are
        # read by `verify` without keys, so they are never sealed.
        sealing, cipher = namespace in self._sealed and not is_system_stream(stream), None
        for event in events:
            new = event if isinstance(event, NewEvent) else _as_new_event(event)
            # Most events carry no metadata at all: their stored `{}` needs no merge and no encoding.
            if base_metadata or new.metadata:
                meta = {**base_metadata, **new.metadata} if base_metadata else dict(new.metadata)
            else:
                meta = {}
            if key is not None and not rows:
                meta["idempotency_key"] = key
                meta["append_size"] = len(events)
            try:
                data_bytes = dumps(new.data)
                meta_bytes = dumps(meta) if meta else _EMPTY_JSON
            except orjson.JSONEncodeError as error:  # e.g. a lone surrogate: not representable as UTF-8
                raise ValidationFailed(f"event data is not valid JSON text: {error}") from None
            position += 1
            version += 1
            event_type, schema_version = new.type, new.schema_version
            if sealing and event_type != SESSION_ERASED:
                if cipher is None:
                    cipher = self._cipher((namespace, stream), version - 1)
                # Stored and hashed as bytes (engine/log/sealing.py): no base64 on the append path.
                sealed = seal(cipher, data_bytes, associated(namespace, stream, version, event_type))
                data, data_bytes = STORED_AS_BYTES_TEXT, bytes(sealed)
            elif refuse_reserved(data_bytes):
                raise ValidationFailed('event data whose only key is "$enc" is reserved for sealed payloads')
            else:
                sealed, data = None, data_bytes.decode()
            meta_json = meta_bytes.decode() if meta else "{}"
            previous = event_hash(
                previous,
                position,
                namespace_bytes,
                stream_bytes,
                version,
                event_type.encode(),
                schema_version,
                data_bytes,
                meta_bytes,
                at,
            )
            rows.append(
                (
                    position,
                    namespace,
                    stream,
                    version,
                    event_type,
                    schema_version,
                    data,
                    meta_json,
                    row_key,
                    stored_now,
                    # sqlite3 binds bytes through its adaptation protocol, which raises and formats
                    # an AttributeError per value; a bytearray it binds directly (psycopg alike).
                    bytearray(previous),
                    sealed,
                )
            )
            row_key = no_key
            recorded.append(
                build_recorded(
                    position, namespace, stream, version, event_type, schema_version, new.data, meta, now
                )
            )
        return rows, recorded, previous

    def _cipher(self, key: tuple[str, str], version: int) -> AESGCM:
        cipher = self._staged_ciphers.get(key) or self._versions.ciphers.get(key)
        if cipher is None:
            cipher = writer_cipher(self.connection, *key, version, self.now)
            self._staged_ciphers[key] = cipher
        return cipher

    def _stage(
        self,
        command: Command,
        stream_key: tuple[str, str],
        rows: list[tuple[Any, ...]],
        recorded: list[RecordedEvent],
    ) -> None:
        self._rows.extend(rows)
        last = recorded[-1]
        self.head = last.position
        self._staged_versions[stream_key] = last.version
        if command.idempotency_key is not None:
            self._staged_keys[(*stream_key, command.idempotency_key)] = recorded
        if self._projections.apply_per_command(self.projection, recorded):
            self._deferred.extend(recorded)
            self._deferred_streams.add(stream_key)
        self.recorded.extend(recorded)

    def finish(self, advance: Callable[[Connection, int], None], *, commit: bool = False) -> None:
        """Write the staged events, the projections' pending writes and their checkpoints; with
        `commit`, commit them in the same round trip where the backend can (`commit_in_pipeline`):
        the caller still calls `commit`, which then finds nothing left where it was done here."""
        backend, projection, rows, reads = self.backend, self.projection, self._rows, self._reads
        if self._deferred:
            self._apply_deferred()
        if self.recorded:
            self._projections.apply_per_batch(projection, self.recorded)
        if not projection.holds_driver_sql:
            projection.flush()  # a Core statement may want its results: not in a pipeline
        copied = bool(rows) and backend.copies(len(rows)) and backend.copy_events(self.connection, rows)
        # On PostgreSQL: one round trip for all of these, a pending log lock first (its statements
        # go in ahead of the first write that takes it: `connection`).
        with backend.pipeline(self._connection):
            projection.flush()
            if not rows and not commit:
                return
            connection = self.connection
            if rows:
                if not copied:
                    backend.insert_events(connection, rows)
                advance(connection, rows[0][0] - 1)  # the head before the batch
                backend.notify(connection, self.head)
            if reads is not None:  # under the lock, after the writes: what the next batch would read
                reads.read_again(connection)
            if commit:
                backend.commit_in_pipeline(connection)
        if reads is not None:
            reads.collect()

    def committed(self) -> None:
        self._versions.update(self._staged_versions)
        if self._reads is not None and self._reads.found:
            self._versions.keep_reads(self._reads.found)
        if self._staged_deleted:
            self._versions.update_deleted(self._staged_deleted)
        if self._staged_ciphers:
            self._versions.update_ciphers(self._staged_ciphers)


class DeferredFailed(Exception):
    """A stream-local projection failed on events of earlier commands of the batch: which command
    caused it is unknown, so the batch must roll back and its commands run one by one."""

    def __init__(self, cause: BaseException) -> None:
        self.cause = cause


class HalfWritten(Exception):
    """Staging failed after some writes were queued: the batch must roll back."""

    def __init__(self, cause: BaseException) -> None:
        self.cause = cause


def _as_new_event(event: DomainEvent) -> NewEvent:
    # The model's own serializer without `model_dump`'s Python frame and keyword arguments.
    data = event.__pydantic_serializer__.to_python(event, mode="json")
    return NewEvent(type=event.event_type, data=data, schema_version=event.schema_version)
