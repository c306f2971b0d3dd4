"""The graphs' decision: a mutation batch, validated whole by the shared `Workspace` (one bad
operation refuses all), in the table `HANDLERS`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from session_engine.engine.commands import Command, Decision
from session_engine.engine.objects.answers import GraphMutation
from session_engine.engine.objects.graphs import store
from session_engine.engine.objects.graphs.commands import ApplyGraphMutations
from session_engine.engine.objects.graphs.errors import InvalidGraphEnvelope
from session_engine.engine.objects.graphs.events import GraphMutated
from session_engine.engine.objects.graphs.operations import Workspace, dump_operations
from session_engine.engine.objects.state import lookup
from session_engine.engine.unit_of_work import UnitOfWork


def mutate(command: ApplyGraphMutations, state: UnitOfWork) -> Decision[GraphMutation]:
    graph = lookup(state, command.namespace, command.stream, command.alias)
    if graph is None or graph.type != "graph":
        raise InvalidGraphEnvelope(f"{command.alias!r} is not a graph in this session")
    object_id = graph.object_id
    workspace = Workspace(
        load=lambda ids: store.load(state.read, object_id, ids),
        incident=lambda vertex: store.incident(state.read, object_id, vertex),
    )
    changes = workspace.apply(command.operations, at=state.now, user_id=command.user_id, seq_base=0)
    event = GraphMutated(
        alias=command.alias,
        object_id=object_id,
        user_id=command.user_id,
        operations=dump_operations(command.operations),
        changes=changes,
    )
    return Decision(events=[event], result=GraphMutation(changes))


HANDLERS: dict[type[Command], Callable[[Any, UnitOfWork], Decision[Any]]] = {ApplyGraphMutations: mutate}
"""Which handler decides each command of the subdomain."""
