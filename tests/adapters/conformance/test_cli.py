"""`session-engine conformance`: exit 0 when the server agrees, 1 with the shrunk script when it
does not, 2 when it cannot be reached (no traceback), JUnit XML on request."""

from __future__ import annotations

import socket
from pathlib import Path

from click.testing import CliRunner

from session_engine.adapters.cli.main import main
from tests.adapters.conformance.conftest import Start
from tests.adapters.websocket.conftest import ACME_KEY


def conformance(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["conformance", *args])
    return result.exit_code, result.output


def test_a_conforming_server_exits_0_and_writes_junit(start: Start, tmp_path: Path) -> None:
    target, _ = start()
    junit = tmp_path / "report.xml"
    code, output = conformance(
        "--protocol", "all", "--url", target.url, "--api-key", ACME_KEY, "--examples", "3",
        "--seed", "1", "--junit", str(junit),
    )  # fmt: skip
    assert code == 0, output
    assert "websocket: agrees" in output and "distri: agrees" in output and "bus: skipped" in output
    assert "blobhub: agrees" in output
    assert 'tests="3"' in junit.read_text() and 'failures="0"' in junit.read_text()


def test_a_disagreement_exits_1_with_a_replayable_script(start: Start, tmp_path: Path) -> None:
    target, server = start()
    server.set_connection_policy(max_entries=63)
    junit = tmp_path / "report.xml"
    code, output = conformance(
        "-p", "websocket", "--url", target.url, "--api-key", ACME_KEY, "--examples", "100",
        "--seed", "1", "--junit", str(junit),
    )  # fmt: skip
    assert code == 1, output
    assert "websocket: DISAGREES" in output and "expected: 1" in output and "actual:   702" in output
    assert '> {"type":12,' in output and "Traceback" not in output
    assert 'failures="1"' in junit.read_text()


def test_an_unreachable_server_exits_2_without_a_traceback() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code, output = conformance("-p", "distri", "--url", f"http://127.0.0.1:{port}", "--examples", "2")
    assert code == 2, output
    assert "distri: not tested" in output and "Traceback" not in output


def test_a_usage_error_exits_2() -> None:
    assert conformance("--protocol", "smtp", "--url", "http://x")[0] == 2
    assert conformance("--protocol", "bus")[0] == 2
