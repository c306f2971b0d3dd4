"""The bus events a recorded event becomes: (full subject, payload) pairs pushed to subscribers."""

from __future__ import annotations

from typing import Any

from session_engine.adapters.blobhub.events import blobhub_event
from session_engine.adapters.rpc.bus.protocol import OBJECTS_NAMESPACE
from session_engine.engine import RecordedEvent
from session_engine.engine.records.events import ClientAccountChanged

BUS_EVENTS = {ClientAccountChanged.event_type: "session.clientAccount.changed"}
"""Records event type -> Makaio's bus event (its payload: the event's data, whose fields are
already Makaio's names)."""


def bus_event(event: RecordedEvent) -> tuple[str, dict[str, Any]] | None:
    """The Makaio bus event a records event stands for, as (subject, payload); None for the rest."""
    subject = BUS_EVENTS.get(event.type)
    if subject is None:
        return None
    return subject, dict(event.data)


def bus_events(event: RecordedEvent) -> list[tuple[str, dict[str, Any]]]:
    """The bus events (full subject, payload) one recorded event becomes."""
    found: list[tuple[str, dict[str, Any]]] = []
    record = bus_event(event)
    if record is not None:
        found.append(record)
    document = blobhub_event(event)
    if document is not None:
        found.append((f"{OBJECTS_NAMESPACE}.{document['type']}", document))
    return found
