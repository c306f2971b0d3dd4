"""`session-engine retain`: apply retention policies now (specs/lifecycle.md, "Retention")."""

from __future__ import annotations

from pathlib import Path

import click
import orjson

from session_engine.adapters.cli.running import database_option, fail, run_with_engine
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
