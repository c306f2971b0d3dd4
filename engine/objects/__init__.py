"""Typed session objects (BlobHub): envelopes, messages, threads and property graphs."""

from __future__ import annotations

from engine.modules import Domain
from engine.objects import decide_envelopes, decide_graph, decide_threads  # noqa: F401 - register handlers
from engine.objects.blobhub import blobhub_event
from engine.objects.events import events
from engine.objects.projection import projection
from engine.objects.service import ObjectsService
from engine.objects.state import handlers

domain = Domain("objects", events=events, handlers=handlers, projections=[projection])

__all__ = ["ObjectsService", "blobhub_event", "domain"]
