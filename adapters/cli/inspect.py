"""The audit verbs: `state` (a session at a point), `diff` (between two points), `sessions` (by activity).

Read-only. A point is a version (digits) or an ISO 8601 instant with a time zone; `state` also takes
a log position. Tables fit the terminal (rich wraps them); `--json` prints the engine's typed answer.
Bad input is one line on stderr and exit 2, as every verb's. `main` adds `--database` to each.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import click
import orjson
from rich.table import Table

from session_engine.adapters.cli.running import console, errors, fail, run_read_only
from session_engine.engine import SessionState, StateDiff, as_utc
from session_engine.engine.inspect import MapDiff, ObjectState

CELL_CHARS = 60
"""A value in a table cell is cut here: the table is a view, `--json` has everything."""

namespace_option = click.option(
    "--namespace", "-n", default="default", show_default=True, help="The session's namespace."
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


def instant_option(name: str, text: str) -> datetime:
    """An ISO 8601 instant with a zone, or a one-line failure naming the option."""
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        fail(f"{name} must be an ISO 8601 instant with a time zone (e.g. 2026-01-01T00:00:00Z), got {text!r}")
    if parsed.tzinfo is None:
        fail(f"{name} needs a time zone (e.g. Z or +00:00), got {text!r}")
    try:
        return as_utc(parsed)
    except OverflowError:
        fail(f"{name} is out of range: {text!r}")


def whole_option(name: str, text: str, least: int, most: int) -> int:
    """A whole number in [least, most], or a one-line failure naming the option."""
    if not (text.isascii() and text.isdigit()) or not least <= int(text) <= most:
        fail(f"{name} must be a whole number from {least} to {most}, got {text!r}")
    return int(text)


def _point(name: str, text: str) -> int | datetime:
    """A version (digits) or an instant."""
    return int(text) if text.isascii() and text.isdigit() else instant_option(name, text)


def _time(instant: datetime | None) -> str:
    return "-" if instant is None else instant.isoformat(timespec="milliseconds")


def _cell(value: Any) -> str:
    text = value if isinstance(value, str) else orjson.dumps(value, default=str).decode()
    return text if len(text) <= CELL_CHARS else text[: CELL_CHARS - 1] + "…"


def _json(model: Any) -> None:
    click.echo(orjson.dumps(model.model_dump(mode="json"), option=orjson.OPT_INDENT_2).decode())


@click.command()
@click.argument("session_id")
@namespace_option
@click.option(
    "--version", "version", type=str, default=None, help="As of this version (0: before any event)."
)
@click.option("--position", type=str, default=None, help="As of this log position.")
@click.option("--at", type=str, default=None, help="As of this instant (ISO 8601 with a time zone).")
@json_option
def state(
    database: str | None,
    session_id: str,
    namespace: str,
    version: str | None,
    position: str | None,
    at: str | None,
    as_json: bool,
) -> None:
    """Show a session as of a version, a position or an instant (default: now)."""
    if sum(x is not None for x in (version, position, at)) > 1:
        fail("give at most one of --version, --position or --at")
    cut: dict[str, Any] = {"at": datetime.now(UTC)}
    if version is not None:
        cut = {"version": whole_option("--version", version, 0, 2**31 - 1)}
    elif position is not None:
        cut = {"position": whole_option("--position", position, 0, 2**63 - 1)}
    elif at is not None:
        cut = {"at": instant_option("--at", at)}
    found = run_read_only(database, lambda engine: engine.state_as_of(namespace, session_id, **cut))
    if as_json:
        _json(found)
    else:
        _print_state(found)


def _print_state(state: SessionState) -> None:

    console.print(
        f"[bold]{state.namespace}/{state.session}[/bold] version {state.version}, position {state.position},"
        f" recorded {_time(state.recorded_at)}; expiry as of {_time(state.as_of)}",
        highlight=False,
        soft_wrap=True,
    )
    for title, values in (("values", state.values), ("user parts", state.user_parts)):
        if values:
            table = Table(title=title, title_justify="left", expand=False)
            for column in ("key", "value", "expires at", "updated at"):
                table.add_column(column)
            for key, found in values.items():
                expiry = _time(found.expires_at) + (" (expired)" if found.expired else "")
                table.add_row(key, _cell(found.value), expiry, _time(found.updated_at))
            console.print(table)
    if state.record is not None:
        table = Table(title="record", title_justify="left", show_header=False)
        for field, value in state.record.items():
            if value is not None:
                table.add_row(field, _cell(value))
        console.print(table)
    if state.objects:
        table = Table(title="objects", title_justify="left")
        for column in ("alias", "type", "updated at", "contents"):
            table.add_column(column)
        for alias, held in state.objects.items():
            table.add_row(alias, held.envelope.type, held.envelope.updated_at, _contents(held))
        console.print(table)
    if not (state.values or state.user_parts or state.record is not None or state.objects):
        console.print("(empty)")


def _contents(found: ObjectState) -> str:
    parts = [
        f"{len(found.messages)} messages" if found.messages else "",
        f"{len(found.items)} items" if found.items else "",
        f"{len(found.vertices)} vertices" if found.vertices else "",
        f"{len(found.edges)} edges" if found.edges else "",
    ]
    return ", ".join(p for p in parts if p) or "-"


@click.command()
@click.argument("session_id")
@click.argument("a")
@click.argument("b")
@namespace_option
@json_option
def diff(database: str | None, session_id: str, a: str, b: str, namespace: str, as_json: bool) -> None:
    """Show what changed in a session from point A to point B (versions, or ISO 8601 instants)."""
    first, second = _point("A", a), _point("B", b)
    found = run_read_only(database, lambda engine: engine.diff(namespace, session_id, first, second))
    if as_json:
        _json(found)
    else:
        _print_diff(found)


def _print_diff(found: StateDiff) -> None:
    before, after = found.before, found.after
    console.print(
        f"[bold]{found.namespace}/{found.session}[/bold] version {before.version} -> {after.version}"
        f" (position {before.position} -> {after.position})",
        highlight=False,
        soft_wrap=True,
    )
    if found.empty:
        console.print("no changes")
        return
    table = Table()
    for column in ("part", "key", "change", "before", "after"):
        table.add_column(column)

    def rows(part: str, changes: MapDiff[Any], show: Any = lambda v: v) -> None:
        for key, value in changes.added.items():
            table.add_row(part, key, "added", "", _cell(show(value)))
        for key, value in changes.removed.items():
            table.add_row(part, key, "removed", _cell(show(value)), "")
        for key, change in changes.changed.items():
            table.add_row(part, key, "changed", _cell(show(change.before)), _cell(show(change.after)))

    def value(stored: Any) -> Any:
        return [stored.value, "expired"] if stored.expired else stored.value

    rows("value", found.values, value)
    rows("user part", found.user_parts, value)
    if found.record_exists is not None:
        table.add_row("record", "", "created" if found.record_exists.after else "deleted", "", "")
    rows("record", found.record)
    for alias, created in found.objects.created.items():
        table.add_row("object", alias, "created", "", f"{created.envelope.type}: {_contents(created)}")
    for alias, deleted in found.objects.deleted.items():
        table.add_row("object", alias, "deleted", f"{deleted.envelope.type}: {_contents(deleted)}", "")
    for alias, change in found.objects.changed.items():
        if change.envelope is not None:
            old, new = change.envelope.before, change.envelope.after
            table.add_row("object", alias, "replaced", _cell(old.model_dump()), _cell(new.model_dump()))
        if change.messages is not None:
            messages = change.messages
            table.add_row(
                f"{alias} messages", "", f"kept {messages.kept}", "", f"{len(messages.appended)} appended"
            )
        for part, changes in (("item", change.items), ("vertex", change.vertices), ("edge", change.edges)):
            if changes is not None:
                rows(f"{alias} {part}", changes)
    console.print(table)


@click.command()
@click.option("--namespace", "-n", default=None, help="Only this namespace (default: every namespace).")
@click.option("--after", default=None, help="Continue after this position (the previous page's `more`).")
@click.option("--limit", default="50", show_default=True, help="Sessions per page (at most 10000).")
@click.option("--prefix", default=None, help="Only sessions whose id starts with this.")
@json_option
def sessions(
    database: str | None,
    namespace: str | None,
    after: str | None,
    limit: str,
    prefix: str | None,
    as_json: bool,
) -> None:
    """List sessions, newest activity first, a page at a time."""
    start = None if after is None else whole_option("--after", after, 1, 2**63 - 1)
    size = whole_option("--limit", limit, 1, 10_000)
    page = run_read_only(
        database, lambda engine: engine.sessions(namespace, after=start, limit=size, prefix=prefix)
    )
    if as_json:
        _json(page)
        return
    table = Table()
    for column in ("namespace", "session", "events", "last activity", "last event", "position"):
        table.add_column(column)
    for found in page.sessions:
        table.add_row(
            found.namespace,
            found.session,
            str(found.version),
            _time(found.last_recorded_at),
            found.last_type,
            str(found.last_position),
        )
    console.print(table)
    if page.next_after is not None:
        errors.print(f"more: --after {page.next_after}", highlight=False)


COMMANDS = (state, diff, sessions)
