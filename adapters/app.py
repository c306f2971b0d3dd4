"""One ASGI application serving every adapter on one port.

The engine is opened in the Starlette lifespan and shared by all adapters; each adapter only
translates its protocol into engine calls. `uvicorn_config` holds the server settings that belong
with the app (the websocket protocol class that counts pings, frame limits, graceful shutdown).
"""

from __future__ import annotations

import gc
import logging
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute

from session_engine.adapters import asyncapi
from session_engine.adapters.config import ServerConfig
from session_engine.adapters.console import console_routes
from session_engine.adapters.http_transport import timed_protocol
from session_engine.adapters.logs import redact_credentials
from session_engine.adapters.metrics import Metrics
from session_engine.adapters.requests import RecordHttpRequests, Requests
from session_engine.adapters.rest.app import create_rest_app
from session_engine.adapters.rest.hot import HotDistriRoutes
from session_engine.adapters.retention import purge_expired_forever, retain_forever
from session_engine.adapters.rpc.bus.endpoint import BusAdapter
from session_engine.adapters.rpc.jsonrpc_endpoint import JsonRpcHttp, JsonRpcWebsocket
from session_engine.adapters.websocket.endpoint import WebsocketAdapter
from session_engine.adapters.websocket.transport import websocket_protocol
from session_engine.engine import Engine

log = logging.getLogger("session_engine.server")
READY_TIMEOUT = 2.0


def create_app(
    engine_url: str | None, config: ServerConfig, *, tracer: Any = None, **engine_options: Any
) -> Starlette:
    """The server's app. `tracer`: an OpenTelemetry tracer to trace with (`[server] tracing` takes
    the global one); None and tracing off: no span is made and `opentelemetry` is not imported."""
    websocket = WebsocketAdapter(config)
    metrics = Metrics(lambda: app.state.engine)
    tracing = None
    if tracer is not None or config.server.tracing:
        from session_engine.adapters.tracing import Tracing

        tracing = Tracing(tracer)
    requests = Requests(metrics, tracing)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        options = {
            "durability": config.server.durability,
            "encrypted_namespaces": config.encrypted_namespaces,
            "snapshot_grid": config.server.snapshot_grid,
            **engine_options,
        }
        async with Engine.open(engine_url, **options) as engine, anyio.create_task_group() as tasks:
            app.state.engine = websocket.engine = engine
            engine.observe_batches(metrics.observe)
            if tracing is not None:
                tracing.install(engine)
            tasks.start_soon(websocket.reap_forever)
            if metrics.multiprocess:  # a worker of `serve --workers N`: its figures for every scrape
                tasks.start_soon(metrics.sample_forever)
            if config.server.purge_expired_seconds > 0:
                tasks.start_soon(purge_expired_forever, engine, config.server.purge_expired_seconds)
            policies = config.retention_policies()
            if policies and config.server.retain_seconds > 0:
                tasks.start_soon(retain_forever, engine, policies, config.server.retain_seconds)
            log.info("engine open", extra={"database": engine.url.render_as_string(hide_password=True)})
            # What start-up loaded (modules, schemas, the app) lives as long as the server: out of
            # the collector's way, a full collection walks only what requests made (full
            # collections were long pauses under write load).
            gc.collect()  # garbage frozen with the rest would never be freed
            gc.freeze()
            try:
                yield
            finally:
                with anyio.CancelScope(shield=True):
                    await websocket.stop()
                websocket.engine = app.state.engine = None
                tasks.cancel_scope.cancel()
        log.info("engine closed")

    async def healthz(request: Request) -> JSONResponse:
        """Liveness: the process answers."""
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> JSONResponse:
        """Readiness: the engine is open and the database answers a read."""
        engine: Engine | None = getattr(request.app.state, "engine", None)
        if engine is None:
            return JSONResponse({"status": "unavailable", "reason": "engine not open"}, status_code=503)
        try:
            with anyio.fail_after(READY_TIMEOUT):
                head = await engine.head()
        except Exception as error:  # noqa: BLE001 - any failure means: not ready
            log.warning("readiness check failed", extra={"error": repr(error)})
            return JSONResponse(
                {"status": "unavailable", "reason": "database not answering"}, status_code=503
            )
        return JSONResponse({"status": "ready", "head": head})

    protocols = asyncapi.document_bytes()

    async def asyncapi_json(request: Request) -> Response:
        """The websocket, bus and JSON-RPC surfaces as an AsyncAPI document (REST's is /openapi.json)."""
        return Response(protocols, media_type="application/json")

    app = Starlette(
        routes=[
            Route("/asyncapi.json", asyncapi_json, methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", metrics.endpoint, methods=["GET"]),
            WebSocketRoute("/ws", websocket),
            WebSocketRoute("/bus", BusAdapter(config)),
            WebSocketRoute("/rpc", JsonRpcWebsocket(config).serve),
            Route("/rpc", JsonRpcHttp(config).serve, methods=["POST"]),
            *console_routes(config),
        ],
        lifespan=lifespan,
    )
    # Never a trailing-slash redirect: it would send a client's request on to another resource
    # (DELETE `/v1/sessions/s/` to `/v1/sessions/s`, which clears the session), and Starlette
    # builds its `Location` from the request's `Host` header. A path no route takes goes to REST,
    # which answers 404 in the path's route family shape (specs/rest.md).
    app.router.redirect_slashes = False
    # getSessionValue / setSessionValue are answered before any routing (see adapters.rest.hot).
    app.add_middleware(HotDistriRoutes, config=config, engine=lambda: app.state.engine)
    # REST (FastAPI) serves every request no route above takes.
    app.router.default = create_rest_app(config, engine=lambda: app.state.engine)
    # Outermost: an HTTP request's record (log line, answer count, span) spans all of its handling.
    app.add_middleware(RecordHttpRequests, requests=requests)
    app.state.engine = None
    app.state.config = config
    app.state.websocket = websocket
    app.state.metrics = metrics
    app.state.requests = requests
    return app


def uvicorn_config(
    app: Starlette, config: ServerConfig, *, host: str, port: int, **options: Any
) -> uvicorn.Config:
    """The uvicorn settings this app relies on (one place for `serve`, tests and benchmarks)."""
    redact_credentials()  # uvicorn logs each request's query string: never an API key
    limits = config.limits
    metrics: Metrics | None = getattr(app.state, "metrics", None)
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=timed_protocol(limits, metrics),
        timeout_keep_alive=limits.idle_timeout_seconds,  # type: ignore[arg-type]
        ws=websocket_protocol(limits, metrics),
        # A hard backstop: uvicorn refuses bigger frames (1009) before the app sees them.
        ws_max_size=limits.max_frame_bytes * 4 + 1024,
        ws_ping_interval=limits.ping_interval_seconds,
        ws_ping_timeout=limits.ping_timeout_seconds,
        timeout_graceful_shutdown=math.ceil(config.server.graceful_shutdown_seconds),
        log_config=None,
        lifespan="on",
        server_header=False,
        access_log=False,  # each request's line is ours (adapters.requests), with tenant and outcome
        **options,
    )
