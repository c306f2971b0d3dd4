"""The log's verbs: `status`, `history` (with `--follow`), `export` and `import`."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import anyio
import click
import orjson
from rich.table import Table

from session_engine.adapters.cli.inspect import instant_option, whole_option
from session_engine.adapters.cli.running import (
    console,
    database_option,
    errors,
    fail,
    progress_bar,
    run_read_only,
    run_with_engine,
)
from session_engine.engine import Engine
from session_engine.engine.log.records import RecordedEvent
from session_engine.engine.log.transfer import ExportScope


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


@click.command()
@database_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def status(database: str | None, as_json: bool) -> None:
    """Print the log's status: head position and hash, counts, projection checkpoints."""
    summary = run_read_only(database, lambda engine: engine.status())
    if as_json:
        click.echo(orjson.dumps(summary, option=orjson.OPT_INDENT_2).decode())
    else:
        print_status(summary)


FOLLOW_INTERVAL = 0.5
"""Seconds between looks at the log with `history --follow` (another process appends)."""


@click.command()
@database_option
@click.argument("session_id")
@click.option("--namespace", "-n", default="default", show_default=True, help="The session's namespace.")
@click.option("--json", "as_json", is_flag=True, help="JSON Lines, one event per line.")
@click.option("--limit", default=None, help="At most this many events.")
@click.option("--type", "types", multiple=True, help="Only events of this type (repeatable).")
@click.option(
    "--since", default=None, metavar="INSTANT", help="Only events recorded at or after this ISO instant."
)
@click.option("--from-version", default="1", show_default=True, help="Start at this version.")
@click.option(
    "--follow", "-f", is_flag=True, help="Keep printing new events as they are appended (Ctrl-C ends)."
)
def history(
    database: str | None,
    session_id: str,
    namespace: str,
    as_json: bool,
    limit: str | None,
    types: tuple[str, ...],
    since: str | None,
    from_version: str,
    follow: bool,
) -> None:
    """Show the events of one session, in order: all of them, or of some types, since an instant,
    from a version; `--follow` goes on with new ones (one line each) until interrupted."""
    after = instant_option("--since", since) if since is not None else None
    first = whole_option("--from-version", from_version, 1, 2**31 - 1)
    most = None if limit is None else whole_option("--limit", limit, 1, 2**31 - 1)
    chosen = types or None

    def wanted(events: list[RecordedEvent]) -> list[RecordedEvent]:
        return [e for e in events if after is None or e.recorded_at >= after]

    def selected(events: list[RecordedEvent]) -> list[RecordedEvent]:
        return [e for e in wanted(events) if chosen is None or e.type in chosen]

    if not follow:
        events = run_read_only(
            database,
            lambda engine: engine.read_stream(
                namespace, session_id, from_version=first, limit=most, types=chosen
            ),
        )
        events = wanted(events)
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
        for column in HISTORY_COLUMNS:
            table.add_column(column)
        for event in events:
            table.add_row(*history_row(event))
        console.print(table)
        return

    async def job(engine: Engine) -> None:
        start = first
        while True:
            # Every type is read, so the next version to start at is known; types are filtered here.
            events = await engine.read_stream(namespace, session_id, from_version=start, limit=most)
            for event in selected(events):
                if as_json:
                    sys.stdout.buffer.write(orjson.dumps(event.to_json()) + b"\n")
                else:
                    sys.stdout.write("  ".join(history_row(event)) + "\n")
            sys.stdout.flush()
            if events:
                start = events[-1].version + 1
            else:
                await anyio.sleep(FOLLOW_INTERVAL)

    with contextlib.suppress(KeyboardInterrupt):
        run_read_only(database, job)


HISTORY_COLUMNS = ("version", "position", "recorded at", "type", "data", "actor/adapter")


def history_row(event: RecordedEvent) -> tuple[str, ...]:
    who = "/".join(str(event.metadata[k]) for k in ("actor", "adapter") if k in event.metadata)
    data = orjson.dumps(event.data).decode()
    return (
        str(event.version),
        str(event.position),
        event.recorded_at.isoformat(timespec="milliseconds"),
        event.type,
        data if len(data) <= 120 else data[:117] + "...",
        who,
    )


@click.command("export")
@database_option
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--namespace", "-n", default=None, help="Only this namespace.")
@click.option("--session", default=None, help="Only this session (with --namespace).")
@click.option(
    "--since", default=None, metavar="INSTANT", help="Only events recorded at or after this ISO instant."
)
@click.option(
    "--until", default=None, metavar="INSTANT", help="Only events recorded at or before this ISO instant."
)
@click.option(
    "--json", "as_json", is_flag=True, help="Report the count as JSON (on stderr when FILE is '-')."
)
def export_(
    database: str | None,
    file: Path,
    namespace: str | None,
    session: str | None,
    since: str | None,
    until: str | None,
    as_json: bool,
) -> None:
    """Write the log to FILE as JSON Lines, each event with its chain hash ('-': stdout): the
    whole log, or one namespace, one session and/or a time range (a partial export is for reading;
    `import` takes a whole log)."""
    if session is not None and namespace is None:
        fail("--session needs --namespace (a session id is only unique within its namespace)")
    scope = ExportScope(
        namespace,
        session,
        instant_option("--since", since) if since is not None else None,
        instant_option("--until", until) if until is not None else None,
    )

    async def job(engine: Engine) -> int:
        head = await engine.head()
        with progress_bar(head, "exporting") as advance:
            if str(file) == "-":
                return await engine.export(sys.stdout.buffer, progress=advance, scope=scope)
            with _created(file) as out:
                return await engine.export(out, progress=advance, scope=scope)

    count = run_read_only(database, job)
    if as_json:
        click.echo(orjson.dumps({"events": count, "file": str(file)}).decode(), err=str(file) == "-")
        return
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


@click.command("import")
@database_option
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Report the count and verification as JSON.")
def import_(database: str | None, file: Path, as_json: bool) -> None:
    """Load a JSON Lines export into an empty log, check its hash chain, rebuild the projections
    and verify them. A broken chain refuses the whole file."""

    async def job(engine: Engine) -> tuple[int, list[Any]]:
        with file.open("rb") as lines, progress_bar(file.stat().st_size, "importing (bytes)") as advance:
            count = await engine.import_(_Counted(lines, advance))
        with progress_bar(count, "verifying") as advance:
            return count, await engine.verify(progress=advance)

    count, differences = run_with_engine(database, job)
    if as_json:
        found = [d.describe() for d in differences]
        click.echo(orjson.dumps({"events": count, "verified": not found, "differences": found}).decode())
        sys.exit(1 if found else 0)
    for difference in differences:
        console.print(difference.describe(), markup=False)
    if differences:
        click.echo(
            f"imported {count:,} events but verification found {len(differences)} differences", err=True
        )
        sys.exit(1)
    console.print(f"imported {count:,} events; verified")


COMMANDS = (status, history, export_, import_)
