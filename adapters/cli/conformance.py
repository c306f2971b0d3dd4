"""`session-engine conformance`: check a running server against the protocols' reference models.

Exit 0 when every protocol tested agrees with its model, 1 when one disagrees (the shrunk,
replayable script is printed), 2 on a usage or connection error (nothing could be tested). The kit
needs hypothesis and httpx (`pip install 'session-engine[conformance]'`): imported when the command
runs, so the rest of the command line works without them.
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from typing import Any

import click

PROTOCOL_NAMES = ("websocket", "distri", "bus", "blobhub")


@click.command()
@click.option(
    "--protocol", "-p", type=click.Choice([*PROTOCOL_NAMES, "all"]), default="all", show_default=True
)
@click.option("--url", required=True, help="The server's base URL, e.g. http://127.0.0.1:8000.")
@click.option("--api-key", default=None, help="An API key of the tenant to test (websocket, Distri).")
@click.option("--bus-secret", default=None, help="The bus secret (the bus is skipped by `all` without it).")
@click.option(
    "--examples", type=click.IntRange(1), default=50, show_default=True, help="Examples per protocol."
)
@click.option("--seed", type=int, default=None, help="Reproduce a run: the same seed, the same examples.")
@click.option(
    "--junit", type=click.Path(dir_okay=False, writable=True), default=None, help="Write JUnit XML."
)
@click.option("--ws-max-entries", type=click.IntRange(1), default=64, show_default=True)
@click.option("--ws-max-bytes", type=click.IntRange(1), default=16384, show_default=True)
@click.option(
    "--ws-default-ttl", type=click.FloatRange(min=0, min_open=True), default=72 * 3600.0, show_default=True
)
@click.option("--distri-max-entries", type=click.IntRange(1), default=10_000, show_default=True)
@click.option("--list-page-max", type=click.IntRange(1), default=1000, show_default=True)
@click.option("--revision", default="default", show_default=True, help="The BlobHub revision to write in.")
@click.option(
    "--second-revision",
    default="conformance-b",
    show_default=True,
    help="A second BlobHub revision, kept apart from the first (the same name: one revision only).",
)
@click.option("--event-wait", type=click.FloatRange(min=0, min_open=True), default=5.0, show_default=True)
def conformance(
    protocol: str,
    url: str,
    api_key: str | None,
    bus_secret: str | None,
    examples: int,
    seed: int | None,
    junit: str | None,
    **limits: Any,
) -> None:
    """Drive a server with generated command sequences; compare every answer with the model.

    Time does not move (no TTL expires during a run) unless the kit is given the server's clock,
    which only the Python API can do (`specs/conformance.md`).
    """
    try:
        from session_engine.adapters.conformance import runner
        from session_engine.adapters.conformance.options import Options
        from session_engine.adapters.conformance.wire import Target
    except ImportError as missing:
        click.echo(
            f"the conformance kit needs `pip install 'session-engine[conformance]'` ({missing})", err=True
        )
        sys.exit(2)
    target = Target(url, api_key, bus_secret)
    options = Options(**limits)
    chosen = PROTOCOL_NAMES if protocol == "all" else (protocol,)
    outcomes = []
    for name in chosen:
        if name == "bus" and bus_secret is None and protocol == "all":
            click.echo("bus: skipped (no --bus-secret)")
            continue
        try:
            outcome = runner.run(name, target, options=options, examples=examples, seed_value=seed)
        except Exception as error:  # noqa: BLE001 - the CLI reports, it does not print a traceback
            outcome = runner.RunOutcome(name, examples, error=f"{type(error).__name__}: {error}")
        click.echo(runner.report(outcome))
        outcomes.append(outcome)
    if junit is not None:
        write_junit(junit, outcomes, runner.report)
    if any(o.disagreement is not None for o in outcomes):
        sys.exit(1)
    if any(o.error is not None for o in outcomes):
        sys.exit(2)


def write_junit(path: str, outcomes: list[Any], report: Any) -> None:
    """One test case per protocol: a failure (disagreement) or an error (not tested) with the report."""
    suite = ET.Element("testsuite", name="session-engine conformance", tests=str(len(outcomes)))
    suite.set("failures", str(sum(o.disagreement is not None for o in outcomes)))
    suite.set("errors", str(sum(o.error is not None for o in outcomes)))
    for outcome in outcomes:
        case = ET.SubElement(suite, "testcase", classname="conformance", name=outcome.protocol)
        if outcome.disagreement is not None:
            ET.SubElement(case, "failure", message=str(outcome.disagreement)).text = report(outcome)
        elif outcome.error is not None:
            ET.SubElement(case, "error", message=outcome.error).text = report(outcome)
    ET.ElementTree(suite).write(path, encoding="utf-8", xml_declaration=True)
