"""Cache policies: what each kind of session accepts, for how long, and how much of it.

Connection-bound sessions follow the BlazeAuth websocket cache to the letter; durable sessions
(the Distri REST store) take any JSON with generous limits. Both are plain data so a deployment
can configure them (`engine.values.policies = Policies(...)`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal

Kind = Literal["connection", "durable"]

MAX_KEY_BYTES = 512
"""UTF-8 bytes of a key. Keeps (namespace, session, key) inside one PostgreSQL b-tree entry."""

MAX_TTL = timedelta(days=365 * 100)
"""Longer TTLs are refused: the expiry instant must stay a representable date."""


@dataclass(frozen=True)
class Policy:
    kind: Kind
    strings_only: bool
    """True: values must be strings (the websocket cache); False: any JSON."""
    default_ttl: timedelta | None
    """Used when no TTL (or a TTL <= 0) and no expiry instant is given; None: never expires."""
    max_entries: int | None
    """Live keys per session; None: unlimited."""
    max_total_bytes: int | None
    """Sum of live value sizes per session; None: unlimited."""
    max_value_bytes: int | None
    """Size of one value; None: only the total applies."""


CONNECTION = Policy(
    kind="connection",
    strings_only=True,
    default_ttl=timedelta(hours=72),
    max_entries=64,
    max_total_bytes=16384,
    max_value_bytes=None,
)

DURABLE = Policy(
    kind="durable",
    strings_only=False,
    default_ttl=None,
    max_entries=10_000,
    max_total_bytes=None,
    max_value_bytes=8 * 1024 * 1024,
)


@dataclass(frozen=True)
class Policies:
    connection: Policy = field(default=CONNECTION)
    durable: Policy = field(default=DURABLE)

    def of(self, kind: Kind) -> Policy:
        return self.connection if kind == "connection" else self.durable
