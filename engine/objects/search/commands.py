"""The search read model takes no commands: it is written by the envelopes' and threads' events
and only read (`engine.objects.search.queries`)."""

from __future__ import annotations
