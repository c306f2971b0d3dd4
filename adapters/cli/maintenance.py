"""The maintenance verbs: `migrate`, `run`, `replay`, `verify`, `backup` and `restore`."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click
import orjson

from session_engine.adapters.cli.log import print_status
from session_engine.adapters.cli.running import (
    console,
    database_option,
    errors,
    progress_bar,
    run_read_only,
    run_with_engine,
)
from session_engine.engine import Engine, database_url
from session_engine.engine import migrate as migrate_database
from session_engine.engine.log.chain import parse_anchor


@click.command()
@database_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def migrate(database: str | None, as_json: bool) -> None:
    """Apply the schema migrations (the engine also does this when it opens)."""
    applied = migrate_database(database)
    if as_json:
        click.echo(orjson.dumps({"migrated": bool(applied), "database": database_url(database)}).decode())
        return
    console.print("migrated" if applied else "already up to date", f"({database_url(database)})")


@click.command()
@database_option
@click.option("--projection", "-p", "names", multiple=True, help="Only these projections (default: all).")
@click.option("--json", "as_json", is_flag=True, help="Print what was done as JSON.")
def replay(database: str | None, names: tuple[str, ...], as_json: bool) -> None:
    """Rebuild projections from the log while writers go on (a server may be running): into a
    scratch copy, caught up with what was written meanwhile, then swapped in by renaming tables
    under the log lock, which writers wait for only while the last tail is replayed (SQLite moves
    the copy beside the live tables first, a batch at a time). A projection whose tables the
    chosen ones' triggers write is rebuilt with them (and named)."""

    async def job(engine: Engine) -> tuple[int, Any]:
        engine.projections.named(names or None)  # unknown names: refused before the bar shows
        head = await engine.head()
        covered = 0

        with progress_bar(head, "replaying into a scratch copy") as advance:

            def seen(n: int) -> None:
                nonlocal covered
                covered += n
                advance(n)

            done = await engine.rebuild_live(names or None, progress=seen)
        return covered, done

    covered, done = run_read_only(database, job)
    chosen = done.projections
    if as_json:
        report = {"projections": chosen, "events": covered, **dataclasses.asdict(done)}
        click.echo(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode())
        return
    click.echo(
        f"rebuilt from {covered:,} events (the whole log) into a scratch copy, up to position {done.upto:,},"
        f" and swapped in: {', '.join(chosen)}; {done.applied:,} of those events were for these projections;"
        f" {done.caught_up:,} written during the rebuild were caught up, {done.locked:,} of them while"
        f" holding the log lock; writers waited at most {done.longest_hold * 1000:,.0f} ms for it"
    )


@click.command()
@database_option
@click.option("--projection", "-p", "names", multiple=True, help="Only these projections (default: all).")
@click.option(
    "--expect-head",
    "expect",
    default=None,
    metavar="[POSITION:]HASH",
    help="A head hash recorded earlier (as `status` printed it): the chain must still lead to it.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the findings as one JSON object.")
def verify(database: str | None, names: tuple[str, ...], expect: str | None, as_json: bool) -> None:
    """Recompute the log's hash chain, then rebuild the projections into a scratch copy and print
    every difference from the live read models. Exit 1 when anything does not match.

    How to anchor a head elsewhere and check it later: `session-engine docs audit`."""
    anchor: tuple[int | None, bytes] | None = None
    if expect is not None:
        try:
            anchor = parse_anchor(expect)
        except ValueError as error:
            raise click.BadParameter(str(error), param_hint="--expect-head") from None

    async def job(engine: Engine) -> tuple[Any, list[Any], list[Any]]:
        head = await engine.head()
        at = anchor[0] if anchor is not None else None
        with progress_bar(head, "checking the chain") as advance:
            chain = await engine.verify_chain(at=at, progress=advance)
        with progress_bar(head, "verifying projections") as advance:
            differences = await engine.verify(names or None, progress=advance)
        return chain, differences, await engine.verify_snapshots()

    chain, differences, damaged = run_read_only(database, job)
    if as_json:
        sys.exit(print_verify_json(chain, differences, anchor, damaged))
    failed = bool(damaged)
    for problem in damaged:
        click.echo(problem.describe(), err=True)
    if chain.ok:
        click.echo(
            f"chain: intact from position 1 to {chain.head}; head {chain.head}:{chain.head_hash.hex()}"
        )
    else:
        failed = True
        click.echo(f"chain broken at position {chain.broken_at}: {chain.reason}", err=True)
    if anchor is not None:
        position, expected = anchor
        found = chain.head_hash if position is None else chain.at_hash
        where = f"position {position}" if position is not None else f"the head (position {chain.head})"
        if found == expected:
            click.echo(f"anchor: the hash at {where} is the one expected")
        else:
            failed = True
            shown = (
                "none (the log ends, its chain breaks before it, or retention removed it)"
                if found is None
                else found.hex()
            )
            click.echo(f"anchor mismatch at {where}: expected {expected.hex()}, found {shown}", err=True)
    for difference in differences:
        console.print(difference.describe(), markup=False)
    if differences:
        failed = True
        click.echo(f"{len(differences)} differences between the read models and a rebuild", err=True)
    else:
        click.echo("verified: the live read models equal a rebuild from the log")
    if failed:
        sys.exit(1)


def print_verify_json(
    chain: Any, differences: list[Any], anchor: tuple[int | None, bytes] | None, damaged: Sequence[Any] = ()
) -> int:
    """`verify --json`: the chain, the anchor and the differences as one object; the exit status."""
    report: dict[str, Any] = {
        "chain": {
            "ok": chain.ok,
            "head": chain.head,
            "head_hash": chain.head_hash.hex(),
            "broken_at": chain.broken_at,
            "reason": chain.reason or None,
        },
        "differences": [
            {"table": d.table, "key": list(d.key), "live": d.live, "rebuilt": d.rebuilt} for d in differences
        ],
    }
    report["snapshots"] = [
        {"namespace": p.namespace, "session": p.session, "version": p.version, "reason": p.reason}
        for p in damaged
    ]
    failed = not chain.ok or bool(differences) or bool(damaged)
    if anchor is not None:
        position, expected = anchor
        found = chain.head_hash if position is None else chain.at_hash
        report["anchor"] = {
            "position": chain.head if position is None else position,
            "expected": expected.hex(),
            "found": None if found is None else found.hex(),
            "ok": found == expected,
        }
        failed = failed or found != expected
    report["verified"] = not failed
    options = orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS  # column names are str subclasses
    click.echo(orjson.dumps(report, default=str, option=options).decode())
    return 1 if failed else 0


def verified_copy(path: Path) -> int:
    """Open a copied database file, verify its read models against its log; its head. Exits 1 on a
    difference: a copy that does not verify is no backup."""

    async def job(engine: Engine) -> tuple[int, list[Any]]:
        return await engine.head(), await engine.verify()

    head, differences = run_with_engine(f"sqlite:///{path.resolve()}", job, migrate=False)
    for difference in differences:
        console.print(difference.describe(), markup=False)
    if differences:
        errors.print(f"[red]{path}: {len(differences)} differences between the read models and the log[/red]")
        sys.exit(1)
    return head


@click.command()
@database_option
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def backup(database: str | None, file: Path, as_json: bool) -> None:
    """Copy the database into the new file FILE while it serves, then verify the copy.

    SQLite: the online backup API. PostgreSQL: the error names pg_dump / pg_restore.
    """
    run_with_engine(database, lambda engine: engine.backup(file), migrate=False)
    head = verified_copy(file)
    if as_json:
        click.echo(orjson.dumps({"file": str(file), "head": head, "verified": True}).decode())
        return
    click.echo(f"backed up to {file}: log head {head}; verified")


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("target", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def restore(file: Path, target: Path, as_json: bool) -> None:
    """Restore the backup FILE into the new SQLite file TARGET, verifying the backup first and the
    restored database after (serve it with `--database sqlite:///TARGET`)."""
    verified_copy(file)
    run_with_engine(f"sqlite:///{file.resolve()}", lambda engine: engine.backup(target), migrate=False)
    head = verified_copy(target)
    if as_json:
        click.echo(
            orjson.dumps({"file": str(file), "target": str(target), "head": head, "verified": True}).decode()
        )
        return
    click.echo(f"restored {file} into {target}: log head {head}; verified")


@click.command()
@database_option
def run(database: str | None) -> None:
    """The main job: migrate the database and report the log's status."""
    print_status(run_with_engine(database, lambda engine: engine.status()))


COMMANDS = (migrate, run, replay, verify, backup, restore)
