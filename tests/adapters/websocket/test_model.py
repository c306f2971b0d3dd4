"""Random packet sequences against a real server, every answer compared with the kit's model.

The machine is the conformance kit's (`adapters/conformance/machines/cache.py`, `CacheMachine`): the
reference's value cache, 64 entries, 16384 bytes of values, 701 before 702, an overwrite that does
not fit leaves the old value. TTLs are long or default, so nothing expires during a run (the kit's
tests move a server clock: tests/adapters/conformance). Bad frames close the connection with the
reference's code and end the session; a client-side close followed by a resume keeps it.
"""

from __future__ import annotations

import orjson
import pytest
from hypothesis import settings
from hypothesis.stateful import run_state_machine_as_test

from session_engine.adapters.conformance.machines import CacheMachine
from session_engine.adapters.conformance.wire import Target
from tests.adapters.websocket.client import Client
from tests.adapters.websocket.conftest import ACME_KEY

MAX_BYTES = 16384


def test_random_packet_sequences_match_the_model(ws_url: str, request: pytest.FixtureRequest) -> None:
    """Fewer examples on PostgreSQL (a commit per set is slower there); the profile scales both."""
    base = ws_url.replace("ws://", "http://").removesuffix("/ws")
    machine = CacheMachine.bind(Target(base, ACME_KEY))
    examples = settings.default.max_examples
    if request.node.callspec.params["ws_url"] == "postgres":
        examples = max(3, examples // 5)
    run_state_machine_as_test(machine, settings=settings(max_examples=examples, stateful_step_count=20))


@pytest.mark.parametrize("value", ["", "x" * MAX_BYTES])
def test_model_edges(ws_url: str, value: str) -> None:
    with Client(ws_url) as client:
        assert client.initialize(ACME_KEY)["status"] == 1
        client.send(orjson.dumps({"type": 12, "id": 2, "key": "k", "value": value, "ttl": 0}).decode())
        assert client.receive() == {"id": 2, "status": 1}
