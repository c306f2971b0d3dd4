"""The command line tells the truth: read-only commands never create a database, every failure is
one line on stderr with exit status 2 (never a traceback, unless `--debug`), and counts agree with
what was done. Run as a user runs it: the installed console script, as a subprocess."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from session_engine.engine.backends import normalise_url
from tests.databases import ADMIN_URL
from tests.test_cli import SCRIPT, cli, seed

READ_ONLY = [
    ["status"],
    ["status", "--json"],
    ["verify"],
    ["history", "sess-1"],
    ["replay"],
]


def one_line_failure(result: subprocess.CompletedProcess[str], *needles: str) -> str:
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize("command", READ_ONLY, ids=" ".join)
def test_read_only_commands_refuse_a_missing_sqlite_file(command: list[str], tmp_path: Path) -> None:
    missing = tmp_path / "wrong" / "path.db"
    result = cli(*command, url=f"sqlite:///{missing}")
    one_line_failure(result, str(missing), "does not exist", "never creates")
    assert not missing.parent.exists()


def test_a_relative_default_path_is_named_whole(tmp_path: Path) -> None:
    """Run from the wrong directory with the default URL: the message names the file it looked for."""
    result = subprocess.run(
        [SCRIPT, "verify"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin"},
    )
    one_line_failure(result, str(tmp_path / "session-engine.db"))
    assert list(tmp_path.iterdir()) == []


def test_export_of_a_missing_database_creates_neither_it_nor_the_file(tmp_path: Path) -> None:
    missing, out = tmp_path / "nope.db", tmp_path / "out.jsonl"
    result = cli("export", str(out), url=f"sqlite:///{missing}")
    one_line_failure(result, str(missing))
    assert not missing.exists() and not out.exists()


@pytest.mark.postgres
@pytest.mark.parametrize("command", [["status"], ["verify"], ["export", "-"]], ids=" ".join)
def test_read_only_commands_refuse_a_missing_postgres_database(
    command: list[str], postgres_databases: object
) -> None:
    url = (
        normalise_url(ADMIN_URL).set(database="se_no_such_database_xyz").render_as_string(hide_password=False)
    )
    result = cli(*command, url=url)
    one_line_failure(result, "se_no_such_database_xyz", "does not exist")


@pytest.mark.parametrize(
    ("url", "needle"),
    [
        ("mysql://user@localhost/db", "unsupported database 'mysql'"),
        ("postgresql://postgres@127.0.0.1:1/nothing", "the database failed"),
        ("sqlite://", "SQLite file"),
    ],
)
def test_a_bad_or_unreachable_database_is_one_line(url: str, needle: str) -> None:
    for command in (["status"], ["migrate"]):
        one_line_failure(cli(*command, url=url), needle)


def test_debug_shows_the_traceback() -> None:
    result = subprocess.run(
        [SCRIPT, "--debug", "status", "--database", "mysql://user@localhost/db"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0 and "Traceback" in result.stderr


def test_replay_of_an_unknown_projection_is_refused(sqlite_databases: object, tmp_path: Path) -> None:
    url = sqlite_databases.fresh()  # type: ignore[attr-defined]
    one_line_failure(cli("replay", "-p", "bogus", url=url), "unknown projections: bogus", "known: values")
    one_line_failure(cli("verify", "-p", "bogus", url=url), "unknown projections: bogus")


def test_an_unwritable_export_path_is_one_line(sqlite_databases: object, tmp_path: Path) -> None:
    url = sqlite_databases.fresh()  # type: ignore[attr-defined]
    seed(url)
    one_line_failure(cli("export", str(tmp_path / "no" / "such" / "dir.jsonl"), url=url), "No such file")
    (tmp_path / "a-file").write_text("")
    one_line_failure(cli("export", str(tmp_path / "a-file" / "x.jsonl"), url=url), "Not a directory")
    directory = cli("export", str(tmp_path), url=url)  # click's own usage error: no traceback either
    assert directory.returncode == 2 and "is a directory" in directory.stderr
    assert "Traceback" not in directory.stderr


def test_counts_agree_with_what_was_done(sqlite_databases: object, tmp_path: Path) -> None:
    """5 events in the log, 2 of them for the values projection: replay says both, not one as if
    it were the other; export and import end with their counts."""
    url = sqlite_databases.fresh()  # type: ignore[attr-defined]
    seed(url)
    replayed = cli("replay", url=url)
    assert replayed.returncode == 0, replayed.stderr
    assert "rebuilt from 5 events (the whole log)" in replayed.stdout
    assert "2 of those events were for these projections" in replayed.stdout
    dump = tmp_path / "log.jsonl"
    exported = cli("export", str(dump), url=url)
    assert exported.returncode == 0 and exported.stderr.strip() == "exported 5 events"
    imported = cli("import", str(dump), url=sqlite_databases.fresh())  # type: ignore[attr-defined]
    assert imported.returncode == 0 and "imported 5 events; verified" in imported.stdout


def test_import_of_a_tampered_export_is_refused_and_changes_nothing(
    sqlite_databases: object, tmp_path: Path
) -> None:
    url = sqlite_databases.fresh()  # type: ignore[attr-defined]
    seed(url)
    dump = tmp_path / "log.jsonl"
    cli("export", str(dump), url=url)
    lines = dump.read_text().splitlines()
    lines[2] = lines[2].replace('"Plan"', '"Forged"')
    dump.write_text("\n".join(lines) + "\n")
    target = sqlite_databases.fresh()  # type: ignore[attr-defined]
    one_line_failure(cli("import", str(dump), url=target), "line 3", "hash chain is broken")
    assert '"events": 0' in cli("status", "--json", url=target).stdout


def test_version() -> None:
    result = subprocess.run([SCRIPT, "--version"], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0 and result.stdout.startswith("session-engine ")
