"""The values domain: session values with TTLs, under a cache policy per kind of session.

Connection-bound sessions (the websocket cache) and durable sessions (the REST store) share one
read model and one event vocabulary; see `specs/values.md`.
"""

from __future__ import annotations

from session_engine.engine.commands import CommandHandlers
from session_engine.engine.modules import Domain
from session_engine.engine.values import decide
from session_engine.engine.values.events import EVENTS
from session_engine.engine.values.policy import CONNECTION, DURABLE, Policies, Policy
from session_engine.engine.values.projection import values
from session_engine.engine.values.queries import SessionSummary, StoredValue, ValueSession
from session_engine.engine.values.service import ValuesService

domain = Domain("values", events=EVENTS, handlers=CommandHandlers(decide.HANDLERS), projections=[values])

__all__ = [
    "CONNECTION",
    "DURABLE",
    "Policies",
    "Policy",
    "SessionSummary",
    "StoredValue",
    "ValueSession",
    "ValuesService",
    "domain",
]
