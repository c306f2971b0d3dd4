"""The objects projection: one read model written by the four subdomains' handlers.

Each subdomain's `projection.py` says which rows its events make (`HANDLERS`: event -> rows);
this module composes them, in order, around one `ObjectsBatch`, because the subdomains' rows are
one object's (a delete or a replace takes every child with it) and share the batch's folding.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa

from session_engine.engine.log.records import RecordedEvent
from session_engine.engine.objects.batch import ObjectsBatch
from session_engine.engine.objects.envelopes import projection as envelopes
from session_engine.engine.objects.envelopes.events import ObjectUploaded
from session_engine.engine.objects.envelopes.tables import object_messages, session_objects
from session_engine.engine.objects.graphs import projection as graphs
from session_engine.engine.objects.graphs.tables import graph_elements, vertex_labels
from session_engine.engine.objects.search import projection as search
from session_engine.engine.objects.search.tables import (
    FTS_TABLES,
    create_search_index,
    message_terms,
    messages,
    search_index,
)
from session_engine.engine.objects.search.terms import create_term_index, ensure_sqlite_function, term_index
from session_engine.engine.objects.threads import projection as threads
from session_engine.engine.objects.threads.tables import thread_items
from session_engine.engine.projections.base import BatchedProjection, Forgotten, ProjectionContext

_o = session_objects.c


class ObjectsProjection(BatchedProjection[ObjectsBatch]):
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
        batch.graphs.prefetch(events, _created(events))
        return batch

    def extend_batch(self, batch: ObjectsBatch, events: list[RecordedEvent]) -> None:
        batch.graphs.prefetch(events, _created(events))

    def fill_derived(
        self, context: ProjectionContext, suspended: Sequence[str], *, full_text: bool = True
    ) -> None:
        ensure_sqlite_function(context.connection)  # the term index's fill calls it (SQLite)
        super().fill_derived(context, suspended, full_text=full_text)

    def clear(self, context: ProjectionContext) -> None:
        ensure_sqlite_function(context.connection)
        super().clear(context)

    def seed_session(
        self, context: ProjectionContext, rows: Callable[[sa.Table], list[dict[str, Any]]]
    ) -> None:
        """The term index's rows are left out: the messages' triggers fill it as they go in."""
        ensure_sqlite_function(context.connection)
        super().seed_session(context, rows)

    @property
    def seeded_tables(self) -> Sequence[Any]:
        return [table for table in self.tables if table is not message_terms]

    def forget_session(self, context: ProjectionContext, namespace: str, session: str) -> Forgotten:
        """Every object of the session goes with its children, as an object delete takes them.
        The rows counted: the objects, their children (counted before the batch deletes them), and
        what is left keyed by the session (its messages and terms)."""
        context.flush()
        found = context.connection.execute(
            sa.select(_o.alias, _o.object_id, _o.type).where(
                _o.namespace == namespace, _o.session_id == session
            )
        ).all()
        children = 0
        ids = [object_id for _, object_id, _ in found]
        for table in self.tables:
            if ids and "object_id" in table.c and table is not session_objects:
                children += int(
                    context.connection.execute(
                        sa.select(sa.func.count()).where(table.c.object_id.in_(ids))
                    ).scalar()
                    or 0
                )
        batch = self.new_batch(context, [])
        for alias, object_id, object_type in found:
            batch.delete_object((namespace, session, alias), object_id, object_type)
        batch.drain()
        rest = super().forget_session(context, namespace, session)
        return Forgotten(len(found) + children + rest.rows, rest.carried)


# `message_terms` last: cleared first, so deleting the messages has no terms left to decrement.
# Its term rows copy each session's record filters from the records' table (engine/records/term_filters.py).
# The envelopes' handlers come first: a replace deletes the old object's children before any
# subdomain writes the new one's.
projection = ObjectsProjection(
    "objects",
    [session_objects, object_messages, thread_items, graph_elements, vertex_labels, messages, message_terms],
    rows=[envelopes.HANDLERS, threads.HANDLERS, graphs.HANDLERS, search.HANDLERS],
    extra_ddl=[create_search_index, create_term_index],
    extra_tables=FTS_TABLES,
    depends_on=["records"],
    derived=[search_index, term_index],
)


def _created(events: list[RecordedEvent]) -> set[int]:
    """The objects these events create: the batch will hold all their rows, none is stored."""
    uploaded = ObjectUploaded.event_type
    return {
        object_id
        for event in events
        if event.type == uploaded and (object_id := envelopes.created_by(event)) is not None
    }
