"""The one rule for identifiers: namespaces, session (stream) ids, keys of indexed rows, aliases.

An identifier is stored in an indexed text column on both backends and compared there, so it must
be a string of 1 to `MAX_ID` characters without NUL (PostgreSQL text cannot hold U+0000) and
without lone surrogates (no database stores text that is not UTF-8). A domain
may add a rule of its own on top (objects also refuse control characters), but this one is
checked here and nowhere else; adapters do not check it again: they map the domain's error.

A stream id starting with `SYSTEM_PREFIX` names one of the engine's own streams (retention's
`$retention`): anyone may read it, no client may write to it or delete it (`check_writable`, which
the write path applies to every command, whichever adapter or engine call sent it).
"""

from __future__ import annotations

from session_engine.engine.errors import EngineError, ReservedStream, ValidationFailed

MAX_ID = 200
"""Characters in an identifier: the width of the log's `namespace` and `stream` columns."""


def check_id(what: str, value: object, error: type[EngineError] = ValidationFailed) -> str:
    """`value` if it is a valid identifier; otherwise `error` naming `what`."""
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_ID:
        raise error(f"{what} must be a string of 1 to {MAX_ID} characters")
    if "\x00" in value:
        raise error(f"{what} must not contain the NUL character")
    if not value.isascii():
        try:
            value.encode()
        except UnicodeEncodeError:
            raise error(f"{what} must be valid Unicode text (no lone surrogates)") from None
    return value


SYSTEM_PREFIX = "$"
"""The first character of the engine's own streams' ids (`$retention`, engine/log/gaps.py)."""


def is_system_stream(stream: str) -> bool:
    """Whether `stream` is reserved for the engine: its events vouch for what the engine did (a
    retention run's removed ranges), so only the engine records them."""
    return stream.startswith(SYSTEM_PREFIX)


def check_writable(namespace: str, stream: str) -> None:
    """Refuse a client's write (or delete) of a system stream: `ReservedStream`."""
    if stream.startswith(SYSTEM_PREFIX):
        raise ReservedStream(namespace, stream)
