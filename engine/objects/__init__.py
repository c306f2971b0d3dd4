"""Typed session objects (BlobHub): envelopes, messages, threads and property graphs."""

from __future__ import annotations

from session_engine.engine.modules import Domain
from session_engine.engine.objects import decide_envelopes, decide_graph, decide_threads  # noqa: F401 - register handlers
from session_engine.engine.objects.blobhub import blobhub_event
from session_engine.engine.objects.events import events
from session_engine.engine.objects.projection import projection
from session_engine.engine.objects.service import ObjectsService
from session_engine.engine.objects.state import handlers

domain = Domain("objects", events=events, handlers=handlers, projections=[projection])

__all__ = ["ObjectsService", "blobhub_event", "domain"]
