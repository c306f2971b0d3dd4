"""The search read model has no events of its own: its rows are made from the envelopes' and the
threads' events (`engine.objects.search.projection`)."""

from __future__ import annotations

from session_engine.engine.events import EventRegistry

EVENTS = EventRegistry([])
"""None: search only reads what the other subdomains record."""
