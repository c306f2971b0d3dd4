"""Graph reads: get one or many, list (by creation or update), neighbors. Every query is indexed."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from session_engine.engine.clock import as_utc
from session_engine.engine.objects import cursors
from session_engine.engine.objects.answers import ElementPage, Neighborhood
from session_engine.engine.objects.graphs import store as graph_store
from session_engine.engine.objects.graphs.errors import (
    ElementNotFound,
    InvalidGraphEnvelope,
    InvalidGraphQuery,
)
from session_engine.engine.objects.graphs.operations import Element
from session_engine.engine.objects.graphs.tables import graph_elements as ge
from session_engine.engine.objects.graphs.tables import vertex_labels as vl
from session_engine.engine.objects.limits import (
    DEFAULT_GRAPH_PAGE,
    MAX_GET_MANY,
    MAX_NEIGHBOR_SOURCES,
    page_size,
)
from session_engine.engine.objects.state import find_object

Direction = Literal["out", "in", "both"]


def graph_id(connection: Connection, namespace: str, session_id: str, alias: str) -> int:
    """The graph's object id; `invalid_graph_envelope` when the alias is missing or not a graph."""
    graph = find_object(connection.execute, namespace, session_id, alias)
    if graph is None or graph.type != "graph":
        raise InvalidGraphEnvelope(f"{alias!r} is not a graph in this session")
    return graph.object_id


def get_element(
    connection: Connection, namespace: str, session_id: str, alias: str, element_id: str
) -> Element:
    object_id = graph_id(connection, namespace, session_id, alias)
    found = graph_store.load(connection.execute, object_id, [element_id])
    if element_id not in found:
        raise ElementNotFound(element_id)
    return found[element_id]


def get_elements(
    connection: Connection, namespace: str, session_id: str, alias: str, element_ids: list[str]
) -> list[Element]:
    """The elements in the order asked; missing ids are left out."""
    if len(element_ids) > MAX_GET_MANY:
        raise InvalidGraphQuery(f"at most {MAX_GET_MANY} element ids per request")
    object_id = graph_id(connection, namespace, session_id, alias)
    found = graph_store.load(connection.execute, object_id, element_ids)
    return [found[i] for i in dict.fromkeys(element_ids) if i in found]


def list_elements(
    connection: Connection,
    namespace: str,
    session_id: str,
    alias: str,
    *,
    type: Literal["vertex", "edge"] | None = None,
    ascending: bool = False,
    cursor: str | None = None,
    updated_since: datetime | None = None,
    limit: int | None = None,
) -> ElementPage:
    """By creation order, or by update order (strictly after `updated_since`) when that is given."""
    object_id = graph_id(connection, namespace, session_id, alias)
    size = page_size(limit, DEFAULT_GRAPH_PAGE)
    kind = "g" if updated_since is None else "u"
    after = cursors.decode(cursor, kind, ascending)
    query = _page(type is not None, updated_since is not None, ascending, after is not None)
    since = as_utc(updated_since) if updated_since is not None else None
    params = {"oid": object_id, "type": type, "since": since, "after": after, "size": size + 1}
    rows = connection.execute(query, params).all()
    more = len(rows) > size
    elements = [graph_store.to_element(row) for row in rows[:size]]
    last = elements[-1] if elements else None
    cursor = (
        cursors.encode(kind, ascending, last.created_seq if kind == "g" else last.updated_seq)
        if more and last
        else None
    )
    return ElementPage(elements, cursor)


@cache
def _page(typed: bool, updated: bool, ascending: bool, paged: bool) -> sa.Select[Any]:
    """A page of a graph's elements: built once per shape, its values bound (building and keying a
    statement on each call cost more than running it)."""
    key = ge.c.updated_seq if updated else ge.c.created_seq
    query = sa.select(*graph_store.COLUMNS).where(ge.c.object_id == sa.bindparam("oid"))
    if typed:
        query = query.where(ge.c.type == sa.bindparam("type"))
    if updated:
        query = query.where(ge.c.updated_at > sa.bindparam("since", type_=ge.c.updated_at.type))
    if paged:
        after = sa.bindparam("after", type_=key.type)
        query = query.where(key > after if ascending else key < after)
    return query.order_by(key if ascending else key.desc()).limit(sa.bindparam("size", type_=sa.Integer))


def neighbors(
    connection: Connection,
    namespace: str,
    session_id: str,
    alias: str,
    from_ids: list[str],
    *,
    direction: Direction = "both",
    label: str | None = None,
    neighbor_label: str | None = None,
    cursor: str | None = None,
    limit: int | None = None,
) -> Neighborhood:
    """Edges touching `from_ids` (insertion order) and the vertices they reach (deduplicated).

    A page holds up to `limit` edges; `cursor` continues after the last edge returned.
    """
    if direction not in ("out", "in", "both"):
        raise InvalidGraphQuery("direction must be out, in or both")
    if not from_ids or len(from_ids) > MAX_NEIGHBOR_SOURCES:
        raise InvalidGraphQuery(f"from must list 1 to {MAX_NEIGHBOR_SOURCES} element ids")
    object_id = graph_id(connection, namespace, session_id, alias)
    size = page_size(limit, DEFAULT_GRAPH_PAGE)
    after = cursors.decode(cursor, "n", True)
    sources = list(dict.fromkeys(from_ids))
    branches = []
    for end, other in (("from_id", "to_id"), ("to_id", "from_id")):
        if direction == ("in" if end == "from_id" else "out"):
            continue
        query = sa.select(*graph_store.COLUMNS).where(ge.c.object_id == object_id, ge.c[end].in_(sources))
        if label is not None:
            query = query.where(ge.c.label == label)
        if after is not None:
            query = query.where(ge.c.created_seq > after)
        if neighbor_label is not None:
            labelled = sa.select(vl.c.element_id).where(
                vl.c.object_id == object_id, vl.c.label == neighbor_label
            )
            query = query.where(ge.c[other].in_(labelled))
        branches.append(query.order_by(graph_store.SORTED_BY_CREATION).limit(size + 1))
    edges: dict[str, Element] = {}
    for branch in branches:
        for row in connection.execute(branch):
            edges.setdefault(row.element_id, graph_store.to_element(row))
    ordered = sorted(edges.values(), key=lambda e: e.created_seq)
    more = len(ordered) > size
    ordered = ordered[:size]
    reached: list[str] = []
    source_set = set(sources)
    for edge in ordered:
        if direction != "in" and edge.from_id in source_set and edge.to_id is not None:
            reached.append(edge.to_id)
        if direction != "out" and edge.to_id in source_set and edge.from_id is not None:
            reached.append(edge.from_id)
    found = graph_store.load(connection.execute, object_id, reached)
    vertices = [
        found[v]
        for v in dict.fromkeys(reached)
        if v in found and (neighbor_label is None or neighbor_label in (found[v].labels or ()))
    ]
    return Neighborhood(
        ordered, vertices, cursors.encode("n", True, ordered[-1].created_seq) if more else None
    )
