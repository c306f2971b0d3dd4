"""What every command of the command line shares: the consoles, the `--database` option, the
runner that opens an engine, and the group that turns any failure into one line on stderr."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, NoReturn, TypeVar

import anyio
import click
import sqlalchemy as sa
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from session_engine.engine import Engine, EngineError
from session_engine.engine.backends import Backend

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
    database: str | None, job: Callable[[Engine], Awaitable[T]], *, migrate: bool = True, **options: Any
) -> T:
    async def main() -> T:
        async with Engine.open(database, migrate=migrate, **options) as engine:
            return await job(engine)

    return anyio.run(main)


def run_read_only(database: str | None, job: Callable[[Engine], Awaitable[T]], **options: Any) -> T:
    """`run_with_engine` for a command that only reads: refuses a database that does not exist,
    where opening it would create an empty one and report on that."""
    backend = Backend.for_url(database)
    if not backend.database_exists():
        fail(
            f"{backend.describe()} does not exist; this command never creates a database (check"
            " --database / SESSION_ENGINE_DATABASE and the working directory; to start a new log"
            " there, run `session-engine migrate`, on PostgreSQL after creating the database)"
        )
    return run_with_engine(database, job, **options)


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
