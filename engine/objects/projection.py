"""The objects projection: envelopes, messages (+ search rows), thread items and graph elements.

Handlers use only the event (payload, position, recorded_at): live and rebuilt rows are identical.
"""

from __future__ import annotations

from typing import Any

from session_engine.engine.log.records import RecordedEvent
from session_engine.engine.objects.batch import ObjectsBatch, batch_of
from session_engine.engine.objects.events import (
    GraphMutated,
    MessagesAppended,
    ObjectDeleted,
    ObjectUploaded,
    ThreadItemPosted,
)
from session_engine.engine.objects.graph_ops import Workspace, parse_stored_operations
from session_engine.engine.objects.limits import ROW_STRIDE, SEQ_STRIDE
from session_engine.engine.objects.models import text_of
from session_engine.engine.objects.tables import (
    FTS_TABLES,
    create_search_index,
    graph_elements,
    message_terms,
    messages,
    object_messages,
    session_objects,
    thread_items,
    vertex_labels,
)
from session_engine.engine.objects.terms import create_term_index, ensure_sqlite_function
from session_engine.engine.projections.base import BatchedProjection, ProjectionContext

ROLES = ("system", "user", "assistant")


class ObjectsProjection(BatchedProjection):
    """Applies a batch through `ObjectsBatch`, which folds its writes before any reaches the database.

    Stream-local: its rows are a session's (envelopes, items, graph elements, messages and their
    terms, whose record filters the records' triggers keep equal to the record whichever is written
    first), and objects handlers read only their own session's. A batch of thread posts, which
    read nothing but the (remembered) envelope, is applied once, folded into one insert.
    """

    stream_local = True

    def new_batch(self, context: ProjectionContext, events: list[RecordedEvent]) -> ObjectsBatch:
        ensure_sqlite_function(context.connection)  # the term index's triggers call it (SQLite)
        batch = ObjectsBatch(context)
        batch.prefetch_graphs(events)
        return batch

    def clear(self, context: ProjectionContext) -> None:
        ensure_sqlite_function(context.connection)
        super().clear(context)


# `message_terms` last: cleared first, so deleting the messages has no terms left to decrement.
# Its term rows copy each session's record filters from the records' table (engine/records/term_filters.py).
projection = ObjectsProjection(
    "objects",
    [session_objects, object_messages, thread_items, graph_elements, vertex_labels, messages, message_terms],
    extra_ddl=[create_search_index, create_term_index],
    extra_tables=FTS_TABLES,
    depends_on=["records"],
)


def _message_rows(
    event: RecordedEvent, object_id: int, alias: str, first_ordinal: int, items: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    return [
        {
            "id": event.position * ROW_STRIDE + index,
            "object_id": object_id,
            "namespace": event.namespace,
            "session_id": event.stream,
            "source_alias": alias,
            "ordinal": first_ordinal + index,
            "role": message.get("role"),
            "text": text_of(message.get("content", [])),
            "position": event.position,
        }
        for index, message in enumerate(items)
    ]


def _add_messages(
    batch: ObjectsBatch,
    event: RecordedEvent,
    object_id: int,
    alias: str,
    first: int,
    items: list[dict[str, Any]],
) -> None:
    for index, message in enumerate(items):
        batch.insert_child(
            "object_messages", {"object_id": object_id, "ordinal": first + index, "message": message}
        )
    for row in _message_rows(event, object_id, alias, first, items):
        batch.insert_child("messages", row)


@projection.on(ObjectUploaded)
def _uploaded(context: ProjectionContext, event: RecordedEvent) -> None:
    batch = batch_of(context)
    data = event.data
    alias, value, previous = data["alias"], data["value"], data.get("previous")
    kind = value["type"]
    stored = {k: v for k, v in value.items() if k != "messages"}
    key = (event.namespace, event.stream, alias)
    if previous is not None and data.get("keep_children"):
        batch.touch_object(key, previous["object_id"], stored, event.recorded_at, event.position)
        return
    if previous is not None:
        batch.delete_children(previous["object_id"], previous["type"])
        batch.delete_object(key, previous["object_id"])
    object_id = event.position
    row = {
        "namespace": event.namespace,
        "session_id": event.stream,
        "alias": alias,
        "object_id": object_id,
        "type": kind,
        "value": stored,
        "created_at": event.recorded_at,
        "updated_at": event.recorded_at,
        "position": event.position,
    }
    batch.insert_object(key, row)
    if kind == "message":
        for message_row in _message_rows(event, object_id, alias, 0, [value["message"]]):
            batch.insert_child("messages", message_row)
    elif kind == "messages":
        _add_messages(batch, event, object_id, alias, 0, value["messages"])


@projection.on(MessagesAppended)
def _appended(context: ProjectionContext, event: RecordedEvent) -> None:
    batch = batch_of(context)
    data = event.data
    object_id, alias = data["object_id"], data["alias"]
    _add_messages(batch, event, object_id, alias, data["first_ordinal"], data["messages"])
    batch.touch_appended((event.namespace, event.stream, alias), object_id, event.recorded_at, event.position)


@projection.on(ObjectDeleted)
def _deleted(context: ProjectionContext, event: RecordedEvent) -> None:
    batch = batch_of(context)
    data = event.data
    batch.delete_children(data["object_id"], data["type"])
    batch.delete_object((event.namespace, event.stream, data["alias"]), data["object_id"])


def _item_rows(event: RecordedEvent) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The thread_items row of a posted item, and its messages row when it has text."""
    data = event.data
    object_id = data["object_id"]
    item = {
        "object_id": object_id,
        "seq": event.position,
        "item_id": data["item_id"],
        "created_at": event.recorded_at,
        "user_id": data.get("user_id"),
        "content": data["content"],
        "parent_id": data.get("parent_id"),
        "item_metadata": data.get("metadata"),
    }
    if not any(block.get("type") == "text" for block in data["content"]):
        return item, None
    role = (data.get("metadata") or {}).get("role")
    message = {
        "id": event.position * ROW_STRIDE,
        "object_id": object_id,
        "namespace": event.namespace,
        "session_id": event.stream,
        "source_alias": data["alias"],
        "ordinal": event.position,
        "role": role if role in ROLES else None,
        "text": text_of(data["content"]),
        "position": event.position,
    }
    return item, message


@projection.on(ThreadItemPosted)
def _posted(context: ProjectionContext, event: RecordedEvent) -> None:
    batch = batch_of(context)
    item, message = _item_rows(event)
    batch.insert_child("thread_items", item)
    if message is not None:
        batch.insert_child("messages", message)


@projection.on(GraphMutated)
def _mutated(context: ProjectionContext, event: RecordedEvent) -> None:
    batch = batch_of(context)
    data = event.data
    object_id = data["object_id"]
    workspace = Workspace(
        load=lambda ids: batch.graph_load(object_id, ids),
        incident=lambda vertex: batch.graph_incident(object_id, vertex),
    )
    workspace.apply(
        parse_stored_operations(data["operations"]),
        at=event.recorded_at,
        user_id=data.get("user_id"),
        seq_base=event.position * SEQ_STRIDE,
    )
    batch.graph_write(object_id, {i: workspace.elements[i] for i in workspace.touched})
