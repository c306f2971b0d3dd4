"""The statements the objects batch (`engine/objects/batch.py`) writes its tables with.

Core statements for the writes a batch runs one by one (cascades, touches), and `Bulk` driver SQL
for the rows it writes in bulk. Built once per process.
"""

from __future__ import annotations

import operator

import sqlalchemy as sa

from session_engine.engine.objects.envelopes.tables import object_messages, session_objects
from session_engine.engine.objects.graphs.tables import graph_elements, vertex_labels
from session_engine.engine.objects.search.tables import messages
from session_engine.engine.objects.threads.tables import thread_items
from session_engine.engine.projections.base import Bulk

oid: sa.BindParameter[int] = sa.bindparam("oid")
eid: sa.BindParameter[str] = sa.bindparam("eid")
insert_messages = messages.insert()
insert_object_messages = object_messages.insert()
insert_items = thread_items.insert()
insert_elements = graph_elements.insert()
insert_labels = vertex_labels.insert()
delete_element = graph_elements.delete().where(
    graph_elements.c.object_id == oid, graph_elements.c.element_id == eid
)
delete_labels = vertex_labels.delete().where(
    vertex_labels.c.object_id == oid, vertex_labels.c.element_id == eid
)
children = {
    "message": (messages,),
    "messages": (object_messages, messages),
    "thread": (thread_items, messages),
    "graph": (graph_elements, vertex_labels),
}
delete_children = {
    table.name: table.delete().where(table.c.object_id == oid)
    for tables in children.values()
    for table in tables
}
key = (
    session_objects.c.namespace == sa.bindparam("ns"),
    session_objects.c.session_id == sa.bindparam("sid"),
    session_objects.c.alias == sa.bindparam("al"),
)
touch_object = (
    session_objects.update()
    .where(*key)
    .values(value=sa.bindparam("v"), updated_at=sa.bindparam("at"), position=sa.bindparam("pos"))
)
touch_appended = (
    session_objects.update()
    .where(session_objects.c.object_id == oid)
    .values(updated_at=sa.bindparam("at"), position=sa.bindparam("pos"))
)
delete_object = session_objects.delete().where(*key)
insert_object = session_objects.insert()
CHILD_INSERTS = {
    object_messages.name: insert_object_messages,
    messages.name: insert_messages,
    thread_items.name: insert_items,
}
CHILD_TABLES = tuple(CHILD_INSERTS)
OBJECTS = Bulk(session_objects, [c.name for c in session_objects.columns])
OBJECT_MESSAGES = Bulk(object_messages, ["object_id", "ordinal", "message"])
MESSAGE_COLUMNS = [c.name for c in messages.columns]
MESSAGES = Bulk(messages, MESSAGE_COLUMNS)
message_row = operator.itemgetter(*MESSAGE_COLUMNS)
row_key = operator.itemgetter("namespace", "session_id", "alias")
ITEMS = Bulk(thread_items, [c.name for c in thread_items.columns])
ELEMENTS = Bulk(graph_elements, [c.name for c in graph_elements.columns])
LABELS = Bulk(vertex_labels, ["object_id", "label", "element_id"])
DELETE_ELEMENTS = Bulk(graph_elements, ["object_id", "element_id"], delete=True)
DELETE_LABELS = Bulk(vertex_labels, ["object_id", "element_id"], delete=True)
