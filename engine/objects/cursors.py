"""Opaque page cursors: the position-derived key of the last row returned, never a timestamp.

Format (documented in specs/objects.md, opaque to clients): base64url of `"<kind>.<order>.<key>"`,
kind `t` thread items, `g` graph elements by creation, `u` by update, `n` neighbors; order `a`/`d`.
"""

from __future__ import annotations

import base64
import binascii

from session_engine.engine.log.bounds import MAX_BIGINT
from session_engine.engine.objects.errors import InvalidCursor


def encode(kind: str, ascending: bool, key: int) -> str:
    raw = f"{kind}.{'a' if ascending else 'd'}.{key}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(cursor: str | None, kind: str, ascending: bool) -> int | None:
    """The key after which the next page starts; `invalid_cursor` if it is not one of ours for this list."""
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        found_kind, order, key = raw.split(".")
        value = int(key)
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise InvalidCursor("malformed cursor") from None
    if found_kind != kind or order != ("a" if ascending else "d") or not 0 <= value <= MAX_BIGINT:
        raise InvalidCursor("this cursor belongs to a different listing or order")
    return value
