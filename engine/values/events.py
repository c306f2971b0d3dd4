"""The values domain's events. Every change to a session's values is one of these, in its stream.

Stored payloads are history: a change of shape is a new schema version with an upcaster.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from session_engine.engine.events import DomainEvent, EventRegistry


class ValueSet(DomainEvent):
    """A key was written. `expires_at` is absolute (computed when recorded) so replay needs no clock."""

    event_type = "value_set"

    key: str
    value: Any
    size: int
    """Bytes counted against limits (recorded, not recomputed: JSONB may reformat numbers)."""
    expires_at: datetime | None = None
    replaced: bool = False
    """True when a live value was overwritten (it keeps its place in creation order)."""


class ValueDeleted(DomainEvent):
    event_type = "value_deleted"

    key: str


class ValuesCleared(DomainEvent):
    """Every value of the session is gone, expired leftovers included. `keys`: the live ones."""

    event_type = "values_cleared"

    keys: list[str]


class UserPartsCleared(DomainEvent):
    """Every `__user_part_` value is gone, in one step. `keys`: the live ones."""

    event_type = "user_parts_cleared"

    keys: list[str]


class ConnectionSessionOpened(DomainEvent):
    event_type = "connection_session_opened"

    client_id: str


class ConnectionSessionDisconnected(DomainEvent):
    event_type = "connection_session_disconnected"


class ConnectionSessionResumed(DomainEvent):
    event_type = "connection_session_resumed"


class ConnectionSessionEnded(DomainEvent):
    """The session is over and its values are gone. `keys`: the live ones clients last saw."""

    event_type = "connection_session_ended"

    reason: str
    keys: list[str]


class ValuesExpired(DomainEvent):
    """Expired values were purged from the read model. `keys`: those that had expired (invisible
    already: nothing a client sees changes, only the rows go)."""

    event_type = "values_expired"

    keys: list[str]


EVENTS = EventRegistry(
    [
        ValueSet,
        ValueDeleted,
        ValuesCleared,
        UserPartsCleared,
        ValuesExpired,
        ConnectionSessionOpened,
        ConnectionSessionDisconnected,
        ConnectionSessionResumed,
        ConnectionSessionEnded,
    ]
)
"""Every event type of the domain, by its stored name."""
