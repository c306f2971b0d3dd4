"""The graphs' rows: a mutation batch replayed on the batch's view of the graph -> the final state
of each element it touched (`graph_elements`, `graph_vertex_labels`)."""

from __future__ import annotations

from session_engine.engine.events import DomainEvent
from session_engine.engine.log.records import RecordedEvent
from session_engine.engine.objects.batch import ObjectsBatch
from session_engine.engine.objects.graphs.events import GraphMutated
from session_engine.engine.objects.graphs.operations import Workspace, parse_stored_operations
from session_engine.engine.objects.limits import SEQ_STRIDE
from session_engine.engine.projections.base import RowsHandler


def mutated(batch: ObjectsBatch, event: RecordedEvent) -> None:
    data = event.data
    object_id = data["object_id"]
    graphs = batch.graphs
    workspace = Workspace(
        load=lambda ids: graphs.load(object_id, ids),
        incident=lambda vertex: graphs.incident(object_id, vertex),
    )
    workspace.replay(
        parse_stored_operations(data["operations"]),
        at=event.recorded_at,
        user_id=data.get("user_id"),
        seq_base=event.position * SEQ_STRIDE,
    )
    graphs.write(object_id, {i: workspace.elements[i] for i in workspace.touched})


HANDLERS: dict[type[DomainEvent], RowsHandler[ObjectsBatch]] = {GraphMutated: mutated}
"""Which rows each event of the subdomain makes."""
