"""Sealed payloads: the data of a namespace configured to encrypt, under a key per session.

Erasing a session destroys its key (crypto-shredding, specs/lifecycle.md "Verifiable erasure"): the
stored rows, and the hash chain over them, stay exactly as they were, and what they held can never
be read again. The writer seals as it encodes a row (`UnitOfWork._encode`), so the chain hashes the
ciphertext; every read of the log opens sealed rows here, and an event whose key is gone reads
as `ERASED` (its type, version, time and metadata kept).

Stored forms (the associated data is the event's namespace, stream, version and type in both, so a
ciphertext moved to another event does not open):
- since migration 0015, bytes in the events' `sealed` column: `FORMAT`, the 12-byte nonce, the
  AES-GCM ciphertext and tag; the `data` column holds `STORED_AS_BYTES`. Base64 text cost an append
  more than the encryption itself (docs/benchmarks.md, "Session 10": sealed payloads as bytes).
- before it, JSON text in `data`: `{"$enc": "<base64 of nonce + ciphertext + tag>"}`. Rows written
  so stay so (their chain hashes cover that text; history is never rewritten) and read as before.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterable
from typing import Any

import orjson
import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.engine import Connection

from session_engine.engine.errors import CommandFailed
from session_engine.engine.log.schema import session_keys

SEALED = "$enc"
"""The one key of a sealed payload. Reserved: a payload of exactly this shape is refused as input."""
SEALED_PREFIX = b'{"$enc":'
STORED_AS_BYTES = b'{"$enc":null}'
"""The `data` column of an event whose sealed payload is in the `sealed` column (as bytes)."""
STORED_AS_BYTES_TEXT = STORED_AS_BYTES.decode()
FORMAT = b"\x01"
"""The first byte of sealed bytes: their layout (nonce, then ciphertext and tag). No JSON text
starts with it, so the chain's bytes of a sealed payload never equal those of a JSON document."""
ERASED_FIELD = "erased"
ERASED: dict[str, Any] = {ERASED_FIELD: True}
"""The data of an event whose session was erased (shared: compare with `is`; never mutate it)."""
SESSION_ERASED = "session_erased"
"""The event erasure records (never sealed: its reason is the audit trail's, not the session's)."""

_NONCE = 12
_CIPHERTEXT = len(FORMAT) + _NONCE
_urandom = os.urandom


def associated(namespace: str, stream: str, version: int, type_: str) -> bytes:
    """What a sealed payload is bound to: its event's place in the log and its type."""
    return f"{namespace}\x00{stream}\x00{version}\x00{type_}".encode()


def seal(cipher: AESGCM, data: bytes, bound_to: bytes) -> bytearray:
    """The stored bytes of a sealed payload (`FORMAT`, a fresh nonce, ciphertext and tag). A
    bytearray: the drivers bind it directly, where bytes go through sqlite3's adaptation protocol."""
    nonce = _urandom(_NONCE)
    sealed = bytearray(FORMAT + nonce)
    sealed += cipher.encrypt(nonce, data, bound_to)
    return sealed


def is_sealed(data: Any) -> bool:
    return type(data) is dict and SEALED in data and len(data) == 1


def refuse_reserved(data: bytes) -> bool:
    """Whether plain data would read back as sealed (its only key is `$enc`, whatever its value):
    refused as input. Parsed again only when it starts so, which plain data all but never does."""
    if not data.startswith(SEALED_PREFIX):
        return False
    return is_sealed(orjson.loads(data))


def hashed_data(text: bytes, sealed: bytes | None) -> bytes:
    """The bytes the hash chain covers for an event's data (engine/log/chain.py): its stored JSON
    text, or for a payload stored as bytes (`sealed`), those bytes. ValueError for a row that is
    neither (sealed bytes beside other data, or of another format; data text that is not JSON in
    the way only sealed bytes can be): no row can move its payload from one form to the other and
    keep its hash."""
    if sealed is None:
        if text[:1] == FORMAT:
            raise ValueError("the data holds sealed bytes as text")
        return text
    if text != STORED_AS_BYTES or sealed[:1] != FORMAT:
        raise ValueError("sealed bytes beside data, or of an unknown format")
    return bytes(sealed)


def new_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


_latest_key = (
    sa.select(session_keys.c.since_version, session_keys.c.key)
    .where(
        session_keys.c.namespace == sa.bindparam("namespace"),
        session_keys.c.stream == sa.bindparam("stream"),
    )
    .order_by(session_keys.c.since_version.desc())
    .limit(1)
)


def writer_cipher(connection: Connection, namespace: str, stream: str, version: int, now: Any) -> AESGCM:
    """The cipher that seals the stream's next events (after `version`): its live key, or a new
    key (stored in the caller's transaction) when it has none or its last one was erased."""
    row = connection.execute(_latest_key, {"namespace": namespace, "stream": stream}).first()
    if row is not None and row.key is not None:
        return AESGCM(bytes(row.key))
    key = new_key()
    connection.execute(
        session_keys.insert().values(
            namespace=namespace, stream=stream, since_version=version + 1, key=key, created_at=now
        )
    )
    return AESGCM(key)


class StreamKeys:
    """The keys of some streams, loaded once for a read: opens their sealed payloads."""

    __slots__ = ("_ciphers", "_keys")

    def __init__(self, rows: Iterable[tuple[str, str, int, bytes | None]]) -> None:
        self._keys: dict[tuple[str, str], list[tuple[int, bytes | None]]] = {}
        for namespace, stream, since, key in rows:
            self._keys.setdefault((namespace, stream), []).append((since, key))
        for found in self._keys.values():
            found.sort(reverse=True)
        self._ciphers: dict[bytes, AESGCM] = {}

    @classmethod
    def load(cls, connection: Connection, streams: Iterable[tuple[str, str]]) -> StreamKeys:
        """The keys of these (namespace, stream) pairs: probes of the table's primary key."""
        wanted = sorted(set(streams))
        rows: list[tuple[str, str, int, bytes | None]] = []
        c = session_keys.c
        for start in range(0, len(wanted), 500):
            query = sa.select(c.namespace, c.stream, c.since_version, c.key).where(
                sa.tuple_(c.namespace, c.stream).in_(wanted[start : start + 500])
            )
            for namespace, stream, since, key in connection.execute(query):
                rows.append((namespace, stream, since, None if key is None else bytes(key)))
        return cls(rows)

    def _key(self, namespace: str, stream: str, version: int) -> bytes | None:
        return next((k for since, k in self._keys.get((namespace, stream), ()) if since <= version), None)

    def erased(self, namespace: str, stream: str, version: int) -> bool:
        """Whether the key that sealed this event is gone (the event can never be read again)."""
        return self._key(namespace, stream, version) is None

    def open(
        self,
        namespace: str,
        stream: str,
        version: int,
        type_: str,
        data: dict[str, Any],
        sealed: bytes | None = None,
    ) -> Any:
        """The payload a sealed event holds (`sealed`: its bytes; None: a row stored before 0015,
        whose `data` holds them as base64), or `ERASED` when its key was destroyed."""
        key = self._key(namespace, stream, version)
        if key is None:
            return ERASED
        cipher = self._ciphers.get(key)
        if cipher is None:
            cipher = self._ciphers[key] = AESGCM(key)
        try:
            if sealed is None:
                raw = base64.b64decode(data[SEALED], validate=True)
                nonce, ciphertext = raw[:_NONCE], raw[_NONCE:]
            elif sealed[:1] == FORMAT:
                nonce, ciphertext = sealed[1:_CIPHERTEXT], sealed[_CIPHERTEXT:]
            else:
                raise ValueError(sealed[:1])
            text = cipher.decrypt(nonce, ciphertext, associated(namespace, stream, version, type_))
        except (InvalidTag, TypeError, ValueError):
            raise CommandFailed(
                f"event {namespace}/{stream} version {version} does not open with its session's key"
                " (the stored event or the key was changed)"
            ) from None
        return orjson.loads(text)
