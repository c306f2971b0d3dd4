"""The objects projection's batch: each table's writes folded by the framework, then written once.

`ObjectsProjection.apply` (engine/objects/projection.py) runs the subdomains' handlers against an
`ObjectsBatch` and drains it once: live, the events of a batch of commands (the projection is
stream-local); in a replay, a whole page of the log.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from session_engine.engine.objects.envelopes.tables import object_messages, session_objects
from session_engine.engine.objects.graphs.operations import Element
from session_engine.engine.objects.graphs.tables import graph_elements, vertex_labels
from session_engine.engine.objects.graphs.view import GraphView
from session_engine.engine.objects.search.tables import messages
from session_engine.engine.objects.threads.tables import thread_items
from session_engine.engine.projections.base import Bulk, ProjectionContext, WriteBatch
from session_engine.engine.projections.folding import KeyedRows, Rounds

ObjectKey = tuple[str, str, str]
"""(namespace, session_id, alias): a `session_objects` row."""
Row = dict[str, Any]


class ObjectsBatch(WriteBatch):
    """One batch of the objects projection's writes, in the framework's folds.

    The tables do not refer to each other and no handler reads them, except a graph mutation, which
    reads the graph through `graphs` (`GraphView`). So each table's rows are a function of its own
    writes in order, and these fold:

    - `session_objects`: rows created in the batch in `objects` (`KeyedRows`), inserted once in their
      final state; stored rows deleted there too (before anything else is written), and touched in
      `touches` (`Rounds`: a row's successive touches with nothing between are one update; an update
      of a row deleted in the same batch matches nothing, as it would have come before the delete);
    - children (`object_messages`, `messages`, `thread_items`, graph elements): `KeyedRows` grouped
      by object, so a delete of the object drops the batch's pending rows and deletes the stored
      ones (none for an object created in the batch); graph elements are written once, in their
      final state, after deleting the stored row of each touched one. Vertex labels follow their
      elements' rows.
    """

    def __init__(self, target: ProjectionContext) -> None:
        super().__init__(target)
        self.objects: KeyedRows[Row] = KeyedRows()
        self.touches = Rounds()
        self.created: set[int] = set()
        """Objects created in this batch: nothing of theirs is stored yet."""
        self.object_messages: KeyedRows[Row] = KeyedRows()
        self.messages: KeyedRows[Row] = KeyedRows()
        self.items: KeyedRows[Row] = KeyedRows()
        self.elements: KeyedRows[Element] = KeyedRows()
        self.graphs = GraphView(target.read, self.elements, self.created)

    def add_child(self, rows: KeyedRows[Row], key: tuple[Any, ...], row: Row) -> None:
        """A child row of the object `row["object_id"]` (its messages, items or message rows)."""
        rows.put(key, row, group=(row["object_id"],))

    def create_object(self, key: ObjectKey, row: Row) -> None:
        self.objects.put(key, row)
        self.created.add(row["object_id"])

    def delete_object(self, key: ObjectKey, object_id: int, object_type: str) -> None:
        """The object goes, and its children with it, whichever subdomain wrote them."""
        stored = object_id not in self.created
        for rows in self._children(object_type):
            rows.clear((object_id,), stored=stored)
        if object_type == "graph":
            self.graphs.forget(object_id, stored=stored)
        if stored:
            self.objects.delete(key)
        else:
            self.objects.discard(key)

    def _children(self, object_type: str) -> tuple[KeyedRows[Row], ...]:
        if object_type == "messages":
            return (self.object_messages, self.messages)
        if object_type == "thread":
            return (self.items, self.messages)
        if object_type == "message":
            return (self.messages,)
        return ()

    def touch_object(self, key: ObjectKey, object_id: int, value: Any, at: datetime, position: int) -> None:
        """A re-upload that keeps the object (and its children): its new value, instant and position."""
        pending = self.objects.rows.get(key)
        if pending is not None:
            pending.update(value=value, updated_at=at, position=position)
            return
        where = {"ns": key[0], "sid": key[1], "al": key[2]}
        params = {**where, "v": value, "at": at, "pos": position}
        self.touches.add(_touch_object, params, (key, object_id), fold=("v", "at", "pos"))

    def touch_appended(self, key: ObjectKey, object_id: int, at: datetime, position: int) -> None:
        """Messages appended to the object: its new instant and position."""
        pending = self.objects.rows.get(key)
        if pending is not None and pending["object_id"] == object_id:
            pending.update(updated_at=at, position=position)
            return
        params = {"oid": object_id, "at": at, "pos": position}
        self.touches.add(_touch_appended, params, (key, object_id), fold=("at", "pos"))

    # -- to the database --------------------------------------------------------------------
    def drain(self) -> None:
        target = self.target
        stored_instant, stored_json = self.backend.stored_instant, self.backend.stored_json
        instants: dict[datetime, Any] = {}

        def at(instant: datetime) -> Any:
            value = instants.get(instant)
            if value is None:
                value = instants[instant] = stored_instant(instant)
            return value

        _DELETE_OBJECTS.write(target, list(self.objects.deleted))
        self.touches.send(target)
        _OBJECTS.write(
            target,
            [
                (
                    *key,
                    row["object_id"],
                    row["type"],
                    stored_json(row["value"]),
                    at(row["created_at"]),
                    at(row["updated_at"]),
                    row["position"],
                )
                for key, row in self.objects.rows.items()
            ],
        )
        _write(
            target,
            self.object_messages,
            _OBJECT_MESSAGES,
            lambda row: (row["object_id"], row["ordinal"], stored_json(row["message"])),
        )
        _write(target, self.messages, _MESSAGES, _message_columns)
        _write(
            target,
            self.items,
            _ITEMS,
            lambda row: (
                row["object_id"],
                row["seq"],
                row["item_id"],
                at(row["created_at"]),
                row["user_id"],
                stored_json(row["content"]),
                row["parent_id"],
                stored_json(row["item_metadata"]),
            ),
        )
        elements = self.elements
        cleared, deleted = list(elements.cleared), list(elements.deleted)
        for table in _GRAPH_TABLES:
            table.by_object.write(target, cleared)
            table.by_key.write(target, deleted)
        alive = [(key[0], element) for key, element in elements.rows.items()]
        _ELEMENTS.write(
            target,
            [
                (
                    object_id,
                    e.element_id,
                    e.type,
                    stored_json(e.labels),
                    e.label,
                    e.from_id,
                    e.to_id,
                    stored_json(e.props),
                    e.rev,
                    at(e.created_at),
                    at(e.updated_at),
                    e.user_id,
                    e.created_seq,
                    e.updated_seq,
                )
                for object_id, e in alive
            ],
        )
        _LABELS.write(
            target,
            [(object_id, label, e.element_id) for object_id, e in alive for label in e.labels or ()],
        )


def _write(
    target: ProjectionContext,
    rows: KeyedRows[Row],
    insert: Bulk,
    columns: Callable[[Row], tuple[Any, ...]],
) -> None:
    """A child table: the stored rows of the objects deleted in the batch go, then the rows are written."""
    _DELETE_BY_OBJECT[insert.table.name].write(target, list(rows.cleared))
    insert.write(target, [columns(row) for row in rows.rows.values()])


class _GraphTable:
    """A graph table's deletes: by object (a deleted graph) and by element (a touched stored one)."""

    def __init__(self, table: sa.Table) -> None:
        self.by_object = Bulk(table, ["object_id"], delete=True)
        self.by_key = Bulk(table, ["object_id", "element_id"], delete=True)


_oid: sa.BindParameter[int] = sa.bindparam("oid")
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
_OBJECTS = Bulk(session_objects, [c.name for c in session_objects.columns])
_DELETE_OBJECTS = Bulk(session_objects, ["namespace", "session_id", "alias"], delete=True)
_OBJECT_MESSAGES = Bulk(object_messages, ["object_id", "ordinal", "message"])
_MESSAGE_COLUMNS = [c.name for c in messages.columns]
_MESSAGES = Bulk(messages, _MESSAGE_COLUMNS)
_ITEMS = Bulk(thread_items, [c.name for c in thread_items.columns])
_DELETE_BY_OBJECT = {
    table.name: Bulk(table, ["object_id"], delete=True) for table in (object_messages, messages, thread_items)
}
_ELEMENTS = Bulk(graph_elements, [c.name for c in graph_elements.columns])
_LABELS = Bulk(vertex_labels, ["object_id", "label", "element_id"])
_GRAPH_TABLES = (_GraphTable(vertex_labels), _GraphTable(graph_elements))


_message_columns = operator.itemgetter(*_MESSAGE_COLUMNS)
