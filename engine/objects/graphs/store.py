"""Rows of `graph_elements` as `Element`s, and the indexed lookups both writes and reads share."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import CursorResult

from session_engine.engine.backends import Rows
from session_engine.engine.clock import as_utc
from session_engine.engine.objects.graphs.operations import Element
from session_engine.engine.objects.graphs.tables import graph_elements as ge

Run = Callable[..., CursorResult[Any] | Rows]
"""Runs a query: `connection.execute`, `UnitOfWork.read` or `ProjectionContext.read`."""

COLUMNS = (
    ge.c.element_id,
    ge.c.type,
    ge.c.labels,
    ge.c.label,
    ge.c.from_id,
    ge.c.to_id,
    ge.c.props,
    ge.c.rev,
    ge.c.created_at,
    ge.c.updated_at,
    ge.c.user_id,
    ge.c.created_seq,
    ge.c.updated_seq,
)


SORTED_BY_CREATION = (ge.c.created_seq + 0).label(None)
"""ORDER BY for id-filtered sets: `+ 0` stops the planner from walking the whole graph in creation
order to honour the ORDER BY ... LIMIT, instead of looking ids up by index and sorting the few rows."""


def to_element(row: Sequence[Any]) -> Element:
    """The element a row of exactly `COLUMNS` holds. Unpacked by position: looking a row's
    attributes up by name, one by one, was most of reading a graph page."""
    element_id, type_, labels, label, from_id, to_id, props, rev, created, updated, user_id, seq, useq = row
    return Element(
        element_id,
        type_,
        labels,
        label,
        from_id,
        to_id,
        props,
        rev,
        as_utc(created),
        as_utc(updated),
        user_id,
        seq,
        useq,
    )


def load(run: Run, object_id: int, ids: Iterable[str]) -> dict[str, Element]:
    wanted = list(dict.fromkeys(ids))
    found: dict[str, Element] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        query = sa.select(*COLUMNS).where(ge.c.object_id == object_id, ge.c.element_id.in_(chunk))
        for row in run(query):
            found[row.element_id] = to_element(row)
    return found


def incident(run: Run, object_id: int, vertex_id: str) -> dict[str, Element]:
    """Every edge from or to a vertex (two index range scans)."""
    outgoing = sa.select(*COLUMNS).where(ge.c.object_id == object_id, ge.c.from_id == vertex_id)
    incoming = sa.select(*COLUMNS).where(ge.c.object_id == object_id, ge.c.to_id == vertex_id)
    return {row.element_id: to_element(row) for row in run(sa.union_all(outgoing, incoming))}
