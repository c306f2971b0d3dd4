"""`session-engine serve`: every adapter on one port, with uvicorn."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator

import click
import uvicorn

from session_engine.adapters.config import (
    ConfigError,
    ServerConfig,
    development_config,
    is_loopback,
    load_config,
)
from session_engine.adapters.logs import configure_logging

log = logging.getLogger("session_engine.server")


def resolve(
    config_file: str | None, host: str | None, port: int | None, database: str | None
) -> tuple[ServerConfig, str, int, str | None]:
    """The configuration and where to listen: option/environment first, then the file, then defaults."""
    config = load_config(config_file) if config_file else development_config()
    host = host or config.server.host
    port = config.server.port if port is None else port
    if config.development and not is_loopback(host):
        raise ConfigError(
            f"refusing to listen on {host} without a configuration file: the development tenant is "
            "anonymous; give --config with real tenants and keys"
        )
    return config, host, port, database or config.server.database


def served_urls(host: str, port: int) -> dict[str, str]:
    """Every URL the server answers on, by surface: what an operator points clients and probes at."""
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return {
        "websocket": f"ws://{where}/ws",
        "bus": f"ws://{where}/bus",
        "jsonrpc": f"http://{where}/rpc (and ws://{where}/rpc)",
        "rest": f"http://{where}/",
        "openapi": f"http://{where}/openapi.json",
        "healthz": f"http://{where}/healthz",
        "readyz": f"http://{where}/readyz",
        "metrics": f"http://{where}/metrics",
    }


class QuietServer(uvicorn.Server):
    """uvicorn re-raises SIGINT/SIGTERM after its graceful shutdown; a clean stop should exit 0."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        with super().capture_signals():
            yield
            captured = getattr(self, "_captured_signals", None)
            if isinstance(captured, list):
                captured.clear()


@click.command()
@click.option("--host", envvar="SESSION_ENGINE_HOST", default=None, help="Bind address (default 127.0.0.1).")
@click.option("--port", envvar="SESSION_ENGINE_PORT", type=int, default=None, help="Port (default 8787).")
@click.option(
    "--database",
    "-d",
    envvar="SESSION_ENGINE_DATABASE",
    default=None,
    help="Database URL (default: sqlite:///session-engine.db).",
)
@click.option(
    "--config",
    "config_file",
    envvar="SESSION_ENGINE_CONFIG",
    type=click.Path(dir_okay=False),
    default=None,
    help="TOML configuration file (reference: `session-engine docs server-config`).",
)
def serve(host: str | None, port: int | None, database: str | None, config_file: str | None) -> None:
    """Serve the websocket, REST and RPC adapters on one port."""
    from session_engine.adapters.app import create_app, uvicorn_config

    try:
        config, host, port, database = resolve(config_file, host, port, database)
    except ConfigError as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(2)
    configure_logging(config.server.log_level)
    if config.development:
        key, bus_secret = config.tenants[0].api_keys[0], config.bus.secret
        click.echo(
            f"development mode: anonymous tenant 'default', websocket API key {key}, bus secret {bus_secret}",
            err=True,
        )
        log.info("development configuration")  # the key and secret: printed above, never logged
    app = create_app(database, config)
    log.info("serving", extra={"urls": served_urls(host, port)})
    QuietServer(uvicorn_config(app, config, host=host, port=port)).run()
    log.info("server stopped")
