"""The search read model's rows: every message and every thread item with text -> one `messages`
row (the full-text index and the term index follow it by triggers, `engine.objects.search.tables`
and `terms`). It has no events of its own: it reads the envelopes' and the threads'."""

from __future__ import annotations

from typing import Any

from session_engine.engine.events import DomainEvent
from session_engine.engine.log.records import RecordedEvent
from session_engine.engine.objects.batch import ObjectsBatch
from session_engine.engine.objects.envelopes.events import MessagesAppended, ObjectUploaded
from session_engine.engine.objects.limits import ROW_STRIDE
from session_engine.engine.objects.models import text_of
from session_engine.engine.objects.threads.events import ThreadItemPosted
from session_engine.engine.projections.base import RowsHandler

ROLES = ("system", "user", "assistant")


def _message_rows(
    batch: ObjectsBatch, event: RecordedEvent, object_id: int, first: int, items: list[dict[str, Any]]
) -> None:
    for index, message in enumerate(items):
        row = {
            "id": event.position * ROW_STRIDE + index,
            "object_id": object_id,
            "namespace": event.namespace,
            "session_id": event.stream,
            "source_alias": event.data["alias"],
            "ordinal": first + index,
            "role": message.get("role"),
            "text": text_of(message.get("content", [])),
            "position": event.position,
        }
        batch.add_child(batch.messages, (row["id"],), row)


def uploaded(batch: ObjectsBatch, event: RecordedEvent) -> None:
    value = event.data["value"]
    if value["type"] == "message":
        _message_rows(batch, event, event.position, 0, [value["message"]])
    elif value["type"] == "messages":
        _message_rows(batch, event, event.position, 0, value["messages"])


def appended(batch: ObjectsBatch, event: RecordedEvent) -> None:
    data = event.data
    _message_rows(batch, event, data["object_id"], data["first_ordinal"], data["messages"])


def posted(batch: ObjectsBatch, event: RecordedEvent) -> None:
    """An item's text is searchable as a message (its role from its metadata, when it names one)."""
    data = event.data
    if not any(block.get("type") == "text" for block in data["content"]):
        return
    role = (data.get("metadata") or {}).get("role")
    row = {
        "id": event.position * ROW_STRIDE,
        "object_id": data["object_id"],
        "namespace": event.namespace,
        "session_id": event.stream,
        "source_alias": data["alias"],
        "ordinal": event.position,
        "role": role if role in ROLES else None,
        "text": text_of(data["content"]),
        "position": event.position,
    }
    batch.add_child(batch.messages, (row["id"],), row)


HANDLERS: dict[type[DomainEvent], RowsHandler[ObjectsBatch]] = {
    ObjectUploaded: uploaded,
    MessagesAppended: appended,
    ThreadItemPosted: posted,
}
"""Which rows each event makes in the search read model."""
