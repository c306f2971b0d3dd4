"""The graphs' rows: a mutation batch replayed on the batch's view of the graph -> the final state
of each element it touched (`graph_elements`, `graph_vertex_labels`)."""

from __future__ import annotations

from collections.abc import Callable

from session_engine.engine.events import DomainEvent
from session_engine.engine.log.records import RecordedEvent
from session_engine.engine.objects.batch import ObjectsBatch
from session_engine.engine.objects.graphs.events import GraphMutated
from session_engine.engine.objects.graphs.operations import Workspace, parse_stored_operations
from session_engine.engine.objects.limits import SEQ_STRIDE


def mutated(batch: ObjectsBatch, event: RecordedEvent) -> None:
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


HANDLERS: dict[type[DomainEvent], Callable[[ObjectsBatch, RecordedEvent], None]] = {GraphMutated: mutated}
"""Which rows each event of the subdomain makes."""
