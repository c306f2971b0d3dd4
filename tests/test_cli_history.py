"""`session-engine history`: filters by type, instant and version, and `--follow`; `--json` on
`replay` and `verify`. Run as a user runs it (the installed console script, as a subprocess)."""

from __future__ import annotations

import json
import select
import signal
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import sqlalchemy as sa

from session_engine.engine import Engine, NewEvent
from session_engine.engine.backends import normalise_url
from session_engine.engine.values.tables import value_entries
from tests.test_cli import SCRIPT, cli, seed
from tests.test_cli_honesty import one_line_failure


def lines_of(result: subprocess.CompletedProcess[str]) -> list[dict[str, object]]:
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_type_and_version_filters(database_url: str) -> None:
    seed(database_url)  # sess-1: noted (v1), renamed (v2)
    assert [e["type"] for e in lines_of(cli("history", "sess-1", "--json", url=database_url))] == [
        "noted",
        "renamed",
    ]
    only = lines_of(cli("history", "sess-1", "--json", "--type", "renamed", url=database_url))
    assert [(e["type"], e["version"]) for e in only] == [("renamed", 2)]
    both = cli("history", "sess-1", "--json", "--type", "renamed", "--type", "noted", url=database_url)
    assert len(lines_of(both)) == 2
    later = lines_of(cli("history", "sess-1", "--json", "--from-version", "2", url=database_url))
    assert [e["version"] for e in later] == [2]
    table = cli("history", "sess-1", "--type", "renamed", url=database_url)
    assert table.returncode == 0 and "renamed" in table.stdout and "noted" not in table.stdout


def test_since_filter(database_url: str) -> None:
    seed(database_url)
    past = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    assert len(lines_of(cli("history", "sess-1", "--json", "--since", past, url=database_url))) == 2
    assert lines_of(cli("history", "sess-1", "--json", "--since", future, url=database_url)) == []


def test_bad_filters_are_one_line_errors(database_url: str) -> None:
    seed(database_url)
    one_line_failure(cli("history", "sess-1", "--since", "yesterday", url=database_url), "--since")
    one_line_failure(cli("history", "sess-1", "--since", "2026-01-01T00:00:00", url=database_url), "zone")
    one_line_failure(cli("history", "sess-1", "--from-version", "0", url=database_url), "--from-version")
    one_line_failure(cli("history", "sess-1", "--from-version", "x", url=database_url), "--from-version")


def test_follow_prints_new_events_as_they_come(database_url: str) -> None:
    seed(database_url)
    follower = subprocess.Popen(
        [SCRIPT, "history", "sess-1", "--json", "--follow", "--type", "noted", "--database", database_url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_interruptible,
    )
    try:
        assert follower.stdout is not None
        first = json.loads(read_line(follower))
        assert (first["type"], first["version"]) == ("noted", 1)

        async def append() -> None:
            async with Engine.open(database_url, migrate=False) as engine:
                await engine.append("default", "sess-1", [NewEvent("renamed", {"title": "skipped"})])
                await engine.append("default", "sess-1", [NewEvent("noted", {"text": "later"})])

        anyio.run(append)
        later = json.loads(read_line(follower))
        assert (later["type"], later["version"], later["data"]) == ("noted", 4, {"text": "later"})
    finally:
        follower.send_signal(signal.SIGINT)
        _, err = follower.communicate(timeout=60)
    assert follower.returncode == 0, err
    assert "Traceback" not in err


def _interruptible() -> None:
    """Ctrl-C's default for the child, as at a terminal: a suite started in the background by a
    shell without job control inherits SIGINT ignored, and Python then never raises
    KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def read_line(process: subprocess.Popen[str], timeout: float = 60) -> str:
    """The next line the process prints (fails the test after `timeout` seconds of silence)."""
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([process.stdout], [], [], 0.1)
        if ready:
            return process.stdout.readline()
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
    raise AssertionError("no line within the timeout")


def test_replay_and_verify_speak_json(database_url: str) -> None:
    seed(database_url)
    replayed = json.loads(cli("replay", "--json", url=database_url).stdout)
    assert replayed["projections"] == ["values", "records", "objects"]
    assert replayed["events"] == replayed["upto"] == 5 and replayed["applied"] == 2
    clean = cli("verify", "--json", url=database_url)
    assert clean.returncode == 0, clean.stderr
    report = json.loads(clean.stdout)
    assert report["verified"] and report["chain"]["ok"] and report["chain"]["head"] == 5
    assert report["differences"] == []
    anchored = cli("verify", "--json", "--expect-head", f"5:{'00' * 32}", url=database_url)
    assert anchored.returncode == 1
    assert json.loads(anchored.stdout)["anchor"]["ok"] is False

    engine = sa.create_engine(normalise_url(database_url))
    with engine.begin() as connection:
        connection.execute(value_entries.update().where(value_entries.c.key == "size").values(size=99))
    engine.dispose()
    drifted = cli("verify", "--json", url=database_url)
    assert drifted.returncode == 1
    found = json.loads(drifted.stdout)
    assert not found["verified"] and [d["table"] for d in found["differences"]] == ["value_entries"]


def test_export_and_import_speak_json(sqlite_databases, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    source = sqlite_databases.fresh()
    seed(source)
    dump = tmp_path / "log.jsonl"
    exported = cli("export", str(dump), "--json", url=source)
    assert json.loads(exported.stdout) == {"events": 5, "file": str(dump)}
    imported = cli("import", str(dump), "--json", url=sqlite_databases.fresh())
    assert json.loads(imported.stdout) == {"events": 5, "verified": True, "differences": []}


def test_backup_restore_and_migrate_speak_json(sqlite_databases, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    source = sqlite_databases.fresh()
    seed(source)
    copy, restored = tmp_path / "copy.db", tmp_path / "restored.db"
    backed = cli("backup", str(copy), "--json", url=source)
    assert json.loads(backed.stdout) == {"file": str(copy), "head": 5, "verified": True}
    again = subprocess.run(
        [SCRIPT, "restore", str(copy), str(restored), "--json"], capture_output=True, text=True, timeout=120
    )
    assert json.loads(again.stdout) == {
        "file": str(copy),
        "target": str(restored),
        "head": 5,
        "verified": True,
    }
    assert json.loads(cli("migrate", "--json", url=source).stdout)["migrated"] is False


def test_export_of_one_session_namespace_or_time_range(tmp_path: Path) -> None:
    """A partial export holds exactly the events its scope names, each line as in the whole export
    (hash included); import refuses it (its chain does not start at the first event)."""
    url = f"sqlite:///{tmp_path / 'log.db'}"

    async def fill() -> None:
        async with Engine.open(url) as engine:
            for ns, stream in [("a", "s1"), ("a", "s2"), ("b", "s1"), ("a", "s1")]:
                await engine.append(ns, stream, [NewEvent("noted", {"at": stream})])

    anyio.run(fill)
    whole = tmp_path / "whole.jsonl"
    assert cli("export", str(whole), url=url).returncode == 0
    lines = [json.loads(line) for line in whole.read_bytes().splitlines()]
    assert [line["position"] for line in lines] == [1, 2, 3, 4]

    def exported(*options: str) -> list[dict[str, Any]]:
        out = tmp_path / "part.jsonl"
        done = cli("export", str(out), *options, url=url)
        assert done.returncode == 0, done.stderr
        return [json.loads(line) for line in out.read_bytes().splitlines()]

    assert exported("-n", "a", "--session", "s1") == [lines[0], lines[3]]
    assert exported("-n", "b") == [lines[2]]
    first, last = lines[1]["recorded_at"], lines[2]["recorded_at"]
    assert exported("--since", first, "--until", last) == [
        line for line in lines if first <= line["recorded_at"] <= last
    ]
    refused = cli("export", str(tmp_path / "x.jsonl"), "--session", "s1", url=url)
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1 and "--namespace" in refused.stderr
    bad = cli("export", str(tmp_path / "x.jsonl"), "--since", "yesterday", url=url)
    assert bad.returncode == 2 and "--since" in bad.stderr and not (tmp_path / "x.jsonl").exists()
    partial = tmp_path / "part.jsonl"
    exported("-n", "b")
    imported = cli("import", str(partial), url=f"sqlite:///{tmp_path / 'new.db'}")
    assert imported.returncode != 0 and "Traceback" not in imported.stderr
