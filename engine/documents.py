"""JSON documents that clients hand the engine: one rule for every domain and every adapter.

A document (a value, an object, a thread item, graph operations or a query, a record) follows it:
- **Nesting**: at most `MAX_DEPTH` (64) levels of arrays and objects. Every answer that carries a
  document wraps it in a few levels more, and clients' own parsers stop early (serde_json, which the
  Rust Distri client uses, at 128 levels; Ruby's JSON at 100); orjson cannot write past 254. The
  engine's walks over documents are iterative, so deeper input is refused, never a RecursionError.
- **Integers**: from -2**63 to 2**64 - 1, what a 64-bit integer (signed or unsigned) holds: orjson,
  serde_json and both databases keep these exactly. Others are refused, never rounded to a float.
- Numbers are finite; strings and object keys hold no NUL (U+0000: PostgreSQL text cannot) and
  keys are strings.

Domains apply the rule where documents enter (`problem`, raising their own named errors), so
library callers meet it too. Adapters parse client text with `loads`: orjson, whose own limit is
`PARSER_DEPTH` levels (deeper text is "not valid JSON"), except that it turns integer literals
outside 64 bits into floats (`2**64` would become 1.8446744073709552e+19 and slip through as a
float). So text holding a run of 19 digits or more - the only way to write such an integer, and
rare otherwise - is read again with exact integers, which the rule then refuses.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

MAX_DEPTH = 64
"""Most levels of arrays and objects in one document (`[]` is one level, `[[]]` two)."""
PARSER_DEPTH = 1024
"""orjson refuses text nested deeper than this: such input is not JSON to any adapter."""
MIN_INTEGER = -(2**63)
MAX_INTEGER = 2**64 - 1

_DIGITS_ONLY = bytes(48 if 48 <= byte <= 57 else 32 for byte in range(256))
"""A `bytes.translate` table: every digit becomes "0", every other byte a space."""
_LONG_RUN = b"0" * 19
"""18 digits write at most 10**18 - 1, well inside both bounds: only longer runs need a look."""


class NotJson(ValueError):
    """Text that is not JSON (or nests deeper than `PARSER_DEPTH`); `reason` says why, briefly."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def loads(text: bytes | bytearray | memoryview | str) -> Any:
    """Parse client JSON text, integers exactly. Raises `NotJson` (a ValueError)."""
    try:
        document = orjson.loads(text)
    except orjson.JSONDecodeError as error:
        raise NotJson(_reason(str(error))) from None
    raw = text.encode() if isinstance(text, str) else bytes(text)
    if _LONG_RUN not in raw.translate(_DIGITS_ONLY):  # a C loop: far cheaper than a regex search
        return document
    try:  # the same JSON (orjson accepted it), read by a parser that keeps every integer exact
        return json.loads(raw)
    except (ValueError, RecursionError):
        # Only text nested deeper than Python's stack reaches here: the depth rule refuses it anyway.
        return document


def _reason(message: str) -> str:
    if message.startswith("depth limit exceeded"):
        return f"nested deeper than {PARSER_DEPTH} levels"
    return message


@dataclass(frozen=True, slots=True)
class Breach:
    """Where a document breaks the rule (`path`: keys and indexes from its root) and how."""

    path: tuple[str | int, ...]
    message: str

    def __str__(self) -> str:
        parts = [str(part) for part in self.path]
        where = ".".join(parts) if len(parts) <= 8 else ".".join(parts[:4]) + "..." + ".".join(parts[-2:])
        return f"{where}: {self.message}" if where else self.message


_TOO_DEEP = f"nested deeper than {MAX_DEPTH} levels of arrays and objects"
_NUL = "strings must not contain NUL (U+0000) characters"
_NOT_FINITE = "numbers must be finite"
_KEYS = "object keys must be strings"
_INTEGER = f"integers must lie within {MIN_INTEGER}..{MAX_INTEGER} (64 bits)"


_CONTAINERS = (dict, list, tuple)
"""A tuple, not `dict | list | tuple`: a union is built anew at each call (every value written)."""


def problem(document: Any) -> Breach | None:
    """The first place where `document` breaks the rule, or None. Safe at any depth (no recursion)."""
    if not isinstance(document, _CONTAINERS):
        message = _scalar(document)
        return None if message is None else Breach((), message)
    # Each entry: a container, its level (1 for the root) and how it was reached (for the path).
    stack: list[tuple[Any, int, Any]] = [(document, 1, None)]
    while stack:
        container, level, reached = entry = stack.pop()
        if level > MAX_DEPTH:
            return Breach(_path(reached), _TOO_DEEP)
        if isinstance(container, dict):
            for key in container:
                if not isinstance(key, str):
                    return Breach(_path(reached), _KEYS)
                if "\x00" in key:
                    return Breach((*_path(reached), key), _NUL)
            items: Any = container.items()
        else:
            items = enumerate(container)
        for key, item in items:
            kind = type(item)
            if kind is str:
                if "\x00" in item:
                    return Breach((*_path(reached), key), _NUL)
            elif kind is dict or kind is list or isinstance(item, _CONTAINERS):
                stack.append((item, level + 1, (entry, key)))
            elif kind is not bool and item is not None:
                message = _scalar(item)
                if message is not None:
                    return Breach((*_path(reached), key), message)
    return None


def _scalar(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return None if MIN_INTEGER <= value <= MAX_INTEGER else _INTEGER
    if isinstance(value, float):
        return None if math.isfinite(value) else _NOT_FINITE
    if isinstance(value, str):
        return _NUL if "\x00" in value else None
    return None  # other Python objects (datetimes, models...): the encoder decides


def _path(reached: Any) -> tuple[str | int, ...]:
    keys: list[str | int] = []
    while reached is not None:
        parent, key = reached
        keys.append(key)
        reached = parent[2]
    return tuple(reversed(keys))


def has_nul(value: Any) -> bool:
    """True when a string, or any string or key inside a document, holds NUL (any depth)."""
    if type(value) is str:
        return "\x00" in value
    pending: list[Any] = [value]
    while pending:
        current = pending.pop()
        if isinstance(current, str):
            if "\x00" in current:
                return True
        elif isinstance(current, dict):
            pending.extend(current.keys())
            pending.extend(current.values())
        elif isinstance(current, Sequence) and not isinstance(current, bytes | bytearray):
            pending.extend(current)
    return False
