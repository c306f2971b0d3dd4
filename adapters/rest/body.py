"""Request bodies and paths, before routing: raw paths, the size limit, gzip.

- Path: Starlette routes on the *decoded* path, so an id holding `%2F` would split into two
  segments. This middleware routes on the raw (still percent-encoded) path instead; the `seg`
  and `rest` convertors (`adapters.rest.paths`) decode each segment once: `a%2Fb` is one id `a/b`.
- Size: a body over `[limits].max_body_bytes` is refused with 413 before it is read whole
  (Content-Length checked first, then bytes counted as they arrive).
- Encoding: `Content-Encoding: gzip` (the Rust Distri client sends images that way) or `deflate`
  bodies are inflated here, bounded by the same limit (no zip bombs); routes see plain bodies.
  The body must be exactly one compressed stream: truncated data, a second gzip member or bytes
  after the end are refused (400), never partly stored.
"""

from __future__ import annotations

import zlib
from typing import Any
from urllib.parse import quote

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from session_engine.adapters.http_body import announced_too_large
from session_engine.adapters.rest.errors import error_response

_SAFE = "/%:@!$&'()*+,;=-._~"
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_ENCODINGS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


class _Refused(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def routing_path(scope: Scope) -> str:
    """The path routes match on: the raw path, still percent-encoded (normalised by `quote`)."""
    raw = scope.get("raw_path")
    return quote(raw, safe=_SAFE) if raw else str(scope["path"])


class BodyAndPath:
    """Pure ASGI middleware (cheap on the hot path: GETs only get their path swapped)."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.limit = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope.get("raw_path"):
            scope = {**scope, "path": routing_path(scope)}
        if scope["method"] not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        read = await self.read(scope, receive, send)
        if read is None:
            return
        body, scope = read
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def read(self, scope: Scope, receive: Receive, send: Send) -> tuple[bytes, Scope] | None:
        """The whole (inflated) body and the scope the route sees (`scope["path"]` is already the
        routing path), or None once a refusal is answered (`adapters.rest.hot` calls it directly)."""
        try:
            return await self._read(scope, receive)
        except _Refused as refused:
            response = error_response(scope["path"], refused.status, refused.code, refused.message)
            await response(scope, receive, send)
            return None

    def _too_large(self) -> _Refused:
        return _Refused(413, "payload_too_large", f"the request body exceeds {self.limit} bytes")

    async def _read(self, scope: Scope, receive: Receive) -> tuple[bytes, Scope]:
        headers: list[tuple[bytes, bytes]] = scope["headers"]
        encoding = None
        for name, value in headers:
            if name == b"content-encoding":
                encoding = value.decode("latin-1").strip().lower()
        if announced_too_large(headers, self.limit):
            raise self._too_large()
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _Refused(400, "client_disconnected", "the client went away")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                raise self._too_large()
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if encoding in (None, "", "identity"):
            return body, scope
        if encoding not in _ENCODINGS:
            raise _Refused(415, "unsupported_encoding", f"unsupported Content-Encoding {encoding!r}")
        body = self._inflate(body, _ENCODINGS[encoding])
        kept = [(n, v) for n, v in headers if n not in (b"content-encoding", b"content-length")]
        kept.append((b"content-length", str(len(body)).encode()))
        new_scope: dict[str, Any] = {**scope, "headers": kept}
        return body, new_scope

    def _inflate(self, body: bytes, wbits: int) -> bytes:
        inflater = zlib.decompressobj(wbits)
        try:
            out = inflater.decompress(body, self.limit + 1)
            if len(out) > self.limit or inflater.unconsumed_tail:
                raise self._too_large()
            out += inflater.flush()
        except zlib.error:
            raise _Refused(400, "bad_encoding", "the request body is not valid compressed data") from None
        if len(out) > self.limit:
            raise self._too_large()
        if not inflater.eof:
            raise _Refused(400, "bad_encoding", "the compressed request body is truncated")
        if inflater.unused_data:
            # A second gzip member or trailing garbage: inflating only the first would drop the
            # rest of what the client sent without a word (one member is one body here).
            raise _Refused(400, "bad_encoding", "the request body has data after its compressed stream")
        return out
