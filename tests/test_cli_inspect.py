"""The audit verbs of the command line (`state`, `diff`, `sessions`), run as a user runs them."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from session_engine.engine import Engine

SCRIPT = shutil.which("session-engine") or str(Path(sys.executable).with_name("session-engine"))


def cli(*args: str, url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SCRIPT, *args, "--database", url],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )


def seed(url: str) -> None:
    async def main() -> None:
        async with Engine.open(url, migrate=False) as engine:
            await engine.values.set("default", "s", "colour", "blue")
            await engine.objects.upload("default", "s", "t", {"type": "thread", "thread": {}})
            await engine.objects.post_thread_item("default", "s", "t", [{"type": "text", "text": "one"}])
            await engine.values.set("default", "s", "colour", "red")
            await engine.values.set("other", "x", "k", 1)

    anyio.run(main)


def test_state_at_a_version_as_a_table_and_json(database_url: str) -> None:
    seed(database_url)
    table = cli("state", "s", "--version", "3", url=database_url)
    assert table.returncode == 0, table.stderr
    assert "default/s version 3" in table.stdout and "blue" in table.stdout and "1 items" in table.stdout
    document = json.loads(cli("state", "s", "--version", "2", "--json", url=database_url).stdout)
    assert document["version"] == 2 and document["values"]["colour"]["value"] == "blue"
    assert document["objects"]["t"]["items"] == {}
    now = json.loads(cli("state", "s", "--json", url=database_url).stdout)
    assert now["version"] == 4 and now["values"]["colour"]["value"] == "red"
    by_position = json.loads(cli("state", "s", "--position", "1", "--json", url=database_url).stdout)
    assert by_position["version"] == 1
    at = json.loads(cli("state", "s", "--at", "2000-01-01T00:00:00Z", "--json", url=database_url).stdout)
    assert at["version"] == 0 and at["values"] == {}


def test_diff_as_a_table_and_json(database_url: str) -> None:
    seed(database_url)
    table = cli("diff", "s", "1", "4", url=database_url)
    assert table.returncode == 0, table.stderr
    assert "colour" in table.stdout and "changed" in table.stdout and "created" in table.stdout
    document = json.loads(cli("diff", "s", "3", "4", "--json", url=database_url).stdout)
    assert document["values"]["changed"]["colour"]["after"]["value"] == "red"
    assert "no changes" in cli("diff", "s", "2", "2", url=database_url).stdout


def test_sessions_newest_first_in_pages(database_url: str) -> None:
    seed(database_url)
    table = cli("sessions", url=database_url)
    assert table.returncode == 0, table.stderr
    assert table.stdout.index("other") < table.stdout.index("default")
    first = json.loads(cli("sessions", "--limit", "1", "--json", url=database_url).stdout)
    assert [s["session"] for s in first["sessions"]] == ["x"] and first["next_after"] == 5
    rest = json.loads(cli("sessions", "--after", "5", "--json", url=database_url).stdout)
    assert [s["session"] for s in rest["sessions"]] == ["s"] and rest["next_after"] is None
    only = json.loads(cli("sessions", "-n", "default", "--json", url=database_url).stdout)
    assert [s["namespace"] for s in only["sessions"]] == ["default"]


@pytest.mark.parametrize(
    "args",
    [
        ("state", "s", "--version", "x"),
        ("state", "s", "--version", "1", "--position", "1"),
        ("state", "s", "--at", "2026-01-01T00:00:00"),
        ("state", "s", "--at", "soon"),
        ("state", "s", "--position", "-1"),
        ("state", "s", "--version", "99999999999"),
        ("diff", "s", "1", "soon"),
        ("diff", "s", "1", "99999999999"),
        ("sessions", "--limit", "0"),
        ("sessions", "--after", "x"),
    ],
    ids=lambda args: " ".join(args),
)
def test_bad_input_is_one_line_and_exit_2(database_url: str, args: tuple[str, ...]) -> None:
    seed(database_url)
    done = cli(*args, url=database_url)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr, done.stderr
    assert done.stdout == ""
