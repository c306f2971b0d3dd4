"""Typed session objects, in four subdomains: envelopes (objects and their messages), threads,
graphs, and search (the messages read model). One domain to the engine: the subdomains' events,
decisions and rows are composed here and in `projection.py`."""

from __future__ import annotations

from session_engine.engine.commands import CommandHandlers
from session_engine.engine.events import EventRegistry
from session_engine.engine.modules import Domain
from session_engine.engine.objects.envelopes import decide as envelopes_decide
from session_engine.engine.objects.envelopes import events as envelopes_events
from session_engine.engine.objects.graphs import decide as graphs_decide
from session_engine.engine.objects.graphs import events as graphs_events
from session_engine.engine.objects.projection import projection
from session_engine.engine.objects.search import decide as search_decide
from session_engine.engine.objects.search import events as search_events
from session_engine.engine.objects.service import ObjectsService
from session_engine.engine.objects.threads import decide as threads_decide
from session_engine.engine.objects.threads import events as threads_events


def _events() -> EventRegistry:
    registry = EventRegistry()
    for part in (envelopes_events.EVENTS, threads_events.EVENTS, graphs_events.EVENTS, search_events.EVENTS):
        registry.extend(part)
    return registry


handlers = CommandHandlers(
    {
        **envelopes_decide.HANDLERS,
        **threads_decide.HANDLERS,
        **graphs_decide.HANDLERS,
        **search_decide.HANDLERS,
    }
)
"""Every objects command's handler: the subdomains' tables."""

domain = Domain("objects", events=_events(), handlers=handlers, projections=[projection])

__all__ = ["ObjectsService", "domain"]
