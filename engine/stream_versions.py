"""What the writer knows of each stream between batches: its version, whether its session is
deleted, the cipher sealing it, and the rows of its last batches' decision reads. Valid while
nobody else appends to the log (engine/batches.py drops it when the head moved behind the writer's
back); the kept rows are checked under the lock all the same (`BatchReads`)."""

from __future__ import annotations

import itertools
from collections.abc import Hashable, Mapping
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.engine import Connection

from session_engine.engine.backends.guesses import ReadGuesses
from session_engine.engine.backends.prepared import DriverStatement

KEPT_READS = 10_000
"""Decision reads whose rows are kept at most (all are dropped when there would be more)."""
READ_AGAIN = 4
"""A batch's decision reads run again at its end at most: the first ones (a lone writer's batch
has one; a large batch's commands rarely repeat in the next)."""
KEPT_ROWS = 32
"""Rows of one read kept at most: a longer answer is read again when it is needed."""

Kept = tuple[list[Any], str]
"""A read's rows, and their digest (`ReadGuesses.kept`)."""


class StreamVersions:
    """A bounded cache of stream versions, valid while nobody else appends to the log.

    A plain dict: when it is full, the streams cached first (the oldest half) are dropped. An
    OrderedDict kept in least-recently-used order cost a `move_to_end` per append.
    """

    def __init__(self, size: int = 100_000) -> None:
        self._size = size
        self._versions: dict[tuple[str, str], int] = {}
        self.get = self._versions.get
        self._deleted: dict[tuple[str, str], bool] = {}
        """Whether each stream's session is deleted (`engine/lifecycle.py`), cached like versions."""
        self.deleted = self._deleted.get
        self.ciphers: dict[tuple[str, str], AESGCM] = {}
        """The cipher sealing each stream of an encrypting namespace (engine/log/sealing.py)."""
        self.reads: dict[Hashable, Kept] = {}
        """Decision reads' rows as the last batch that made each read left them (`BatchReads`)."""

    def update(self, changes: dict[tuple[str, str], int]) -> None:
        versions = self._versions
        versions.update(changes)
        if len(versions) > self._size:
            for key in list(itertools.islice(versions, len(versions) - self._size // 2)):
                del versions[key]

    def update_deleted(self, changes: dict[tuple[str, str], bool]) -> None:
        if len(self._deleted) + len(changes) > self._size:
            self._deleted.clear()
        self._deleted.update(changes)

    def update_ciphers(self, changes: dict[tuple[str, str], AESGCM]) -> None:
        if len(self.ciphers) + len(changes) > self._size:
            self.ciphers.clear()
        self.ciphers.update(changes)

    def keep_reads(self, kept: Mapping[Hashable, Kept]) -> None:
        if len(self.reads) + len(kept) > KEPT_READS:
            self.reads.clear()
        self.reads.update(kept)

    def clear(self) -> None:
        self._versions.clear()
        self._deleted.clear()
        self.ciphers.clear()
        self.reads.clear()


class BatchReads:
    """A batch's decision reads, where the backend answers them from kept rows (`Backend.guesses`).

    While the batch has not taken the log lock (engine/pending_lock.py) it has written nothing, so
    a read it makes would find what the writer's last batch left, unless another process or the
    clock changed it since: the rows that batch read at its end, under the lock, after its writes,
    answer it here, and a check that the read finds rows of the same digest goes with the lock.
    Should it fail, the batch runs again reading (`HeadMoved`). A refusal decided from kept rows
    is checked the same way: the batch takes the lock to commit even when it writes nothing.

    Kept rows are keyed by the statement and its parameters but the batch's instant, `now`: a read
    judging liveness would otherwise never be answered twice. A read whose rows depend on `now`
    is still right, since its check runs with this batch's `now`.
    """

    __slots__ = ("_again", "_checks", "_guesses", "_handles", "_kept", "_now", "found")

    def __init__(self, guesses: ReadGuesses, kept: dict[Hashable, Kept], now: datetime) -> None:
        self._guesses = guesses
        self._kept = kept
        self._now = now
        self._checks: list[tuple[DriverStatement, tuple[Any, ...], str]] = []
        self._again: dict[Hashable, tuple[DriverStatement, tuple[Any, ...]]] = {}
        self._handles: list[tuple[Hashable, DriverStatement, Any]] = []
        self.found: dict[Hashable, Kept] = {}
        """The rows this batch's reads found at its end, kept once it has committed."""

    def answer(
        self, statement: DriverStatement, params: Mapping[str, Any], guessing: bool
    ) -> list[Any] | None:
        """The read's kept rows when `guessing` (the lock is still to take) finds some, its check
        queued for the lock; else None: the caller reads. The read runs again at the batch's end."""
        now = self._now
        key = (statement, *[value for value in params.values() if value is not now])
        try:
            hash(key)
        except TypeError:  # a parameter that cannot be a key: never kept
            return None
        kept = self._kept.get(key) if guessing else None
        args = statement.parameters(params)
        if len(self._again) < READ_AGAIN:
            self._again.setdefault(key, (statement, args))
        if kept is None:
            return None
        self._checks.append((statement, args, kept[1]))
        return list(kept[0])

    @property
    def unchecked(self) -> bool:
        return bool(self._checks)

    def check(self, connection: Connection) -> None:
        """Queue the checks of the reads answered so far, right after the lock and the head's."""
        checks, self._checks = self._checks, []
        for statement, args, digest in checks:
            self._guesses.expect(connection, statement, args, digest)

    def read_again(self, connection: Connection) -> None:
        """Queue the batch's reads, after its writes and before its COMMIT (`collect` their rows)."""
        guesses = self._guesses
        self._handles = [
            (key, statement, guesses.read_again(connection, statement, args))
            for key, (statement, args) in self._again.items()
        ]

    def collect(self) -> None:
        """Once the pipeline of `read_again` has ended: what its reads found, in `found`."""
        kept = self._guesses.kept
        for key, statement, handle in self._handles:
            rows, digest = kept(statement, handle)
            if len(rows) <= KEPT_ROWS:
                self.found[key] = (rows, digest)
