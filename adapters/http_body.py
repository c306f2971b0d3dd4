"""The request body limit's first check, shared by REST and `POST /rpc`: the announced length.

A body whose `Content-Length` is over `[limits].max_body_bytes` is refused before any of it is
read (the client may not even have sent it: it may be waiting for `100 Continue`); the bytes that do
arrive are still counted, since a chunked body announces nothing.
"""

from __future__ import annotations

from collections.abc import Iterable


def announced_too_large(headers: Iterable[tuple[bytes, bytes]], limit: int) -> bool:
    """True when the raw ASGI headers announce a body over `limit` bytes."""
    for name, value in headers:
        if name == b"content-length":
            return value.isdigit() and int(value) > limit
    return False
