"""The graphs' event: one mutation batch, with the per-element changes it made."""

from __future__ import annotations

from typing import Any

from session_engine.engine.events import DomainEvent, EventRegistry
from session_engine.engine.objects.graphs.operations import ElementChange


class GraphMutated(DomainEvent):
    """A whole batch: the operations (add ids filled in) and the resulting per-element changes."""

    event_type = "objects.graph_mutated"
    alias: str
    object_id: int
    user_id: str | None = None
    operations: list[dict[str, Any]]
    changes: list[ElementChange]


EVENTS = EventRegistry([GraphMutated])
"""Every event type of the subdomain, by its stored name."""
