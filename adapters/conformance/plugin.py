"""The pytest plugin (entry point `pytest11`): `pytest --conformance-url URL --conformance-protocol distri`.

With `--conformance-url`, the session gains one test per protocol, `conformance[<protocol>]`, which
runs the same checks as `session-engine conformance` and fails with the same report. Without it the
plugin adds nothing (and imports nothing heavy), so it is harmless in any test suite.
"""

from __future__ import annotations

from typing import Any

import pytest

PROTOCOL_NAMES = ("websocket", "distri", "bus", "blobhub")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("conformance", "session-engine's protocol conformance kit")
    group.addoption("--conformance-url", default=None, help="the server's base URL (http://host:port)")
    group.addoption(
        "--conformance-protocol", default="all", choices=[*PROTOCOL_NAMES, "all"], help="protocol to check"
    )
    group.addoption("--conformance-api-key", default=None, help="an API key of the tenant to test")
    group.addoption("--conformance-bus-secret", default=None, help="the bus secret")
    group.addoption("--conformance-examples", type=int, default=50, help="examples per protocol")
    group.addoption("--conformance-revision", default="default", help="the BlobHub revision to write in")
    group.addoption(
        "--conformance-second-revision", default="conformance-b", help="a second BlobHub revision"
    )
    group.addoption("--conformance-seed", type=int, default=None, help="reproduce a run")


class ConformanceFailure(Exception):
    """A protocol disagreed with its model, or could not be tested: the kit's report."""


class ConformanceItem(pytest.Item):
    def __init__(self, *, protocol: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.protocol = protocol

    def runtest(self) -> None:
        from session_engine.adapters.conformance import runner
        from session_engine.adapters.conformance.options import Options
        from session_engine.adapters.conformance.wire import Target

        option = self.config.getoption
        target = Target(
            option("conformance_url"), option("conformance_api_key"), option("conformance_bus_secret")
        )
        outcome = runner.run(
            self.protocol,
            target,
            options=Options(
                revision=option("conformance_revision"),
                second_revision=option("conformance_second_revision"),
            ),
            examples=option("conformance_examples"),
            seed_value=option("conformance_seed"),
        )
        if not outcome.agreed:
            raise ConformanceFailure(runner.report(outcome))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, ConformanceFailure):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo, style))

    def reportinfo(self) -> tuple[str, int | None, str]:
        return self.name, None, f"conformance: {self.protocol}"


def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    if config.getoption("conformance_url") is None:
        return
    chosen = config.getoption("conformance_protocol")
    for protocol in PROTOCOL_NAMES if chosen == "all" else (chosen,):
        if protocol == "bus" and chosen == "all" and config.getoption("conformance_bus_secret") is None:
            continue
        items.append(ConformanceItem.from_parent(session, name=f"conformance[{protocol}]", protocol=protocol))
