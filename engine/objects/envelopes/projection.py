"""The envelopes' rows: events -> `session_objects` and `object_messages` (`engine.objects.batch`).

Handlers use only the event (payload, position, recorded_at): live and rebuilt rows are identical.
A replaced or deleted object takes its children with it, whichever subdomain wrote them.
"""

from __future__ import annotations

from typing import Any

from session_engine.engine.events import DomainEvent
from session_engine.engine.log.records import RecordedEvent
from session_engine.engine.objects.batch import ObjectsBatch
from session_engine.engine.objects.envelopes.events import MessagesAppended, ObjectDeleted, ObjectUploaded
from session_engine.engine.projections.base import RowsHandler


def _add_messages(batch: ObjectsBatch, object_id: int, first: int, items: list[dict[str, Any]]) -> None:
    for index, message in enumerate(items):
        ordinal = first + index
        row = {"object_id": object_id, "ordinal": ordinal, "message": message}
        batch.add_child(batch.object_messages, (object_id, ordinal), row)


def created_by(event: RecordedEvent) -> int | None:
    """The object an upload creates: its id is the upload's position (None: it keeps the object)."""
    data = event.data
    if data.get("previous") is not None and data.get("keep_children"):
        return None
    return event.position


def uploaded(batch: ObjectsBatch, event: RecordedEvent) -> None:
    data = event.data
    alias, value, previous = data["alias"], data["value"], data.get("previous")
    key = (event.namespace, event.stream, alias)
    stored = {k: v for k, v in value.items() if k != "messages"}
    object_id = created_by(event)
    if object_id is None:  # a re-upload that keeps the object: `previous` names it
        assert previous is not None
        batch.touch_object(key, previous["object_id"], stored, event.recorded_at, event.position)
        return
    if previous is not None:
        batch.delete_object(key, previous["object_id"], previous["type"])
    row = {
        "namespace": event.namespace,
        "session_id": event.stream,
        "alias": alias,
        "object_id": object_id,
        "type": value["type"],
        "value": stored,
        "created_at": event.recorded_at,
        "updated_at": event.recorded_at,
        "position": event.position,
    }
    batch.create_object(key, row)
    if value["type"] == "messages":
        _add_messages(batch, object_id, 0, value["messages"])


def appended(batch: ObjectsBatch, event: RecordedEvent) -> None:
    data = event.data
    object_id = data["object_id"]
    _add_messages(batch, object_id, data["first_ordinal"], data["messages"])
    key = (event.namespace, event.stream, data["alias"])
    batch.touch_appended(key, object_id, event.recorded_at, event.position)


def deleted(batch: ObjectsBatch, event: RecordedEvent) -> None:
    data = event.data
    batch.delete_object((event.namespace, event.stream, data["alias"]), data["object_id"], data["type"])


HANDLERS: dict[type[DomainEvent], RowsHandler[ObjectsBatch]] = {
    ObjectUploaded: uploaded,
    MessagesAppended: appended,
    ObjectDeleted: deleted,
}
"""Which rows each event of the subdomain makes."""
