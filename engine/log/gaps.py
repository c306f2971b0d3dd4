"""Removed ranges of the log, as retention records them, so the hash chain stays verifiable across
them (specs/lifecycle.md, "Retention").

Retention deletes events; the first event kept after a removed range still chains from the hash of
the last one removed. Each retention run appends one `retention_run` event (stream `$retention`)
listing every range it removed as `[first, last, hash of last]`. That event is itself on the chain,
after the ranges it names. `verify` meets a gap before it meets the event that explains it, so a
gap is an open obligation until a later marker covers every position of it and its hash makes the
event after the gap check out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

RETENTION_STREAM = "$retention"
"""The system stream, in each namespace, where retention records its runs."""
RETENTION_RUN = "retention_run"
"""The event type that lists the ranges a run removed (field `removed`)."""

Range = tuple[int, int, bytes]
"""A removed range: first position, last position, the chain hash of the event at `last`."""


def ranges_of(positions: list[tuple[int, bytes]]) -> list[Range]:
    """The maximal runs of consecutive positions among the removed events (position, hash), in
    order, each with the hash of its last event."""
    found: list[Range] = []
    for position, digest in sorted(positions):
        if found and found[-1][1] == position - 1:
            found[-1] = (found[-1][0], position, digest)
        else:
            found.append((position, position, digest))
    return found


def encode_ranges(ranges: list[Range]) -> list[list[Any]]:
    return [[first, last, digest.hex()] for first, last, digest in ranges]


@dataclass(slots=True)
class Gap:
    """Positions missing before a stored row: open until a marker vouches for them."""

    first: int
    last: int
    row: tuple[Any, ...]
    """The stored row right after the gap, whose hash must follow from the hash of `last`."""
    head: int
    head_hash: bytes
    """The chain's head before the gap (what a check that fails here reports as reached)."""


class Gaps:
    """The removed ranges markers have vouched for so far, and the gaps still waiting for one."""

    def __init__(self) -> None:
        self._vouched: dict[int, tuple[int, bytes]] = {}
        self.open: list[Gap] = []

    def vouch(self, marker_position: int, data_text: str) -> None:
        """Take the ranges a verified `retention_run` event lists (only ranges before it count)."""
        try:
            removed = orjson.loads(data_text).get("removed") or []
            for first, last, digest in removed:
                if isinstance(first, int) and isinstance(last, int) and first <= last < marker_position:
                    self._vouched[first] = (last, bytes.fromhex(digest))
        except (orjson.JSONDecodeError, AttributeError, TypeError, ValueError):
            return  # a marker that lists nothing usable vouches for nothing: its gaps stay open

    def hash_before(self, gap: Gap) -> bytes | None:
        """The hash of the gap's last position when vouched ranges cover the whole gap, else None."""
        position, digest = gap.first, None
        while position <= gap.last:
            found = self._vouched.get(position)
            if found is None:
                return None
            position, digest = found[0] + 1, found[1]
        return digest if position == gap.last + 1 else None

    def vouched_hash(self, position: int) -> bytes | None:
        """The recorded hash of a removed event at `position`, when a range ends there."""
        for last, digest in self._vouched.values():
            if last == position:
                return digest
        return None
