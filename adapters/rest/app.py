"""The REST sub-application (FastAPI), mounted into the server's Starlette app at `/`.

It holds no engine of its own: `engine()` returns the engine the outer app's lifespan opened
(None before start and after shutdown, answered 503). OpenAPI at `/openapi.json`, docs at `/docs`.
Regenerate the checked-in document with `python -m session_engine.adapters.rest.openapi`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi_offline import FastAPIOffline

from session_engine.adapters.config import ServerConfig
from session_engine.adapters.rest import blobhub_routes, distri, errors, history, objects, records
from session_engine.adapters.rest.body import BodyAndPath
from session_engine.adapters.rest.schema import build_openapi
from session_engine.engine import Engine

TITLE = "session-engine REST API"
VERSION = "0.1.0"
DESCRIPTION = (
    "Distri session store routes (`/v1`, `/api/v1`), the BlobHub command endpoint "
    "(`/revisions/{revision_id}/data`), and resource routes (`/api/...`) for objects, records and "
    "history. See specs/rest.md. The websocket, bus and JSON-RPC protocols served on the same port: "
    "the AsyncAPI document at [/asyncapi.json](/asyncapi.json). A tenant's sessions and their history "
    "in a browser: the audit console at [/console](/console)."
)


def _unique_id(prefix: str) -> Callable[[APIRoute], str]:
    def generate(route: APIRoute) -> str:
        return f"{prefix}{route.name}"

    return generate


def create_rest_app(config: ServerConfig, engine: Callable[[], Engine | None]) -> FastAPI:
    # Swagger UI's assets ship in the package (fastapi-offline): /docs renders with no network.
    app = FastAPIOffline(
        static_url="/docs/assets",
        title=TITLE,
        version=VERSION,
        description=DESCRIPTION,
        docs_url="/docs",
        redoc_url=None,
        openapi_url="/openapi.json",
        strict_content_type=False,
        redirect_slashes=False,  # a path no route takes is 404, never a redirect (see adapters.app)
    )
    app.state.config = config
    app.state.engine = engine
    app.include_router(distri.router, prefix="/v1", generate_unique_id_function=_unique_id("distri_v1_"))
    app.include_router(
        distri.router, prefix="/api/v1", generate_unique_id_function=_unique_id("distri_api_v1_")
    )
    app.include_router(blobhub_routes.router, generate_unique_id_function=_unique_id("blobhub_"))
    app.include_router(history.router, generate_unique_id_function=_unique_id("history_"))
    app.include_router(objects.router, generate_unique_id_function=_unique_id("objects_"))
    app.include_router(records.router, generate_unique_id_function=_unique_id("records_"))
    errors.install(app)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build_openapi(app, title=TITLE, version=VERSION, description=DESCRIPTION)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    app.add_middleware(BodyAndPath, max_body_bytes=config.limits.max_body_bytes)
    return app
