"""Translate the objects domain's log events into BlobHub events (a pure function).

Adapters feed `engine.subscribe(...)` through `blobhub_event`; the event `id` is the log position,
so a client can resume after the last id it saw.
"""

from __future__ import annotations

from typing import Any

from session_engine.engine.log.records import RecordedEvent
from session_engine.engine.objects.events import (
    GraphMutated,
    MessagesAppended,
    ObjectDeleted,
    ObjectUploaded,
    ThreadItemPosted,
)
from session_engine.engine.objects.state import epoch_ms

EVENT_TYPES = {
    ObjectUploaded.event_type: "session_object_modified",
    MessagesAppended.event_type: "session_object_modified",
    ObjectDeleted.event_type: "session_object_deleted",
    ThreadItemPosted.event_type: "session_thread_item_posted",
    GraphMutated.event_type: "session_graph_changed",
}
"""Log event type -> BlobHub event type (what to pass to `engine.subscribe(types=...)`)."""


def blobhub_event(event: RecordedEvent) -> dict[str, Any] | None:
    """The BlobHub event for a recorded event, or None when it is not an objects event."""
    kind = EVENT_TYPES.get(event.type)
    if kind is None:
        return None
    document: dict[str, Any] = {
        "id": event.position,
        "revision_id": event.namespace,
        "session_id": event.stream,
        "created_at": epoch_ms(event.recorded_at),
        "type": kind,
    }
    alias = event.data["alias"]
    if kind in ("session_object_modified", "session_object_deleted"):
        document["session_object"] = {"alias": alias}
    elif kind == "session_thread_item_posted":
        document.update(alias=alias, item_id=event.data["item_id"])
    else:
        document.update(alias=alias, changes=event.data["changes"])
    return document
