"""Retention from the outside: `session-engine retain` (dry run, JSON, one-line errors), the server
config's `[tenants.retention]` applied every `[server] retain_seconds` by a real running server."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio
import httpx
import pytest

from session_engine.adapters.config import ConfigError, Retention, parse_config
from session_engine.engine import Engine, ManualClock, NewEvent
from session_engine.engine.log.gaps import RETENTION_STREAM
from session_engine.engine.retention import RetentionPolicy
from tests.adapters.server import running_server
from tests.adapters.websocket.conftest import ACME_KEY, make_config
from tests.databases import SqliteDatabases
from tests.test_cli import cli

TENANT = {"name": "a", "namespace": "ns", "app_name": "A", "app_version": "1", "api_keys": ["k" * 10]}


def seed_old_and_new(url: str) -> None:
    async def main() -> None:
        clock = ManualClock(datetime.now(UTC) - timedelta(days=100))
        async with Engine.open(url, migrate=False, clock=clock) as engine:
            await engine.append("ns", "old", [NewEvent("noted", {"n": 1}), NewEvent("noted", {"n": 2})])
        async with Engine.open(url, migrate=False) as engine:
            await engine.append("ns", "new", [NewEvent("noted", {"n": 3})])

    anyio.run(main)


def test_the_cli_previews_then_removes_and_verify_stays_clean(sqlite_databases: SqliteDatabases) -> None:
    url = sqlite_databases.fresh()
    seed_old_and_new(url)
    preview = cli("retain", "-n", "ns", "--max-idle-days", "30", "--dry-run", "--json", url=url)
    assert preview.returncode == 0, preview.stderr
    found = json.loads(preview.stdout)
    assert found["dry_run"] and found["dropped"] == ["old"] and found["events_removed"] == 2
    assert found["recorded_at"] is None

    done = cli("retain", "-n", "ns", "--max-idle-days", "30", url=url)
    assert done.returncode == 0, done.stderr
    assert "ns: removed 2 events of 1 dropped" in done.stdout and "recorded at position" in done.stdout
    verified = cli("verify", url=url)
    assert verified.returncode == 0, verified.stderr + verified.stdout
    again = cli("retain", "-n", "ns", "--max-idle-days", "30", "--json", url=url)
    assert json.loads(again.stdout)["events_removed"] == 0


def test_the_cli_refuses_bad_input_in_one_line(sqlite_databases: SqliteDatabases, tmp_path: Path) -> None:
    url = sqlite_databases.fresh()
    for args in (
        ["retain"],  # neither --config nor --namespace
        ["retain", "-n", "ns"],  # no rule
        ["retain", "-n", "ns", "--max-idle-days", "-1"],
        ["retain", "--config", str(tmp_path / "missing.toml")],
    ):
        answer = cli(*args, url=url)
        assert answer.returncode == 2, (args, answer.stdout, answer.stderr)
        assert "Traceback" not in answer.stderr and answer.stderr.strip()


def test_the_config_gives_one_policy_per_namespace() -> None:
    retention = {"max_idle_days": 30, "purge_expired": True}
    config = parse_config({"tenants": [{**TENANT, "retention": retention}]})
    assert config.retention_policies() == [RetentionPolicy("ns", max_idle_days=30, purge_expired=True)]
    for bad in ({"max_idle_days": 0}, {"keep_last": 0}, {"forever": True}):
        with pytest.raises(ConfigError):
            parse_config({"tenants": [{**TENANT, "retention": bad}]})
    twice = [
        {**TENANT, "retention": {"max_idle_days": 1}},
        {**TENANT, "name": "b", "api_keys": ["j" * 10], "retention": {"max_idle_days": 2}},
    ]
    with pytest.raises(ConfigError, match="one retention policy"):
        parse_config({"tenants": twice})


def test_the_server_applies_the_tenants_policies_on_its_own(sqlite_databases: SqliteDatabases) -> None:
    config = make_config()
    acme = config.tenants[0].model_copy(update={"retention": Retention(purge_expired=True)})
    config = config.model_copy(
        update={
            "tenants": (acme, *config.tenants[1:]),
            "server": config.server.model_copy(update={"purge_expired_seconds": 0, "retain_seconds": 0.1}),
        }
    )
    headers = {"Authorization": f"Bearer {ACME_KEY}"}
    with running_server(sqlite_databases.fresh(), config, migrate=False) as base:
        soon = (datetime.now(UTC) + timedelta(seconds=0.3)).isoformat().replace("+00:00", "Z")
        answer = httpx.post(
            f"{base}/v1/sessions/s/values", json={"key": "k", "value": 1, "expiry": soon}, headers=headers
        )
        assert answer.status_code == 204
        deadline = time.monotonic() + 10
        runs: list[dict[str, object]] = []
        while not runs and time.monotonic() < deadline:
            time.sleep(0.1)
            found = httpx.get(f"{base}/api/sessions/{RETENTION_STREAM}/events", headers=headers)
            runs = found.json().get("events", []) if found.status_code == 200 else []
        assert [run["type"] for run in runs] == ["retention_run"]
        assert runs[0]["data"]["values_purged"] == 1  # type: ignore[index]
