"""`session-engine`: run, migrate, inspect, replay, verify, export and import the event log."""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import anyio
import click
import orjson
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from session_engine.adapters.cli.conformance import conformance
from session_engine.adapters.cli.docs import docs
from session_engine.adapters.cli.serve import serve
from session_engine.engine import Engine, EngineError, database_url
from session_engine.engine import migrate as migrate_database

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


def run_with_engine(
    database: str | None, job: Callable[[Engine], Awaitable[T]], *, migrate: bool = True
) -> T:
    async def main() -> T:
        async with Engine.open(database, migrate=migrate) as engine:
            return await job(engine)

    try:
        return anyio.run(main)
    except EngineError as error:
        errors.print(f"[red]error:[/red] {error}")
        sys.exit(2)


def progress_bar(total: int, description: str) -> Progress:
    return Progress(
        TextColumn(description),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=errors,
        transient=False,
    )


@click.group()
def main() -> None:
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
    for key in ("database", "head", "events", "streams", "first_recorded_at", "last_recorded_at"):
        table.add_row(key, str(summary[key]))
    for name, checkpoint in summary["projections"].items():
        table.add_row(f"projection {name}", f"position {checkpoint['position']} (v{checkpoint['version']})")
    console.print(table)


@main.command()
@database_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def status(database: str | None, as_json: bool) -> None:
    """Print the log's status: head position, counts, projection checkpoints."""
    summary = run_with_engine(database, lambda engine: engine.status())
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
    events = run_with_engine(database, lambda engine: engine.read_stream(namespace, session_id, limit=limit))
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
    """Drop every projection and rebuild it from the log."""

    async def job(engine: Engine) -> int:
        head = await engine.head()
        with progress_bar(head, "replaying") as bar:
            task = bar.add_task("replay", total=head)
            return await engine.rebuild(names or None, progress=lambda n: bar.advance(task, n))

    applied = run_with_engine(database, job)
    console.print(f"rebuilt from {applied} events")


@main.command()
@database_option
@click.option("--projection", "-p", "names", multiple=True, help="Only these projections (default: all).")
def verify(database: str | None, names: tuple[str, ...]) -> None:
    """Rebuild into a scratch copy and print every difference from the live read models."""

    async def job(engine: Engine) -> list[Any]:
        head = await engine.head()
        with progress_bar(head, "verifying") as bar:
            task = bar.add_task("verify", total=head)
            return await engine.verify(names or None, progress=lambda n: bar.advance(task, n))

    differences = run_with_engine(database, job)
    for difference in differences:
        console.print(difference.describe(), markup=False)
    if differences:
        errors.print(f"[red]{len(differences)} differences[/red]")
        sys.exit(1)
    console.print("verified: the live read models equal a rebuild from the log")


@main.command("export")
@database_option
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def export_(database: str | None, file: Path) -> None:
    """Write the whole log to FILE as JSON Lines ('-' for standard output)."""

    async def job(engine: Engine) -> int:
        if str(file) == "-":
            return await engine.export(sys.stdout.buffer)
        with file.open("wb") as out:
            return await engine.export(out)

    count = run_with_engine(database, job)
    errors.print(f"exported {count} events")


@main.command("import")
@database_option
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_(database: str | None, file: Path) -> None:
    """Load a JSON Lines export into an empty log, rebuild the projections and verify them."""

    async def job(engine: Engine) -> tuple[int, list[Any]]:
        with file.open("rb") as lines:
            count = await engine.import_(lines)
        return count, await engine.verify()

    count, differences = run_with_engine(database, job)
    for difference in differences:
        console.print(difference.describe(), markup=False)
    if differences:
        errors.print(
            f"[red]imported {count} events but verification found {len(differences)} differences[/red]"
        )
        sys.exit(1)
    console.print(f"imported {count} events; verified")


@main.command()
@database_option
def run(database: str | None) -> None:
    """The main job: migrate the database and report the log's status."""
    print_status(run_with_engine(database, lambda engine: engine.status()))


main.add_command(serve)
main.add_command(docs)
main.add_command(conformance)

if __name__ == "__main__":
    main()
