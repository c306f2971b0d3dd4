"""The records domain: session records with lineage, status counts, previews and search.

See `specs/records.md` for the decisions (order, delete and recreate, search syntax, previews).
"""

from __future__ import annotations

from session_engine.engine.commands import CommandHandlers
from session_engine.engine.modules import Domain
from session_engine.engine.records import decide
from session_engine.engine.records.commands import Record, WriteResult
from session_engine.engine.records.events import EVENTS
from session_engine.engine.records.projection import records
from session_engine.engine.records.queries import (
    Child,
    Listed,
    ListQuery,
    Page,
    Preview,
    SearchQuery,
    StatusCounts,
)
from session_engine.engine.records.service import RecordsService

domain = Domain("records", events=EVENTS, handlers=CommandHandlers(decide.HANDLERS), projections=[records])

__all__ = [
    "Child",
    "ListQuery",
    "Listed",
    "Page",
    "Preview",
    "Record",
    "RecordsService",
    "SearchQuery",
    "StatusCounts",
    "WriteResult",
    "domain",
]
