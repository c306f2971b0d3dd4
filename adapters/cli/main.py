"""`session-engine`: run, migrate, inspect, replay, verify, export and import the event log.

Every failure is one line on standard error, saying what failed and what to do, and exit status 2
(`--debug` shows the traceback instead). Read-only commands never create a database.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import click
import orjson
from rich.table import Table

from session_engine.adapters.cli.conformance import conformance
from session_engine.adapters.cli.docs import docs
from session_engine.adapters.cli.inspect import COMMANDS as INSPECT_VERBS
from session_engine.adapters.cli.running import (
    Cli,
    console,
    database_option,
    errors,
    progress_bar,
    run_read_only,
    run_with_engine,
)
from session_engine.adapters.cli.serve import serve
from session_engine.engine import Engine, database_url
from session_engine.engine import migrate as migrate_database
from session_engine.engine.log.chain import parse_anchor


@click.group(cls=Cli)
@click.version_option(package_name="session-engine", message="%(prog)s %(version)s")
@click.option("--debug", is_flag=True, envvar="SESSION_ENGINE_DEBUG", help="Show tracebacks of failures.")
def main(debug: bool) -> None:
    """An event-sourced session object engine.

    Reference documents (configuration, protocols): `session-engine docs`.
    """


@main.command()
@database_option
def migrate(database: str | None) -> None:
    """Apply the schema migrations (the engine also does this when it opens)."""
    applied = migrate_database(database)
    console.print("migrated" if applied else "already up to date", f"({database_url(database)})")


def print_status(summary: dict[str, Any]) -> None:
    table = Table(title="session-engine log", show_header=False)
    table.add_column("key", no_wrap=True)
    table.add_column("value", overflow="fold")  # the head hash whole: an auditor copies it
    for key in (
        "database",
        "head",
        "head_hash",
        "events",
        "streams",
        "first_recorded_at",
        "last_recorded_at",
    ):
        table.add_row(key, str(summary[key]))
    for name, checkpoint in summary["projections"].items():
        table.add_row(f"projection {name}", f"position {checkpoint['position']} (v{checkpoint['version']})")
    console.print(table)
    click.echo(f"anchor (for `verify --expect-head`): {summary['head']}:{summary['head_hash']}")


@main.command()
@database_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def status(database: str | None, as_json: bool) -> None:
    """Print the log's status: head position and hash, counts, projection checkpoints."""
    summary = run_read_only(database, lambda engine: engine.status())
    if as_json:
        click.echo(orjson.dumps(summary, option=orjson.OPT_INDENT_2).decode())
    else:
        print_status(summary)


@main.command()
@database_option
@click.argument("session_id")
@click.option("--namespace", "-n", default="default", show_default=True, help="The session's namespace.")
@click.option("--json", "as_json", is_flag=True, help="JSON Lines, one event per line.")
@click.option("--limit", type=int, default=None, help="At most this many events.")
def history(database: str | None, session_id: str, namespace: str, as_json: bool, limit: int | None) -> None:
    """Show every event of one session, in order."""
    events = run_read_only(database, lambda engine: engine.read_stream(namespace, session_id, limit=limit))
    if as_json:
        out = sys.stdout.buffer
        for event in events:
            out.write(orjson.dumps(event.to_json()) + b"\n")
        out.flush()
        return
    if not events:
        errors.print(f"no events for session {namespace}/{session_id}")
        sys.exit(1)
    table = Table(title=f"history of {namespace}/{session_id}")
    for column in ("version", "position", "recorded at", "type", "data", "actor/adapter"):
        table.add_column(column)
    for event in events:
        who = "/".join(str(event.metadata[k]) for k in ("actor", "adapter") if k in event.metadata)
        data = orjson.dumps(event.data).decode()
        table.add_row(
            str(event.version),
            str(event.position),
            event.recorded_at.isoformat(timespec="milliseconds"),
            event.type,
            data if len(data) <= 120 else data[:117] + "...",
            who,
        )
    console.print(table)


@main.command()
@database_option
@click.option("--projection", "-p", "names", multiple=True, help="Only these projections (default: all).")
def replay(database: str | None, names: tuple[str, ...]) -> None:
    """Drop projections and rebuild them from the log."""

    async def job(engine: Engine) -> tuple[list[str], int, int]:
        chosen = [p.name for p in engine.projections.named(names or None)]  # unknown names: refused
        head = await engine.head()
        covered = 0

        with progress_bar(head, "replaying") as advance:

            def seen(n: int) -> None:
                nonlocal covered
                covered += n
                advance(n)

            applied = await engine.rebuild(names or None, progress=seen)
        return chosen, covered, applied

    chosen, covered, applied = run_read_only(database, job)
    click.echo(
        f"rebuilt from {covered:,} events (the whole log): {', '.join(chosen)};"
        f" {applied:,} of those events were for these projections"
    )


@main.command()
@database_option
@click.option("--projection", "-p", "names", multiple=True, help="Only these projections (default: all).")
@click.option(
    "--expect-head",
    "expect",
    default=None,
    metavar="[POSITION:]HASH",
    help="A head hash recorded earlier (as `status` printed it): the chain must still lead to it.",
)
def verify(database: str | None, names: tuple[str, ...], expect: str | None) -> None:
    """Recompute the log's hash chain, then rebuild the projections into a scratch copy and print
    every difference from the live read models. Exit 1 when anything does not match.

    How to anchor a head elsewhere and check it later: `session-engine docs audit`."""
    anchor: tuple[int | None, bytes] | None = None
    if expect is not None:
        try:
            anchor = parse_anchor(expect)
        except ValueError as error:
            raise click.BadParameter(str(error), param_hint="--expect-head") from None

    async def job(engine: Engine) -> tuple[Any, list[Any]]:
        head = await engine.head()
        at = anchor[0] if anchor is not None else None
        with progress_bar(head, "checking the chain") as advance:
            chain = await engine.verify_chain(at=at, progress=advance)
        with progress_bar(head, "verifying projections") as advance:
            differences = await engine.verify(names or None, progress=advance)
        return chain, differences

    chain, differences = run_read_only(database, job)
    failed = False
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
            shown = "none (the log ends or its chain breaks before it)" if found is None else found.hex()
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


@main.command("export")
@database_option
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def export_(database: str | None, file: Path) -> None:
    """Write the whole log to FILE as JSON Lines, each event with its chain hash ('-': stdout)."""

    async def job(engine: Engine) -> int:
        head = await engine.head()
        with progress_bar(head, "exporting") as advance:
            if str(file) == "-":
                return await engine.export(sys.stdout.buffer, progress=advance)
            with _created(file) as out:
                return await engine.export(out, progress=advance)

    count = run_read_only(database, job)
    click.echo(f"exported {count:,} events", err=True)


@contextlib.contextmanager
def _created(file: Path) -> Iterator[IO[bytes]]:
    """FILE opened for writing; removed again if the block fails, so no partial export is left."""
    out = file.open("wb")
    try:
        with out:
            yield out
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(file)
        raise


class _Counted:
    """Lines of a file, reporting the bytes read (an import's progress against the file's size)."""

    def __init__(self, lines: IO[bytes], advance: Callable[[int], None]) -> None:
        self._lines = lines
        self._advance = advance

    def __iter__(self) -> Iterator[bytes]:
        for line in self._lines:
            self._advance(len(line))
            yield line


@main.command("import")
@database_option
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_(database: str | None, file: Path) -> None:
    """Load a JSON Lines export into an empty log, check its hash chain, rebuild the projections
    and verify them. A broken chain refuses the whole file."""

    async def job(engine: Engine) -> tuple[int, list[Any]]:
        with file.open("rb") as lines, progress_bar(file.stat().st_size, "importing (bytes)") as advance:
            count = await engine.import_(_Counted(lines, advance))
        with progress_bar(count, "verifying") as advance:
            return count, await engine.verify(progress=advance)

    count, differences = run_with_engine(database, job)
    for difference in differences:
        console.print(difference.describe(), markup=False)
    if differences:
        click.echo(
            f"imported {count:,} events but verification found {len(differences)} differences", err=True
        )
        sys.exit(1)
    console.print(f"imported {count:,} events; verified")


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


@main.command()
@database_option
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def backup(database: str | None, file: Path) -> None:
    """Copy the database into the new file FILE while it serves, then verify the copy.

    SQLite: the online backup API. PostgreSQL: the error names pg_dump / pg_restore.
    """
    run_with_engine(database, lambda engine: engine.backup(file), migrate=False)
    head = verified_copy(file)
    click.echo(f"backed up to {file}: log head {head}; verified")


@main.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("target", type=click.Path(dir_okay=False, path_type=Path))
def restore(file: Path, target: Path) -> None:
    """Restore the backup FILE into the new SQLite file TARGET, verifying the backup first and the
    restored database after (serve it with `--database sqlite:///TARGET`)."""
    verified_copy(file)
    run_with_engine(f"sqlite:///{file.resolve()}", lambda engine: engine.backup(target), migrate=False)
    head = verified_copy(target)
    click.echo(f"restored {file} into {target}: log head {head}; verified")


@main.command()
@database_option
def run(database: str | None) -> None:
    """The main job: migrate the database and report the log's status."""
    print_status(run_with_engine(database, lambda engine: engine.status()))


main.add_command(serve)
main.add_command(docs)
for _verb in INSPECT_VERBS:  # state, diff, sessions (adapters/cli/inspect.py)
    main.add_command(database_option(_verb))
main.add_command(conformance)

if __name__ == "__main__":
    main()
