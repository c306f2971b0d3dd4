"""Run a protocol's machine against a target; on a disagreement, the shrunk script and the verdict.

Hypothesis shrinks a failing example and runs the minimal one last, so the transcript of the last
run is the replayable script of the minimal disagreement. The example database is off: a run is
reproduced by its seed, not by files left behind.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, Phase, Verbosity, seed, settings
from hypothesis.errors import Flaky
from hypothesis.reporting import with_reporter
from hypothesis.stateful import get_state_machine_test

from session_engine.adapters.conformance.machines import MACHINES, SteppedClock
from session_engine.adapters.conformance.options import Options
from session_engine.adapters.conformance.wire import Disagreement, Target, Unreachable

PROTOCOLS = tuple(MACHINES)
STEPS = 20
"""Steps per example: enough to reach the limits (a `fill` crosses 64 entries in one step)."""


@dataclass
class RunOutcome:
    protocol: str
    examples: int
    disagreement: Disagreement | None = None
    error: str | None = None
    """Set when the target could not be tested (unreachable, refused credentials): exit 2."""
    script: list[str] = field(default_factory=list)
    steps: list[str] = field(default_factory=list)
    """The shrunk example's rule calls, as hypothesis names them (`state.set_value(...)`)."""

    @property
    def agreed(self) -> bool:
        return self.disagreement is None and self.error is None

    @property
    def requests(self) -> int:
        """Frames and requests the shrunk script sends."""
        return sum(1 for line in self.script if line.split(" ", 2)[1:2] == [">"])


def run(
    protocol: str,
    target: Target,
    *,
    options: Options | None = None,
    examples: int = 50,
    seed_value: int | None = None,
    clock: SteppedClock | None = None,
    steps: int = STEPS,
    shrink: bool = True,
) -> RunOutcome:
    """Drive `target` with generated command sequences against the protocol's model. `shrink`
    False: the first disagreement is answered as found, not cut down to its fewest steps (shrinking
    is most of the cost of a run that finds one)."""
    machine = MACHINES[protocol].bind(target, options, clock)
    config = settings(
        max_examples=examples,
        stateful_step_count=steps,
        database=None,
        deadline=None,
        derandomize=False,
        report_multiple_bugs=False,
        suppress_health_check=list(HealthCheck),
        verbosity=Verbosity.normal,
        phases=[Phase.explicit, Phase.generate, *([Phase.shrink] if shrink else [])],
    )
    test: Any = get_state_machine_test(machine, settings=config)
    if seed_value is not None:
        test = seed(seed_value)(test)
    outcome = RunOutcome(protocol, examples)
    reported: list[str] = []
    try:
        with with_reporter(lambda text: reported.append(str(text))):  # the shrunk steps, not printed
            test()
    except Unreachable as error:
        outcome.error = str(error)
    except Disagreement as disagreement:
        outcome.disagreement = disagreement
        # hypothesis reports the shrunk example's steps, or attaches them to the error as notes
        texts = [*reported, *getattr(disagreement, "__notes__", [])]
        calls = [line for text in texts for line in text.splitlines() if line.startswith("state.")]
        checks = {f"state.{i.function.__name__}()" for i in machine.setup_state().invariants}
        outcome.steps = [line for line in calls if line not in checks and line != "state.teardown()"]
    except Flaky as flaky:
        outcome.disagreement = Disagreement(
            "the same steps gave different answers", "reproducible", str(flaky)
        )
    log = machine.last_log
    outcome.script = list(log.lines) if log is not None and not outcome.agreed else []
    return outcome


def report(outcome: RunOutcome) -> str:
    """What the CLI prints for one protocol."""
    if outcome.error is not None:
        return f"{outcome.protocol}: not tested: {outcome.error}"
    if outcome.disagreement is None:
        return f"{outcome.protocol}: agrees with the model ({outcome.examples} examples)"
    d = outcome.disagreement
    lines = [
        f"{outcome.protocol}: DISAGREES with the model",
        f"  check:    {d.what}",
        f"  expected: {d.expected!r}",
        f"  actual:   {d.actual!r}",
    ]
    if outcome.steps:
        lines += ["  steps (shrunk):", *(f"    {step}" for step in outcome.steps)]
    lines += ["  replayable script (> sent, < answered):", *(f"    {line}" for line in outcome.script)]
    return "\n".join(lines)
