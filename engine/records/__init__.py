"""The records domain: Makaio's `storage:session` session records, with lineage and search.

See `specs/records.md` for the decisions (order, delete and recreate, search syntax, previews).
"""

from __future__ import annotations

from session_engine.engine.modules import Domain
from session_engine.engine.records.decide import handlers
from session_engine.engine.records.events import bus_event, registry
from session_engine.engine.records.projection import records
from session_engine.engine.records.service import SUBJECTS, RecordsService

domain = Domain("records", events=registry, handlers=handlers, projections=[records])

__all__ = ["SUBJECTS", "RecordsService", "bus_event", "domain"]
