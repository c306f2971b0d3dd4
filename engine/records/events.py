"""The records domain's events, in the session's own stream (stream = sessionId, namespace = tenant).

Each carries what its projection needs so that replay never reads the read model: the whole record
after the change and the status before it (for the status counts).
"""

from __future__ import annotations

from typing import Any

from session_engine.engine.events import DomainEvent, EventRegistry
from session_engine.engine.log.records import RecordedEvent


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
    """The canonical clientAccountId changed to a non-null account: Makaio's bus event, verbatim."""

    event_type = "session_client_account_changed"

    sessionId: str  # the bus payload's own field names
    clientId: str | None = None
    previousClientAccountId: str | None = None
    clientAccountId: str
    source: str | None = None
    observedAt: int | float | None = None
    lastClientIdentityObservation: dict[str, Any] | None = None


registry = EventRegistry([SessionRecordSet, SessionRecordUpdated, SessionRecordDeleted, ClientAccountChanged])

BUS_EVENTS = {ClientAccountChanged.event_type: "session.clientAccount.changed"}


def bus_event(event: RecordedEvent) -> tuple[str, dict[str, Any]] | None:
    """The Makaio bus event a recorded event stands for, as (subject, payload); None for the rest."""
    subject = BUS_EVENTS.get(event.type)
    if subject is None:
        return None
    return subject, dict(event.data)
