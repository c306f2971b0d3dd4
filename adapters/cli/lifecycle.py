"""The lifecycle verbs (specs/lifecycle.md): `erase` a session of an encrypting namespace, and
`retain`, which applies retention policies now ("Retention")."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import click
import orjson

from session_engine.adapters.cli.running import database_option, errors, fail, run_read_only, run_with_engine
from session_engine.adapters.config import ConfigError, load_config
from session_engine.engine import Engine, EngineError
from session_engine.engine.retention import RetentionPolicy, RetentionReport


@click.command()
@database_option
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    envvar="SESSION_ENGINE_CONFIG",
    help="The server's TOML configuration: apply every tenant's `[tenants.retention]`.",
)
@click.option("--namespace", "-n", default=None, help="Apply the rules given here to this namespace.")
@click.option("--max-idle-days", type=float, default=None, help="Drop sessions idle longer than this.")
@click.option("--max-closed-days", type=float, default=None, help="Drop deleted sessions idle this long.")
@click.option("--keep-last", type=int, default=None, help="Keep at most this many events per session.")
@click.option("--purge-expired", is_flag=True, help="Purge expired values' rows.")
@click.option("--dry-run", is_flag=True, help="Report what would be removed; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per namespace, one per line.")
def retain(
    database: str | None,
    config_file: Path | None,
    namespace: str | None,
    max_idle_days: float | None,
    max_closed_days: float | None,
    keep_last: int | None,
    purge_expired: bool,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Remove what the retention policies say (sessions idle or closed too long, events beyond the
    last N of a session, expired values) and record each run in the namespace's `$retention` stream.
    Policies come from --config, or from --namespace with the rules given as options."""
    rules = max_idle_days, max_closed_days, keep_last
    if (config_file is None) == (namespace is None):
        raise click.UsageError("give either --config or --namespace (with the rules to apply)")
    if config_file is not None and (any(r is not None for r in rules) or purge_expired):
        raise click.UsageError("the rules come from --config; give them as options only with --namespace")
    try:
        if config_file is not None:
            policies = load_config(config_file).retention_policies()
            if not policies:
                fail(f"{config_file} gives no tenant a [tenants.retention] policy: nothing to apply")
        else:
            assert namespace is not None
            policy = RetentionPolicy(namespace, *rules, purge_expired=purge_expired)
            if not any(r is not None for r in rules) and not purge_expired:
                fail(
                    "give at least one rule: --max-idle-days, --max-closed-days, --keep-last, --purge-expired"
                )
            policies = [policy]
    except (ConfigError, EngineError) as error:
        fail(str(error))

    async def job(engine: Engine) -> list[RetentionReport]:
        return await engine.retain(policies, dry_run=dry_run)

    for report in run_with_engine(database, job):
        if as_json:
            click.echo(orjson.dumps(report.as_json()).decode())
            continue
        verb = "would remove" if dry_run else "removed"
        click.echo(
            f"{report.namespace}: {verb} {report.events_removed} events of {len(report.dropped)} dropped"
            f" and {len(report.truncated)} truncated sessions, {report.values_purged} expired values"
            + (f" (recorded at position {report.recorded_at})" if report.recorded_at is not None else "")
        )


@click.command()
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


COMMANDS = (erase, retain)
