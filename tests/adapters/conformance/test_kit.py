"""The conformance kit against the real server (it conforms, on both backends) and against broken
servers (each seeded fault is found, with a counterexample of a few steps).

Example counts are bounded: a run must stay cheap in CI. A fault test gives the kit enough
examples to find its fault with the seed fixed, so the test does not depend on luck.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import settings

from session_engine.adapters.conformance import runner
from session_engine.adapters.conformance.options import Options
from session_engine.adapters.conformance.wire import Target
from session_engine.engine import ManualClock
from tests.adapters.conformance import faults
from tests.adapters.conformance.conftest import Start

EXAMPLES = 10
OPTIONS = Options(revision="acme")
"""The test tenant's own BlobHub revision (its namespace)."""
FAULT_STEPS = 8
"""Steps per example when hunting a seeded fault: short examples shrink fast."""
FEW_STEPS = 6
"""A shrunk counterexample has at most this many rule calls."""
SHRINK = settings().max_examples > 100
"""Whether every fault hunt shrinks its counterexample: in the heavy profile. Shrinking is 80-95% of
a hunt's time (docs/benchmarks.md), so CI shrinks one hunt (the cheapest,
`test_an_envelope_read_that_skips_the_revision_is_found`) and checks in the others that the fault
is found, on its check, with the steps and the replayable script of the example that found it."""


def agrees(outcome: runner.RunOutcome) -> None:
    assert outcome.agreed, runner.report(outcome)


def caught(outcome: runner.RunOutcome, check: str, *, shrunk: bool = SHRINK) -> None:
    """The kit disagreed, on the seeded fault's check, with a counterexample it can replay: a short
    one where it was shrunk."""
    report = runner.report(outcome)
    assert outcome.disagreement is not None, f"the fault went unnoticed: {report}"
    assert check in outcome.disagreement.what, report
    assert 0 < len(outcome.steps) <= (FEW_STEPS if shrunk else runner.STEPS), report
    assert any(" > " in line for line in outcome.script), report


@pytest.mark.parametrize("protocol", runner.PROTOCOLS)
def test_the_real_server_conforms(real_target: Target, protocol: str) -> None:
    agrees(runner.run(protocol, real_target, options=OPTIONS, examples=EXAMPLES, seed_value=1))


@pytest.mark.parametrize("protocol", ["websocket", "distri"])
def test_the_real_server_conforms_as_time_moves(start: Start, protocol: str) -> None:
    clock = ManualClock()
    target, _ = start(clock=clock)
    agrees(runner.run(protocol, target, examples=EXAMPLES, seed_value=1, clock=clock))


def test_a_wrong_default_ttl_is_found(start: Start) -> None:
    clock = ManualClock()
    target, server = start(clock=clock)
    server.set_connection_policy(default_ttl=timedelta(hours=24))
    # Full-length examples: the fault needs a default-TTL set, then a day to pass, in one example.
    caught(runner.run("websocket", target, examples=100, seed_value=1, clock=clock, shrink=SHRINK), "get")


@pytest.mark.parametrize("limit", [63, 65])
def test_an_off_by_one_entry_limit_is_found(start: Start, limit: int) -> None:
    target, server = start()
    server.set_connection_policy(max_entries=limit)
    caught(
        runner.run("websocket", target, examples=100, seed_value=1, steps=FAULT_STEPS, shrink=SHRINK),
        "status",
    )


def test_a_server_configured_otherwise_is_tested_as_configured(start: Start) -> None:
    target, server = start()
    server.set_connection_policy(max_entries=65)
    agrees(
        runner.run("websocket", target, options=Options(ws_max_entries=65), examples=EXAMPLES, seed_value=1)
    )


def test_a_dropped_user_part_is_found(start: Start) -> None:
    target, _ = start(faults.dropped_user_part)
    caught(
        runner.run("distri", target, examples=100, seed_value=1, steps=FAULT_STEPS, shrink=SHRINK),
        "user parts",
    )


def test_a_reversed_session_listing_is_found(start: Start) -> None:
    target, _ = start(faults.reversed_listing)
    caught(
        runner.run("distri", target, examples=100, seed_value=1, steps=FAULT_STEPS, shrink=SHRINK), "listing"
    )


def blobhub(target: Target, shrink: bool = SHRINK) -> runner.RunOutcome:
    return runner.run(
        "blobhub", target, options=OPTIONS, examples=100, seed_value=1, steps=FAULT_STEPS, shrink=shrink
    )


def test_a_graph_batch_that_is_not_atomic_is_found(start: Start) -> None:
    target, server = start()
    server.split_graph_batches()
    caught(blobhub(target), "the elements of")


def test_thread_items_in_reverse_order_are_found(start: Start) -> None:
    target, _ = start(faults.reversed_thread_items)
    caught(blobhub(target), "the items of")


def test_an_envelope_read_that_skips_the_revision_is_found(start: Start) -> None:
    target, server = start()
    server.skip_envelope_revision_check()
    caught(blobhub(target, shrink=True), "the session's objects", shrunk=True)


def test_a_missing_account_change_event_is_found(start: Start) -> None:
    target, _ = start(faults.no_account_event)
    options = Options(event_wait=0.02)  # the fault drops every event: a longer wait only costs time
    caught(
        runner.run(
            "bus", target, options=options, examples=100, seed_value=1, steps=FAULT_STEPS, shrink=SHRINK
        ),
        "clientAccount.changed",
    )
