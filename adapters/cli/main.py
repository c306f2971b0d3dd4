"""`session-engine`: run, migrate, inspect, replay, verify, export and import the event log.

Every failure is one line on standard error, saying what failed and what to do, and exit status 2
(`--debug` shows the traceback instead). Read-only commands never create a database.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import anyio
import click
import orjson
from rich.table import Table

from session_engine.adapters.cli.conformance import conformance
from session_engine.adapters.cli.docs import docs
from session_engine.adapters.cli.inspect import COMMANDS as INSPECT_VERBS
from session_engine.adapters.cli.inspect import instant_option, whole_option
from session_engine.adapters.cli.retain import retain
from session_engine.adapters.cli.running import (
    Cli,
    console,
    database_option,
    errors,
    fail,
    progress_bar,
    run_read_only,
    run_with_engine,
)
from session_engine.adapters.cli.serve import serve
from session_engine.adapters.config import ConfigError, load_config
from session_engine.engine import Engine, database_url
from session_engine.engine import migrate as migrate_database
from session_engine.engine.log.chain import parse_anchor
from session_engine.engine.log.records import RecordedEvent
from session_engine.engine.log.transfer import ExportScope


@click.group(cls=Cli)
@click.version_option(package_name="session-engine", message="%(prog)s %(version)s")
@click.option("--debug", is_flag=True, envvar="SESSION_ENGINE_DEBUG", help="Show tracebacks of failures.")
def main(debug: bool) -> None:
    """An event-sourced session object engine.

    Reference documents (configuration, protocols): `session-engine docs`.
    """


@main.command()
@database_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def migrate(database: str | None, as_json: bool) -> None:
    """Apply the schema migrations (the engine also does this when it opens)."""
    applied = migrate_database(database)
    if as_json:
        click.echo(orjson.dumps({"migrated": bool(applied), "database": database_url(database)}).decode())
        return
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


FOLLOW_INTERVAL = 0.5
"""Seconds between looks at the log with `history --follow` (another process appends)."""


@main.command()
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


@main.command()
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


@main.command("export")
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


@main.command("import")
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


@main.command()
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


@main.command()
@database_option
@click.argument("session_id")
@click.option("--namespace", "-n", default="default", show_default=True, help="The session's namespace.")
@click.option("--reason", default=None, help="Why, recorded with the erasure (no personal data).")
@click.option(
    "--config",
    "config_file",
    envvar="SESSION_ENGINE_CONFIG",
    default=None,
    type=click.Path(exists=True, dir_okay=False),
    help="The server's TOML configuration: its tenants with `encrypt = true` can be erased.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def erase(
    database: str | None,
    session_id: str,
    namespace: str,
    reason: str | None,
    config_file: str | None,
    as_json: bool,
) -> None:
    """Erase a session of an encrypting namespace: its key destroyed, its values, record and
    objects deleted, its events kept with their payloads unreadable (shown as erased), the chain
    intact. The session stays deleted until a write recreates it (specs/lifecycle.md)."""
    try:
        encrypted = load_config(config_file).encrypted_namespaces if config_file else frozenset()
    except ConfigError as error:
        fail(str(error))
    done = run_read_only(
        database,
        lambda engine: engine.erase(namespace, session_id, reason=reason),
        encrypted_namespaces=encrypted,
    )
    if as_json:
        click.echo(orjson.dumps(dataclasses.asdict(done)).decode())
    else:
        click.echo(
            f"erased {done.namespace}/{done.session}: {done.keys_destroyed} key(s) destroyed,"
            f" {done.rows_removed} read-model rows deleted; its events read as erased up to version"
            f" {done.version}"
        )
    if done.unsealed_events:  # not a complete erasure: said, and exit 1 (as `verify` with differences)
        errors.print(
            f"[red]{done.unsealed_events} event(s) of {done.namespace}/{done.session} were stored"
            " unencrypted (before the namespace encrypted) and stay readable[/red]"
        )
        sys.exit(1)


@main.command()
@database_option
def run(database: str | None) -> None:
    """The main job: migrate the database and report the log's status."""
    print_status(run_with_engine(database, lambda engine: engine.status()))


main.add_command(serve)
main.add_command(retain)
main.add_command(docs)
for _verb in INSPECT_VERBS:  # state, diff, sessions (adapters/cli/inspect.py)
    main.add_command(database_option(_verb))
main.add_command(conformance)

if __name__ == "__main__":
    main()
