"""A replay's batched projections folded across pages: one batch per projection for many pages.

A batched projection's batch folds its events' writes to a row into one (`KeyedRows`, `Rounds`),
so the more events one batch sees, the fewer rows reach the database: a value set many times, a
record updated, a graph element changed across pages is written once, in its last state, and a
graph mutation reads the elements the batch already holds instead of the database. A batch fed
page after page (`BatchedProjection.extend_batch`) is one `apply` of all its pages' events, so the
rows are the same; only its memory grows, with the rows it holds, so it is drained every
`FOLD_EVENTS` events.
"""

from __future__ import annotations

import gc
from typing import Any

from session_engine.engine.log.records import RecordedEvent
from session_engine.engine.projections.base import BatchedProjection, ProjectionContext, WriteBatch

FOLD_EVENTS = 200_000
"""Events a replay folds into one batch before draining it: the batch's memory is the rows it
holds, at most a row or two per event."""


class ReplayFolds:
    """The open batch of each batched projection of a replay, drained together."""

    def __init__(self, context: ProjectionContext, *, limit: int = FOLD_EVENTS) -> None:
        self.context = context
        self.limit = limit
        self._batches: dict[BatchedProjection[Any], WriteBatch] = {}
        self._folded = 0

    def apply(self, projection: BatchedProjection[Any], events: list[RecordedEvent]) -> None:
        """Fold `events` into the projection's open batch (opened on its first events)."""
        batch = self._batches.get(projection)
        if batch is None:
            batch = self._batches[projection] = projection.new_batch(self.context, events)
        else:
            projection.extend_batch(batch, events)
        projection.fold(batch, events)

    def page_done(self, events: int) -> None:
        """After a page: drain every batch once they have folded `limit` events since the last drain."""
        self._folded += events
        if self._folded >= self.limit:
            self.drain()

    def drain(self) -> None:
        """Write every open batch, in the order the projections were first applied, and close them."""
        batches, self._batches, self._folded = self._batches, {}, 0
        while batches:  # each popped as it is written: no name holds its rows at the collection
            batches.pop(next(iter(batches))).drain()
        self.context.flush()
        # A replay pauses the collector while batches are open: its young collections would walk
        # every row they hold after each page (twice the collector's time of a page-by-page replay).
        # Their rows are freed now; what cyclic garbage the meantime left is young: collected here.
        gc.collect(1)
