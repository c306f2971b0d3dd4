"""`ObjectsService`: the public, async calls of typed session objects, one class per subdomain mixed in.

Writes validate their input in the service (off the writer thread) and go through
`engine.execute`; reads are pure query functions run by `engine.read`. `engine.objects` serves the
namespace's own objects; `engine.objects.scoped(scope)` the same calls inside a scope
(`engine.objects.scopes`): a session's objects there are a stream of their own, so every call
works on that stream.
"""

from __future__ import annotations

from session_engine.engine.objects.envelopes.service import EnvelopesService
from session_engine.engine.objects.graphs.service import GraphsService
from session_engine.engine.objects.search.service import SearchService
from session_engine.engine.objects.threads.service import ThreadsService


class ObjectsService(EnvelopesService, ThreadsService, GraphsService, SearchService):
    """Every objects call: envelopes, threads, graphs and search."""

    def scoped(self, scope: str | None) -> ObjectsService:
        """The same calls inside `scope` (None, or the namespace's name: the namespace's own objects)."""
        return self if scope == self.scope else ObjectsService(self._engine, scope)
