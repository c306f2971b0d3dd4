"""The threads' rows: a posted item -> one `thread_items` row (its text is search's, see
`engine.objects.search.projection`)."""

from __future__ import annotations

from session_engine.engine.events import DomainEvent
from session_engine.engine.log.records import RecordedEvent
from session_engine.engine.objects.batch import ObjectsBatch
from session_engine.engine.objects.threads.events import ThreadItemPosted
from session_engine.engine.projections.base import RowsHandler


def posted(batch: ObjectsBatch, event: RecordedEvent) -> None:
    data = event.data
    item = {
        "object_id": data["object_id"],
        "seq": event.position,
        "item_id": data["item_id"],
        "created_at": event.recorded_at,
        "user_id": data.get("user_id"),
        "content": data["content"],
        "parent_id": data.get("parent_id"),
        "item_metadata": data.get("metadata"),
    }
    batch.add_child(batch.items, (data["object_id"], event.position), item)


HANDLERS: dict[type[DomainEvent], RowsHandler[ObjectsBatch]] = {ThreadItemPosted: posted}
"""Which rows each event of the subdomain makes."""
