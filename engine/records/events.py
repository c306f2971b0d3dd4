"""The records domain's events, in the session's own stream (stream = sessionId, namespace = tenant).

Each carries what its projection needs so that replay never reads the read model: the whole record
after the change and the status before it (for the status counts).
"""

from __future__ import annotations

from typing import Any

from session_engine.engine.events import DomainEvent, EventRegistry


class SessionRecordSet(DomainEvent):
    """`set` stored a whole record (created, recreated after a delete, or replaced)."""

    event_type = "session_record_set"

    record: dict[str, Any]
    previous_status: str | None = None
    """None: no record existed (never, or deleted)."""


class SessionRecordUpdated(DomainEvent):
    """`update` changed some fields. `changes`: the fields asked for (null = cleared)."""

    event_type = "session_record_updated"

    changes: dict[str, Any]
    record: dict[str, Any]
    previous_status: str


class SessionRecordDeleted(DomainEvent):
    """The record is gone from every read; this stream keeps its history."""

    event_type = "session_record_deleted"

    status: str


class ClientAccountChanged(DomainEvent):
    """The canonical clientAccountId changed to a non-null account. Its fields are named as in the
    record (stored history keeps them); adapters publish it as it is (the bus: `bus/events.py`)."""

    event_type = "session_client_account_changed"

    sessionId: str  # the record's field names
    clientId: str | None = None
    previousClientAccountId: str | None = None
    clientAccountId: str
    source: str | None = None
    observedAt: int | float | None = None
    lastClientIdentityObservation: dict[str, Any] | None = None


EVENTS = EventRegistry([SessionRecordSet, SessionRecordUpdated, SessionRecordDeleted, ClientAccountChanged])
"""Every event type of the records domain."""
