"""The values domain: session values with TTLs, under a cache policy per kind of session.

Connection-bound sessions (the websocket cache) and durable sessions (the REST store) share one
read model and one event vocabulary; see `specs/values.md`.
"""

from __future__ import annotations

from engine.modules import Domain
from engine.values.decide import handlers
from engine.values.events import registry
from engine.values.policy import CONNECTION, DURABLE, Policies, Policy
from engine.values.projection import values
from engine.values.queries import SessionSummary, StoredValue, ValueSession
from engine.values.service import ValuesService

domain = Domain("values", events=registry, handlers=handlers, projections=[values])

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
