"""The protocol options a server may legitimately choose, so the kit tests a server as configured.

Defaults are the protocols' own (specs/websocket.md, specs/rest.md): a server configured otherwise
is checked by passing its values (`session-engine conformance --max-entries 32 ...`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal


@dataclass(frozen=True)
class Policy:
    """One session kind's limits, in the shape `models.values.Model` reads."""

    strings_only: bool
    default_ttl: timedelta | None
    max_entries: int | None
    max_total_bytes: int | None
    max_value_bytes: int | None


@dataclass(frozen=True)
class Options:
    ws_max_entries: int = 64
    """Live keys per websocket session (702 past it)."""
    ws_max_bytes: int = 16384
    """UTF-8 bytes of a websocket session's live values (701 past it)."""
    ws_default_ttl: float = 72 * 3600
    """Seconds a value set with a TTL <= 0 lives."""
    distri_max_entries: int = 10_000
    distri_max_value_bytes: int = 8 * 1024 * 1024
    list_page_max: int = 1000
    """The largest `limit` the Distri session listing accepts."""
    revision: str = "default"
    """The BlobHub revision the kit writes its objects in (a revision of the API key's tenant)."""
    second_revision: str = "conformance-b"
    """A second revision of the same tenant, written beside the first: what one holds, the other
    must not show (the same as `revision`: one revision only)."""
    event_wait: float = 5.0
    """Seconds a bus event may take to reach a subscribed peer once the peer's own request has been
    answered (the wait is only spent when an event is missing)."""
    namespace_ids: tuple[str, ...] = field(default=("s1", "s2", "s3"))
    """Session ids the kit writes (prefixed with a per-run token on the value protocols)."""

    def of(self, kind: Literal["connection", "durable"]) -> Policy:
        if kind == "connection":
            ttl = timedelta(seconds=self.ws_default_ttl)
            return Policy(True, ttl, self.ws_max_entries, self.ws_max_bytes, None)
        return Policy(False, None, self.distri_max_entries, None, self.distri_max_value_bytes)
