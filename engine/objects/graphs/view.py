"""The graphs as a batch of the objects projection leaves them: what the graph handler reads.

A graph mutation is replayed on the graph's elements (the same `Workspace` as the decision), so
the projection's handler reads: the elements the batch has written, and the stored ones it has
not touched. `GraphView` answers both from memory after one prefetch per batch, and writes the
touched elements into the batch's element rows (`KeyedRows`: a stored element that a mutation
touched is deleted, then written in its final state, once). A graph the batch created has nothing
stored (its id is its upload's position), so nothing of it is read: in a replay, whose batches fold
many pages, that is most graphs.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator

import sqlalchemy as sa

from session_engine.engine.log.records import RecordedEvent
from session_engine.engine.objects.graphs import store
from session_engine.engine.objects.graphs.events import GraphMutated
from session_engine.engine.objects.graphs.operations import Element
from session_engine.engine.objects.graphs.tables import graph_elements
from session_engine.engine.projections.folding import KeyedRows

ElementKey = tuple[int, str]
"""(object_id, element_id): a `graph_elements` row."""


class GraphView:
    """Each graph's elements as the batch knows them (None: there is none with that id), read from
    `read` where the batch knows nothing yet, and written to `rows`."""

    def __init__(self, read: store.Run, rows: KeyedRows[Element], created: set[int]) -> None:
        self.read = read
        self.rows = rows
        self.created = created
        """Graphs created in the batch (the batch's own set, filled as it applies uploads)."""
        self.known: dict[int, dict[str, Element | None]] = {}
        self.stored: dict[int, set[str]] = {}
        """Each graph's elements that were stored before the batch (among the known ones)."""
        self.forgotten: set[int] = set()
        """Graphs deleted in the batch: nothing of theirs is read from the database any more."""
        self.incident_known: set[tuple[int, str]] = set()
        """(graph, vertex) whose stored edges are all known."""

    def prefetch(self, events: list[RecordedEvent], created: Collection[int] = ()) -> None:
        """Load, in a few queries, the stored elements the batch's graph mutations refer to.

        Again for more events of the same batch (a replay's next page), it reads only what the batch
        does not know yet, and nothing of the graphs the batch deleted (their stored rows are gone)
        or created (before these events, or by them: `created`)."""
        ids: dict[int, dict[str, None]] = {}
        vertices: dict[int, dict[str, None]] = {}
        incident_known = self.incident_known
        for event in events:
            if event.type != GraphMutated.event_type:
                continue
            object_id = event.data["object_id"]
            if object_id in created or self._nothing_stored(object_id):
                continue
            known = self.known.get(object_id, {})
            wanted = ids.setdefault(object_id, {})
            for operation in event.data["operations"]:
                for name in ("element_id", "from_id", "to_id"):
                    if (element_id := operation.get(name)) is not None and element_id not in known:
                        wanted[element_id] = None
                if operation.get("op") == "delete_vertex":
                    vertex = operation["element_id"]
                    if (object_id, vertex) not in incident_known:
                        vertices.setdefault(object_id, {})[vertex] = None
        for object_id, element in _stored(self.read, ids, "element_id"):
            self._learn(object_id, {element.element_id: element})
        for object_id, wanted in ids.items():
            known = self.known.setdefault(object_id, {})
            for element_id in wanted:
                known.setdefault(element_id, None)
        for object_id, element in _stored(self.read, vertices, "from_id", "to_id"):
            self._learn(object_id, {element.element_id: element})
        self.incident_known.update((o, vertex) for o, ends in vertices.items() for vertex in ends)

    def _learn(self, object_id: int, found: dict[str, Element]) -> dict[str, Element | None]:
        """Stored elements read from the database: known from now on, unless the batch knows better."""
        known = self.known.setdefault(object_id, {})
        stored = self.stored.setdefault(object_id, set())
        for element_id, element in found.items():
            if element_id not in known:
                known[element_id] = element
                stored.add(element_id)
        return known

    def load(self, object_id: int, ids: list[str]) -> dict[str, Element]:
        """The elements with these ids, as the batch has left them."""
        known = self.known.setdefault(object_id, {})
        missing = [i for i in ids if i not in known]
        if missing:
            found = {} if self._nothing_stored(object_id) else store.load(self.read, object_id, missing)
            known = self._learn(object_id, found)
            for element_id in missing:
                known.setdefault(element_id, None)
        return {i: element for i in ids if (element := known[i]) is not None}

    def incident(self, object_id: int, vertex: str) -> dict[str, Element]:
        """Every edge from or to a vertex, as the batch has left them."""
        if (object_id, vertex) not in self.incident_known:
            if not self._nothing_stored(object_id):
                self._learn(object_id, store.incident(self.read, object_id, vertex))
            self.incident_known.add((object_id, vertex))
        return {
            element_id: element
            for element_id, element in self.known.get(object_id, {}).items()
            if element is not None and element.type == "edge" and vertex in (element.from_id, element.to_id)
        }

    def _nothing_stored(self, object_id: int) -> bool:
        """The graph has no stored elements the batch has not read: deleted or created in the batch."""
        return object_id in self.forgotten or object_id in self.created

    def write(self, object_id: int, elements: dict[str, Element | None]) -> None:
        """Elements a mutation touched, in their new state (None: deleted)."""
        self.known.setdefault(object_id, {}).update(elements)
        stored, rows, group = self.stored.get(object_id, ()), self.rows, (object_id,)
        for element_id, element in elements.items():
            key = (object_id, element_id)
            if element_id in stored:
                rows.delete(key)
            if element is not None:
                rows.put(key, element, group=group)
            elif element_id not in stored:
                rows.discard(key)

    def forget(self, object_id: int, *, stored: bool) -> None:
        """The graph's object is deleted: all its elements go (the stored ones too, when `stored`)."""
        self.known[object_id] = {}
        self.stored.pop(object_id, None)
        self.rows.clear((object_id,), stored=stored)
        self.forgotten.add(object_id)


def _stored(
    run: store.Run, wanted: dict[int, dict[str, None]], *columns: str
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
                sa.select(ge.object_id, *store.COLUMNS).where(ge.object_id.in_(some), ge[column].in_(chunk))
                for column in columns
            ]
            query = queries[0] if len(queries) == 1 else sa.union_all(*queries)
            for row in run(query):
                yield row[0], store.to_element(row[1:])
