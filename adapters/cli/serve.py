"""`session-engine serve`: every adapter on one port, with uvicorn."""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import socket
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
        "docs": f"http://{where}/docs",
        "asyncapi": f"http://{where}/asyncapi.json",
        "console": f"http://{where}/console (and ws://{where}/console/live)",
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
@click.option(
    "--workers",
    envvar="SESSION_ENGINE_WORKERS",
    type=click.IntRange(1, 64),
    default=1,
    help="Server processes on the one port (more than 1 needs --config; `session-engine docs operations`).",
)
@click.option("--socket-fd", type=int, default=None, hidden=True)  # a worker's inherited socket
def serve(
    host: str | None,
    port: int | None,
    database: str | None,
    config_file: str | None,
    workers: int,
    socket_fd: int | None,
) -> None:
    """Serve the websocket, REST and RPC adapters on one port."""
    from session_engine.adapters.app import create_app, uvicorn_config

    try:
        config, host, port, database = resolve(config_file, host, port, database)
    except ConfigError as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(2)
    if config.server.tracing and importlib.util.find_spec("opentelemetry") is None:
        click.echo(
            "error: [server] tracing needs the otel extra: pip install 'session-engine[otel]'", err=True
        )
        sys.exit(2)
    if workers > 1 and config.development:
        click.echo("error: --workers needs --config: a development key is random in each process", err=True)
        sys.exit(2)
    configure_logging(config.server.log_level)
    if workers > 1:
        supervise(host, port, workers, config_file, database)
        return
    if config.development:
        key, bus_secret = config.tenants[0].api_keys[0], config.bus.secret
        click.echo(
            f"development mode: anonymous tenant 'default', websocket API key {key}, bus secret {bus_secret}",
            err=True,
        )
        log.info("development configuration")  # the key and secret: printed above, never logged
    app = create_app(database, config)
    server = QuietServer(uvicorn_config(app, config, host=host, port=port))
    if socket_fd is not None:
        log.info("worker serving")  # the supervisor named the URLs
        server.run(sockets=[socket.socket(fileno=socket_fd)])
    else:
        log.info("serving", extra={"urls": served_urls(host, port)})
        server.run()
    log.info("server stopped")


def supervise(host: str, port: int, workers: int, config_file: str | None, database: str | None) -> None:
    """`--workers N`: bind, start N workers on the socket, stop them on SIGINT/SIGTERM."""
    from session_engine.adapters.cli.workers import Supervisor, listening_socket

    try:
        sock = listening_socket(host, port)
    except OSError as error:
        click.echo(f"error: cannot listen on {host}:{port}: {error.strerror}", err=True)
        sys.exit(2)
    arguments = ["--config", str(config_file)] + (["--database", database] if database else [])
    log.info("serving", extra={"urls": served_urls(host, port), "workers": workers})
    code = Supervisor(sock, workers, arguments).run()
    log.info("server stopped")
    sys.exit(code)
