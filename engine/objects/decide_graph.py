"""Graph mutation batches: validated whole by the shared Workspace; one bad operation refuses all."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from session_engine.engine.commands import Command, Decision
from session_engine.engine.objects import graph_store
from session_engine.engine.objects.errors import InvalidGraphEnvelope
from session_engine.engine.objects.events import GraphMutated
from session_engine.engine.objects.graph_ops import Operation, Workspace, dump_operations
from session_engine.engine.objects.state import handlers, lookup
from session_engine.engine.unit_of_work import UnitOfWork


@dataclass(frozen=True, kw_only=True)
class ApplyGraphMutations(Command):
    """Build `operations` with `graph_ops.parse_operations` (it validates and names new elements)."""

    alias: str
    operations: list[Operation]
    user_id: str | None = None


@handlers.register(ApplyGraphMutations)
def mutate(command: ApplyGraphMutations, state: UnitOfWork) -> Decision[dict[str, Any]]:
    graph = lookup(state, command.namespace, command.stream, command.alias)
    if graph is None or graph.type != "graph":
        raise InvalidGraphEnvelope(f"{command.alias!r} is not a graph in this session")
    object_id = graph.object_id
    workspace = Workspace(
        load=lambda ids: graph_store.load(state.read, object_id, ids),
        incident=lambda vertex: graph_store.incident(state.read, object_id, vertex),
    )
    changes = workspace.apply(command.operations, at=state.now, user_id=command.user_id, seq_base=0)
    event = GraphMutated(
        alias=command.alias,
        object_id=object_id,
        user_id=command.user_id,
        operations=dump_operations(command.operations),
        changes=changes,
    )
    return Decision(events=[event], result={"elements": changes})
