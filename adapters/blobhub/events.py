"""BlobHub's events: the objects domain's recorded events translated (a pure function), and which
subscriptions they fall under.

Adapters feed `engine.subscribe(...)` through `blobhub_event`; the event `id` is the log position,
so a client can resume after the last id it saw. `revision_id` is the event's scope
(`engine.objects.scopes`): the namespace for the namespace's own objects.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from session_engine.engine.clock import as_utc
from session_engine.engine.log.records import RecordedEvent
from session_engine.engine.objects.envelopes.events import MessagesAppended, ObjectDeleted, ObjectUploaded
from session_engine.engine.objects.graphs.events import GraphMutated
from session_engine.engine.objects.scopes import owner_of
from session_engine.engine.objects.threads.events import ThreadItemPosted


def epoch_ms(instant: datetime) -> int:
    """BlobHub's event instants: milliseconds since the epoch."""
    return int(as_utc(instant).timestamp() * 1000)


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
    revision_id, session_id = owner_of(event.namespace, event.stream)
    document: dict[str, Any] = {
        "id": event.position,
        "revision_id": revision_id,
        "session_id": session_id,
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


class SubscriptionParams(BaseModel):
    """`subscription/add` params: a revision, optionally one session, optionally some event types."""

    model_config = ConfigDict(extra="forbid")
    scope: Literal["revision"] = "revision"
    scope_id: str = Field(min_length=1)
    target: Literal["session"] | None = None
    target_id: str | None = None
    types: list[str] | None = None


def event_matches(event: dict[str, Any], params: SubscriptionParams) -> bool:
    """True when a BlobHub event (`blobhub_event`) falls under a subscription."""
    if event.get("revision_id") != params.scope_id:
        return False
    if (
        params.target == "session"
        and params.target_id is not None
        and event.get("session_id") != params.target_id
    ):
        return False
    return not params.types or event.get("type") in params.types
