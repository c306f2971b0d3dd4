"""The objects projection: envelopes, messages (+ search rows), thread items and graph elements.

Handlers use only the event (payload, position, recorded_at): live and rebuilt rows are identical.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from engine.log.records import RecordedEvent
from engine.objects import graph_store
from engine.objects.events import (
    GraphMutated,
    MessagesAppended,
    ObjectDeleted,
    ObjectUploaded,
    ThreadItemPosted,
)
from engine.objects.graph_ops import Workspace, parse_stored_operations
from engine.objects.limits import ROW_STRIDE, SEQ_STRIDE
from engine.objects.models import text_of
from engine.objects.tables import (
    FTS_TABLES,
    create_search_index,
    graph_elements,
    messages,
    object_messages,
    session_objects,
    thread_items,
    vertex_labels,
)
from engine.projections.base import Projection, ProjectionContext

ROLES = ("system", "user", "assistant")


class ObjectsProjection(Projection):
    """Runs of posted thread items are written table by table, so each table gets one executemany."""

    def apply(self, context: ProjectionContext, events: Iterable[RecordedEvent]) -> None:
        items: list[dict[str, Any]] = []
        texts: list[dict[str, Any]] = []
        for event in events:
            if event.type == ThreadItemPosted.event_type:
                item, message = _item_rows(event)
                items.append(item)
                if message is not None:
                    texts.append(message)
                continue
            _write_items(context, items, texts)
            super().apply(context, [event])
        _write_items(context, items, texts)


def _write_items(
    context: ProjectionContext, items: list[dict[str, Any]], texts: list[dict[str, Any]]
) -> None:
    for row in items:
        context.execute(_insert_items, row)
    for row in texts:
        context.execute(_insert_messages, row)
    items.clear()
    texts.clear()


projection = ObjectsProjection(
    "objects",
    [session_objects, object_messages, thread_items, graph_elements, vertex_labels, messages],
    extra_ddl=[create_search_index],
    extra_tables=FTS_TABLES,
)

_oid: sa.BindParameter[int] = sa.bindparam("oid")
_eid: sa.BindParameter[str] = sa.bindparam("eid")
_insert_messages = messages.insert()
_insert_object_messages = object_messages.insert()
_insert_items = thread_items.insert()
_insert_elements = graph_elements.insert()
_insert_labels = vertex_labels.insert()
_delete_element = graph_elements.delete().where(
    graph_elements.c.object_id == _oid, graph_elements.c.element_id == _eid
)
_delete_labels = vertex_labels.delete().where(
    vertex_labels.c.object_id == _oid, vertex_labels.c.element_id == _eid
)
_children = {
    "message": (messages,),
    "messages": (object_messages, messages),
    "thread": (thread_items, messages),
    "graph": (graph_elements, vertex_labels),
}
_delete_children = {
    table.name: table.delete().where(table.c.object_id == _oid)
    for tables in _children.values()
    for table in tables
}
_key = (
    session_objects.c.namespace == sa.bindparam("ns"),
    session_objects.c.session_id == sa.bindparam("sid"),
    session_objects.c.alias == sa.bindparam("al"),
)
_touch_object = (
    session_objects.update()
    .where(*_key)
    .values(value=sa.bindparam("v"), updated_at=sa.bindparam("at"), position=sa.bindparam("pos"))
)
_touch_appended = (
    session_objects.update()
    .where(session_objects.c.object_id == _oid)
    .values(updated_at=sa.bindparam("at"), position=sa.bindparam("pos"))
)
_delete_object = session_objects.delete().where(*_key)
_insert_object = session_objects.insert()


def delete_children(context: ProjectionContext, object_id: int, object_type: str) -> None:
    for table in _children.get(object_type, ()):
        context.execute(_delete_children[table.name], {"oid": object_id})


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
    context: ProjectionContext,
    event: RecordedEvent,
    object_id: int,
    alias: str,
    first: int,
    items: list[dict[str, Any]],
) -> None:
    for index, message in enumerate(items):
        context.execute(
            _insert_object_messages, {"object_id": object_id, "ordinal": first + index, "message": message}
        )
    for row in _message_rows(event, object_id, alias, first, items):
        context.execute(_insert_messages, row)


@projection.on(ObjectUploaded)
def _uploaded(context: ProjectionContext, event: RecordedEvent) -> None:
    data = event.data
    alias, value, previous = data["alias"], data["value"], data.get("previous")
    kind = value["type"]
    stored = {k: v for k, v in value.items() if k != "messages"}
    key = {"ns": event.namespace, "sid": event.stream, "al": alias}
    if previous is not None and data.get("keep_children"):
        context.execute(_touch_object, {**key, "v": stored, "at": event.recorded_at, "pos": event.position})
        return
    if previous is not None:
        delete_children(context, previous["object_id"], previous["type"])
        context.execute(_delete_object, key)
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
    context.execute(_insert_object, row)
    if kind == "message":
        for message_row in _message_rows(event, object_id, alias, 0, [value["message"]]):
            context.execute(_insert_messages, message_row)
    elif kind == "messages":
        _add_messages(context, event, object_id, alias, 0, value["messages"])


@projection.on(MessagesAppended)
def _appended(context: ProjectionContext, event: RecordedEvent) -> None:
    data = event.data
    object_id = data["object_id"]
    _add_messages(context, event, object_id, data["alias"], data["first_ordinal"], data["messages"])
    context.execute(_touch_appended, {"oid": object_id, "at": event.recorded_at, "pos": event.position})


@projection.on(ObjectDeleted)
def _deleted(context: ProjectionContext, event: RecordedEvent) -> None:
    data = event.data
    delete_children(context, data["object_id"], data["type"])
    context.execute(_delete_object, {"ns": event.namespace, "sid": event.stream, "al": data["alias"]})


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
    item, message = _item_rows(event)
    context.execute(_insert_items, item)
    if message is not None:
        context.execute(_insert_messages, message)


@projection.on(GraphMutated)
def _mutated(context: ProjectionContext, event: RecordedEvent) -> None:
    data = event.data
    object_id = data["object_id"]
    workspace = Workspace(
        load=lambda ids: graph_store.load(context.read, object_id, ids),
        incident=lambda vertex: graph_store.incident(context.read, object_id, vertex),
    )
    workspace.apply(
        parse_stored_operations(data["operations"]),
        at=event.recorded_at,
        user_id=data.get("user_id"),
        seq_base=event.position * SEQ_STRIDE,
    )
    gone = [{"oid": object_id, "eid": i} for i in workspace.touched if i in workspace.before]
    alive = [e for i in workspace.touched if (e := workspace.elements[i]) is not None]
    for params in gone:
        context.execute(_delete_labels, params)
    for params in gone:
        context.execute(_delete_element, params)
    for element in alive:
        context.execute(_insert_elements, graph_store.to_row(object_id, element))
    for element in alive:
        for label in element.labels or ():
            context.execute(
                _insert_labels, {"object_id": object_id, "label": label, "element_id": element.element_id}
            )
