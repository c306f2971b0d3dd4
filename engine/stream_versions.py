"""What the writer knows of each stream between batches: its version, whether its session is
deleted, the cipher sealing it. Valid while nobody else appends to the log (engine/batches.py
drops it when the head moved behind the writer's back)."""

from __future__ import annotations

import itertools

from cryptography.hazmat.primitives.ciphers.aead import AESGCM


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

    def clear(self) -> None:
        self._versions.clear()
        self._deleted.clear()
        self.ciphers.clear()
