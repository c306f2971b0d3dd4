"""The envelopes' events as stored in the log. Stream = the session's (scoped) stream.

Every objects event carries everything its projection and its wire event need: ids chosen by the decision,
the object's surrogate id (`object_id`, the position of the event that created it), and values.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from session_engine.engine.events import DomainEvent, EventRegistry


class PreviousObject(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    object_id: int
    type: str


class ObjectUploaded(DomainEvent):
    """Create or replace an envelope. `keep_children`: same-type thread/graph keeps its items/elements."""

    event_type = "objects.object_uploaded"
    alias: str
    value: dict[str, Any]
    previous: PreviousObject | None = None
    keep_children: bool = False


class ObjectDeleted(DomainEvent):
    event_type = "objects.object_deleted"
    alias: str
    object_id: int
    type: str


class MessagesAppended(DomainEvent):
    event_type = "objects.messages_appended"
    alias: str
    object_id: int
    first_ordinal: int
    messages: list[dict[str, Any]]


EVENTS = EventRegistry([ObjectUploaded, ObjectDeleted, MessagesAppended])
"""Every event type of the subdomain, by its stored name."""
