"""`session-engine`: run, migrate, inspect, replay, verify, export and import the event log.

Every failure is one line on standard error, saying what failed and what to do, and exit status 2
(`--debug` shows the traceback instead). Read-only commands never create a database.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import IO, Any, NoReturn, TypeVar

import anyio
import click
import orjson
import sqlalchemy as sa
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from session_engine.adapters.cli.docs import docs
from session_engine.adapters.cli.serve import serve
from session_engine.engine import Engine, EngineError, database_url
from session_engine.engine import migrate as migrate_database
from session_engine.engine.backends import Backend
from session_engine.engine.log.chain import parse_anchor

T = TypeVar("T")
console = Console()
errors = Console(stderr=True)

database_option = click.option(
    "--database",
    "-d",
    envvar="SESSION_ENGINE_DATABASE",
    default=None,
    help="Database URL (default: sqlite:///session-engine.db; env SESSION_ENGINE_DATABASE).",
)


class Failed(Exception):
    """A failure the command line reports as one line: what failed, and what to do."""


def fail(message: str) -> NoReturn:
    raise Failed(message)


def explain(error: BaseException) -> str:
    """One line for a failure: the engine's own message, or what went wrong and what to try."""
    if isinstance(error, Failed | EngineError):
        return str(error)
    if isinstance(error, sa.exc.DBAPIError):
        first = (
            str(error.orig).strip().splitlines()[0] if str(error.orig).strip() else type(error.orig).__name__
        )
        return (
            f"the database failed: {first} (check --database / SESSION_ENGINE_DATABASE, and that the"
            " server is running and reachable)"
        )
    if isinstance(error, sa.exc.ArgumentError | ValueError):
        return f"{error} (check --database / SESSION_ENGINE_DATABASE)"
    if isinstance(error, OSError):
        where = f": {error.filename}" if error.filename else ""
        return f"{error.strerror or error}{where}"
    return f"{type(error).__name__}: {error} (unexpected; run with --debug for the traceback)"


def _single(error: BaseException) -> BaseException:
    """The one exception inside exception groups (anyio's task groups wrap what they raise)."""
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    return error


class Cli(click.Group):
    """The command group: turns every failure of every command into one line on stderr, exit 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)
        except Exception as caught:
            if ctx.params.get("debug"):
                raise
            click.echo(f"error: {explain(_single(caught))}", err=True)
            sys.exit(2)


def run_with_engine(
    database: str | None, job: Callable[[Engine], Awaitable[T]], *, migrate: bool = True
) -> T:
    async def main() -> T:
        async with Engine.open(database, migrate=migrate) as engine:
            return await job(engine)

    return anyio.run(main)


def run_read_only(database: str | None, job: Callable[[Engine], Awaitable[T]]) -> T:
    """`run_with_engine` for a command that only reads: refuses a database that does not exist,
    where opening it would create an empty one and report on that."""
    backend = Backend.for_url(database)
    if not backend.database_exists():
        fail(
            f"{backend.describe()} does not exist; this command never creates a database (check"
            " --database / SESSION_ENGINE_DATABASE and the working directory; to start a new log"
            " there, run `session-engine migrate`, on PostgreSQL after creating the database)"
        )
    return run_with_engine(database, job)


@contextlib.contextmanager
def progress_bar(total: int | None, description: str) -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr while the block runs, when stderr is a terminal; the callback it
    yields advances it (from any thread). Elsewhere nothing is drawn: the command's final line says
    how many."""
    if not errors.is_terminal:
        yield lambda n: None
        return
    bar = Progress(
        TextColumn(description),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=errors,
        transient=False,
    )
    with bar:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.advance(task, n)


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


@main.command()
@database_option
def run(database: str | None) -> None:
    """The main job: migrate the database and report the log's status."""
    print_status(run_with_engine(database, lambda engine: engine.status()))


main.add_command(serve)
main.add_command(docs)

if __name__ == "__main__":
    main()
