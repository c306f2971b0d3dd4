"""One batch of the objects projection's writes, folded in memory and written table by table.

`ObjectsProjection.apply` (engine/objects/projection.py) runs its handlers against an `ObjectsBatch`
and drains it once: live, the events of a batch of commands (the projection is stream-local); in a
replay, a whole page of the log. The statements it writes with are in `batch_statements`.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from session_engine.engine.log.records import RecordedEvent
from session_engine.engine.objects import batch_statements as sql
from session_engine.engine.objects.envelopes.tables import object_messages
from session_engine.engine.objects.graphs import store as graph_store
from session_engine.engine.objects.graphs.events import GraphMutated
from session_engine.engine.objects.graphs.operations import Element
from session_engine.engine.objects.graphs.tables import graph_elements, vertex_labels
from session_engine.engine.objects.search.tables import messages
from session_engine.engine.objects.threads.tables import thread_items
from session_engine.engine.projections.base import ProjectionContext, Rounds, WriteBatch

ObjectKey = tuple[str, str, str]
"""(namespace, session_id, alias): a `session_objects` row."""


class ObjectsBatch(WriteBatch):
    """One batch of the objects projection's writes, folded in memory and sent table by table.

    The tables do not refer to each other and no handler reads them, except a graph mutation, which
    reads the graph elements it touches: those come from this batch's own view of each graph (the
    elements as the batch left them; the others as stored before it, prefetched for the whole
    batch). So each table's rows are a function of its own writes in order, and these fold:

    - children (`object_messages`, `messages`, `thread_items`) are only inserted, and deleted by
      object: a delete drops the batch's pending rows of that object and deletes the stored ones
      (none for an object created in the batch), then every pending row is inserted;
    - graph elements and their labels: each touched element's final state, after one delete of
      the stored row (if there was one);
    - `session_objects`: rows created in the batch are inserted once, in their final state; the
      writes to stored rows run in rounds (a row's n-th write in round n; writes to different rows
      commute), so each round is one executemany per statement, and a stored object's successive
      touches with nothing else in between are one update.
    """

    def __init__(self, target: ProjectionContext) -> None:
        super().__init__(target)
        self.created: set[int] = set()
        """Objects created in this batch: nothing of theirs is stored yet."""
        self.children: dict[str, dict[int, list[dict[str, Any]]]] = {name: {} for name in sql.CHILD_TABLES}
        self.wiped: dict[str, dict[int, None]] = {name: {} for name in sql.CHILD_TABLES}
        self.inserts: dict[str, list[dict[str, Any]]] = {name: [] for name in sql.CHILD_TABLES}
        self.dropped: set[int] = set()
        """The `id` of every pending child row that a later delete dropped."""
        self.objects: dict[ObjectKey, dict[str, Any]] = {}
        self.object_keys: dict[int, ObjectKey] = {}
        self.rounds = Rounds()
        """Writes to stored `session_objects` rows, keyed by object key and object id."""
        self.last_touch: dict[int, tuple[int, dict[str, Any]]] = {}
        """Stored object id -> (round, params) of a touch with no write to its row since."""
        self.graphs: dict[int, dict[str, Element | None]] = {}
        """Each graph's elements as this batch knows them (None: there is none with that id)."""
        self.stored: dict[int, set[str]] = {}
        """Each graph's elements that were stored before the batch (among the known ones)."""
        self.dirty: dict[int, dict[str, None]] = {}
        self.graph_wiped: dict[int, None] = {}
        self.incident_known: set[tuple[int, str]] = set()

    # -- children -----------------------------------------------------------------------
    def insert_child(self, table: str, row: dict[str, Any]) -> None:
        self.children[table].setdefault(row["object_id"], []).append(row)
        self.inserts[table].append(row)

    def _pending(self, table: str) -> list[dict[str, Any]]:
        """A child table's pending rows in the order they were written (the deleted ones left out)."""
        dropped = self.dropped
        return (
            [row for row in self.inserts[table] if id(row) not in dropped] if dropped else self.inserts[table]
        )

    def delete_children(self, object_id: int, object_type: str) -> None:
        if object_type == "graph":
            self.graphs[object_id] = {}
            self.stored.pop(object_id, None)
            self.dirty.pop(object_id, None)
            if object_id not in self.created:
                self.graph_wiped[object_id] = None
            return
        for table in sql.children.get(object_type, ()):
            self.dropped.update(id(row) for row in self.children[table.name].pop(object_id, ()))
            if object_id not in self.created:
                self.wiped[table.name][object_id] = None

    # -- session_objects ------------------------------------------------------------------
    def insert_object(self, key: ObjectKey, row: dict[str, Any]) -> None:
        self.objects[key] = row
        self.object_keys[row["object_id"]] = key
        self.created.add(row["object_id"])

    def delete_object(self, key: ObjectKey, object_id: int) -> None:
        pending = self.objects.pop(key, None)
        if pending is not None:
            del self.object_keys[pending["object_id"]]
            return
        self.last_touch.pop(object_id, None)
        where = {"ns": key[0], "sid": key[1], "al": key[2]}
        self.rounds.add(sql.delete_object, where, (key, object_id))

    def touch_object(self, key: ObjectKey, object_id: int, value: Any, at: datetime, position: int) -> None:
        pending = self.objects.get(key)
        if pending is not None:
            pending.update(value=value, updated_at=at, position=position)
            return
        self.last_touch.pop(object_id, None)
        where = {"ns": key[0], "sid": key[1], "al": key[2]}
        self.rounds.add(sql.touch_object, {**where, "v": value, "at": at, "pos": position}, (key, object_id))

    def touch_appended(self, key: ObjectKey, object_id: int, at: datetime, position: int) -> None:
        pending_key = self.object_keys.get(object_id)
        if pending_key is not None:
            self.objects[pending_key].update(updated_at=at, position=position)
            return
        last = self.last_touch.get(object_id)
        rounds = self.rounds
        if last is not None and rounds.round_of(key) == last[0] == rounds.round_of(object_id):
            last[1].update(at=at, pos=position)
            return
        params = {"oid": object_id, "at": at, "pos": position}
        self.last_touch[object_id] = (rounds.add(sql.touch_appended, params, (key, object_id)), params)

    # -- graphs ---------------------------------------------------------------------------
    def prefetch_graphs(self, events: list[RecordedEvent]) -> None:
        """Load, in a few queries, the stored elements the batch's graph mutations refer to."""
        ids: dict[int, dict[str, None]] = {}
        vertices: dict[int, dict[str, None]] = {}
        for event in events:
            if event.type != GraphMutated.event_type:
                continue
            object_id = event.data["object_id"]
            wanted = ids.setdefault(object_id, {})
            for operation in event.data["operations"]:
                for name in ("element_id", "from_id", "to_id"):
                    if (element_id := operation.get(name)) is not None:
                        wanted[element_id] = None
                if operation.get("op") == "delete_vertex":
                    vertices.setdefault(object_id, {})[operation["element_id"]] = None
        read = self.target.read
        for object_id, element in _stored(read, ids, "element_id"):
            self._known(object_id, {element.element_id: element})
        for object_id, wanted in ids.items():
            known = self.graphs.setdefault(object_id, {})
            for element_id in wanted:
                known.setdefault(element_id, None)
        for object_id, element in _stored(read, vertices, "from_id", "to_id"):
            self._known(object_id, {element.element_id: element})
        self.incident_known.update((o, vertex) for o, ends in vertices.items() for vertex in ends)

    def _known(self, object_id: int, found: dict[str, Element]) -> dict[str, Element | None]:
        known = self.graphs.setdefault(object_id, {})
        stored = self.stored.setdefault(object_id, set())
        for element_id, element in found.items():
            if element_id not in known:
                known[element_id] = element
                stored.add(element_id)
        return known

    def graph_load(self, object_id: int, ids: list[str]) -> dict[str, Element]:
        """The elements with these ids, as the batch has left them."""
        known = self.graphs.setdefault(object_id, {})
        missing = [i for i in ids if i not in known]
        if missing:
            found = (
                {}
                if object_id in self.graph_wiped
                else graph_store.load(self.target.read, object_id, missing)
            )
            known = self._known(object_id, found)
            for element_id in missing:
                known.setdefault(element_id, None)
        return {i: element for i in ids if (element := known[i]) is not None}

    def graph_incident(self, object_id: int, vertex: str) -> dict[str, Element]:
        """Every edge from or to a vertex, as the batch has left them."""
        if (object_id, vertex) not in self.incident_known:
            if object_id not in self.graph_wiped:
                self._known(object_id, graph_store.incident(self.target.read, object_id, vertex))
            self.incident_known.add((object_id, vertex))
        return {
            element_id: element
            for element_id, element in self.graphs[object_id].items()
            if element is not None and element.type == "edge" and vertex in (element.from_id, element.to_id)
        }

    def graph_write(self, object_id: int, elements: dict[str, Element | None]) -> None:
        self.graphs[object_id].update(elements)
        self.dirty.setdefault(object_id, {}).update(dict.fromkeys(elements))

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

        self.rounds.send(target)
        sql.OBJECTS.write(
            target,
            [
                (
                    *sql.row_key(row),
                    row["object_id"],
                    row["type"],
                    stored_json(row["value"]),
                    at(row["created_at"]),
                    at(row["updated_at"]),
                    row["position"],
                )
                for row in self.objects.values()
            ],
        )
        for name in sql.CHILD_TABLES:
            for object_id in self.wiped[name]:
                target.execute(sql.delete_children[name], {"oid": object_id})
        sql.OBJECT_MESSAGES.write(
            target,
            [
                (row["object_id"], row["ordinal"], stored_json(row["message"]))
                for row in self._pending(object_messages.name)
            ],
        )
        sql.MESSAGES.write(target, [sql.message_row(row) for row in self._pending(messages.name)])
        sql.ITEMS.write(
            target,
            [
                (
                    row["object_id"],
                    row["seq"],
                    row["item_id"],
                    at(row["created_at"]),
                    row["user_id"],
                    stored_json(row["content"]),
                    row["parent_id"],
                    stored_json(row["item_metadata"]),
                )
                for row in self._pending(thread_items.name)
            ],
        )
        for table in (vertex_labels, graph_elements):
            for object_id in self.graph_wiped:
                target.execute(sql.delete_children[table.name], {"oid": object_id})
        gone = [
            (object_id, element_id)
            for object_id, elements in self.dirty.items()
            for element_id in elements
            if element_id in self.stored.get(object_id, ())
        ]
        sql.DELETE_LABELS.write(target, gone)
        sql.DELETE_ELEMENTS.write(target, gone)
        alive = [
            (object_id, element)
            for object_id, elements in self.dirty.items()
            for element_id in elements
            if (element := self.graphs[object_id][element_id]) is not None
        ]
        sql.ELEMENTS.write(
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
        sql.LABELS.write(
            target,
            [(object_id, label, e.element_id) for object_id, e in alive for label in e.labels or ()],
        )


def _stored(
    run: graph_store.Run, wanted: dict[int, dict[str, None]], *columns: str
) -> Iterator[tuple[int, Element]]:
    """Stored elements of these graphs whose `columns` hold one of the graph's wanted ids, and maybe
    a few more (a query per 500 graphs and 500 ids, not one per graph)."""
    objects = list(wanted)
    ids = list({element_id: None for each in wanted.values() for element_id in each})
    ge = graph_elements.c
    for first in range(0, len(objects), 500):
        some = objects[first : first + 500]
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            queries = [
                sa.select(ge.object_id, *graph_store.COLUMNS).where(
                    ge.object_id.in_(some), ge[column].in_(chunk)
                )
                for column in columns
            ]
            query = queries[0] if len(queries) == 1 else sa.union_all(*queries)
            for row in run(query):
                yield row.object_id, graph_store.to_element(row)
