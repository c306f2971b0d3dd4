"""Hypothesis state machines that drive a target over the wire and compare every answer with a model.

Each machine class is bound to a target by `bind` (a subclass with `target`, `options` and an
optional `clock`). Every example starts from fresh sessions: the value protocols use session ids with
a per-example token, so a server that serves other traffic (or earlier examples) does not disturb
the comparison; the bus machine owns its namespace (it deletes its five session ids first).

A `clock` (an object with `now()` and `advance(seconds)`, e.g. the engine's ManualClock driving the
server) lets the machines move time, which checks TTLs and expiry; without one, every TTL and expiry
the machines choose is far enough from now that nothing expires during a run.
"""

from __future__ import annotations

from session_engine.adapters.conformance.machines.base import SteppedClock, WireMachine
from session_engine.adapters.conformance.machines.blobhub import BlobHubMachine
from session_engine.adapters.conformance.machines.bus import BusMachine
from session_engine.adapters.conformance.machines.cache import CacheMachine
from session_engine.adapters.conformance.machines.distri import DistriMachine
from session_engine.adapters.conformance.wire import Disagreement

MACHINES: dict[str, type[WireMachine]] = {
    "websocket": CacheMachine,
    "distri": DistriMachine,
    "bus": BusMachine,
    "blobhub": BlobHubMachine,
}

__all__ = [
    "MACHINES",
    "BlobHubMachine",
    "BusMachine",
    "CacheMachine",
    "Disagreement",
    "DistriMachine",
    "SteppedClock",
    "WireMachine",
]
