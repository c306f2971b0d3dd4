"""The objects domain's events as stored in the log. Stream = session id, namespace = revision_id.

Each carries everything its projection and its BlobHub event need: ids chosen by the decision,
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


class ThreadItemPosted(DomainEvent):
    event_type = "objects.thread_item_posted"
    alias: str
    object_id: int
    item_id: str
    user_id: str | None = None
    content: list[dict[str, Any]]
    parent_id: str | None = None
    metadata: dict[str, Any] | None = None


class GraphMutated(DomainEvent):
    """A whole batch: the operations (add ids filled in) and the resulting per-element changes."""

    event_type = "objects.graph_mutated"
    alias: str
    object_id: int
    user_id: str | None = None
    operations: list[dict[str, Any]]
    changes: list[dict[str, Any]]


events = EventRegistry([ObjectUploaded, ObjectDeleted, MessagesAppended, ThreadItemPosted, GraphMutated])
