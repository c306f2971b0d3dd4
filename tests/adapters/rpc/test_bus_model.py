"""Random request sequences over the bus against the records model, through a real server.

The machine is the conformance kit's (`adapters/conformance/machines/bus.py`, `BusMachine`): the same
strategies and model as `tests/records/test_records_machine.py`, but every request travels as a bus
frame, and every answer is compared on the wire. Refused requests must come back as
VALIDATION_ERROR and change nothing; `session.clientAccount.changed` events must reach a subscribed
peer in the order the changes were made.
"""

from __future__ import annotations

from collections.abc import Callable

from hypothesis.stateful import run_state_machine_as_test

from session_engine.adapters.conformance.machines import BusMachine
from session_engine.adapters.conformance.wire import Target
from tests.adapters.rpc.conftest import BUS_SECRET
from tests.adapters.server import ServerThread


def test_bus_matches_the_records_model(fresh_server: Callable[..., ServerThread]) -> None:
    run_state_machine_as_test(BusMachine.bind(Target(fresh_server().base_url, bus_secret=BUS_SECRET)))
