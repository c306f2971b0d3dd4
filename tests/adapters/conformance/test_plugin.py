"""The pytest plugin (entry point pytest11): a team's own pytest run gains the kit's checks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.adapters.conformance.conftest import Start
from tests.adapters.websocket.conftest import ACME_KEY


def run_pytest(where: Path, *options: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(where), *options]
    return subprocess.run(command, cwd=where, capture_output=True, text=True, timeout=600, check=False)


def test_the_plugin_passes_a_conforming_server_and_fails_a_broken_one(start: Start, tmp_path: Path) -> None:
    target, _ = start()
    kit = ("--conformance-protocol", "distri", "--conformance-api-key", ACME_KEY, "--conformance-seed", "1")
    passed = run_pytest(tmp_path, "--conformance-url", target.url, "--conformance-examples", "3", *kit)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "1 passed" in passed.stdout

    broken, server = start()
    server.set_connection_policy(max_entries=65)
    ws = ("--conformance-protocol", "websocket", "--conformance-api-key", ACME_KEY, "--conformance-seed", "1")
    failed = run_pytest(tmp_path, "--conformance-url", broken.url, "--conformance-examples", "100", *ws)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "websocket: DISAGREES" in failed.stdout and "conformance[websocket]" in failed.stdout


def test_without_a_url_the_plugin_adds_nothing(tmp_path: Path) -> None:
    assert run_pytest(tmp_path).returncode == 5  # pytest's "no tests collected"
