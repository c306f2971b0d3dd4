"""The two hottest Distri routes, answered before any routing.

`getSessionValue` (GET `.../sessions/{id}/values/{key}`) and `setSessionValue` (POST
`.../sessions/{id}/values`) are most of a Distri client's traffic. Through the server's Starlette
router and the FastAPI sub-application each request pays for two exception-middleware stacks,
matching every route one by one, solving the (empty) dependency graph and building a `Request`:
more CPU than the request itself. This pure ASGI middleware, installed on the server's app
(`adapters.app`), answers exactly those two (method, path) pairs itself, the way the routes in
`adapters.rest.distri` do: the same path patterns and convertors (compiled by Starlette, on the raw
path), the same body handling (`body.BodyAndPath`: size limit, gzip), tenant resolution, body
parsing, engine calls, headers and error answers (`errors`, an unexpected exception included:
logged, answered 500 in the Distri shape, then re-raised as FastAPI's server-error middleware does).
Every other request (other methods, HEAD included, other paths, a `root_path`) goes on untouched.
The routes stay declared in `distri.py`: OpenAPI is unchanged, and they serve the REST app on its own.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import orjson
from starlette.convertors import Convertor
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from session_engine.adapters.config import ServerConfig
from session_engine.adapters.rest import distri
from session_engine.adapters.rest.auth import ADAPTER, resolve_tenant
from session_engine.adapters.rest.bodies import parse_model
from session_engine.adapters.rest.body import BodyAndPath, routing_path
from session_engine.adapters.rest.errors import (
    ApiError,
    api_error_response,
    crash_response,
    engine_error_response,
)
from session_engine.engine import Engine, Metadata
from session_engine.engine.errors import EngineError

MOUNTS = ("/v1", "/api/v1")
"""Where `adapters.rest.app` mounts the Distri router."""
PREFIXES = tuple(f"{mount}/sessions/" for mount in MOUNTS)
GET_VALUE = "/sessions/{session_id:seg}/values/{key:rest}"
SET_VALUE = "/sessions/{session_id:seg}/values"
Patterns = list[tuple[re.Pattern[str], dict[str, Convertor[Any]]]]
Answer = tuple[int, list[tuple[bytes, bytes]], bytes]
"""Status, headers and body of a successful answer (sent by the caller)."""


def _compiled(path: str) -> Patterns:
    """Starlette's own compilation of the route path (as `APIRoute` does), under each mount."""
    out = []
    for mount in MOUNTS:
        regex, _format, convertors = compile_path(mount + path)
        out.append((regex, convertors))
    return out


_GET_PATTERNS = _compiled(GET_VALUE)
_SET_PATTERNS = _compiled(SET_VALUE)


def _match(patterns: Patterns, path: str) -> dict[str, Any] | None:
    for regex, convertors in patterns:
        found = regex.match(path)
        if found is not None:
            return {name: convertors[name].convert(value) for name, value in found.groupdict().items()}
    return None


class HotDistriRoutes:
    """Pure ASGI middleware: `getSessionValue` and `setSessionValue` without routing overhead."""

    def __init__(self, app: ASGIApp, config: ServerConfig, engine: Callable[[], Engine | None]) -> None:
        self.app = app
        self.config = config
        self.engine = engine
        self._set_with_body = BodyAndPath(self._set_endpoint, max_body_bytes=config.limits.max_body_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope.get("root_path"):
            method = scope["method"]
            # The decoded path starts so whenever the raw one does: a cheap test for every request.
            if (method == "GET" or method == "POST") and scope["path"].startswith(PREFIXES):
                path = routing_path(scope)
                if path.startswith(PREFIXES):
                    if method == "GET":
                        params = _match(_GET_PATTERNS, path)
                        if params is not None:
                            scope = {**scope, "path": path}
                            await self._answer(self._get_value(scope, params), scope, receive, send)
                            return
                    else:
                        params = _match(_SET_PATTERNS, path)
                        if params is not None:
                            await self._set_with_body({**scope, "path_params": params}, receive, send)
                            return
        await self.app(scope, receive, send)

    async def _set_endpoint(self, scope: Scope, receive: Receive, send: Send) -> None:
        """After `BodyAndPath`: `receive` replays the whole (inflated) body."""
        await self._answer(self._set_value(scope, receive), scope, receive, send)

    async def _answer(self, handler: Awaitable[Answer], scope: Scope, receive: Receive, send: Send) -> None:
        """Run the handler; errors answered as `errors.install` answers them for the routes."""
        try:
            status, headers, body = await handler
        except ApiError as error:
            await api_error_response(scope["path"], error)(scope, receive, send)
            return
        except EngineError as error:
            await engine_error_response(scope["method"], scope["path"], error)(scope, receive, send)
            return
        except Exception as error:
            await crash_response(scope["method"], scope["path"], error)(scope, receive, send)
            raise
        start: Message = {"type": "http.response.start", "status": status, "headers": headers}
        await send(start)
        await send({"type": "http.response.body", "body": body})

    def _caller(self, scope: Scope) -> tuple[str, str | None, str | None, Engine]:
        """(namespace, tenant name, X-Request-Id, engine): `auth.caller_of` on raw headers."""
        authorization = api_key = request_id = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                if authorization is None:
                    authorization = value.decode("latin-1")
            elif name == b"x-request-id":
                if request_id is None:
                    request_id = value.decode("latin-1")
            elif name == b"x-api-key" and api_key is None:
                api_key = value.decode("latin-1")
        tenant = resolve_tenant(self.config, authorization, api_key)
        engine = self.engine()
        if engine is None:
            raise ApiError(503, "unavailable", "the engine is not open")
        return tenant.namespace, tenant.name, request_id, engine

    async def _get_value(self, scope: Scope, params: dict[str, Any]) -> Answer:
        namespace, _name, _request_id, engine = self._caller(scope)
        stored = await engine.values.get(namespace, params["session_id"], params["key"])
        body = orjson.dumps({"value": None if stored is None else stored.value})
        return (
            200,
            [(b"content-length", str(len(body)).encode()), (b"content-type", distri.JSON.encode())],
            body,
        )

    async def _set_value(self, scope: Scope, receive: Receive) -> Answer:
        params = scope["path_params"]
        namespace, name, request_id, engine = self._caller(scope)
        body = parse_model(await _read_body(receive), distri.SetValueBody)
        expires_at: datetime | None = None
        if body.expiry is not None:
            expires_at = distri.parse_expiry(body.expiry)
        await engine.values.set(
            namespace,
            params["session_id"],
            body.key,
            body.value,
            expires_at=expires_at,
            metadata=Metadata(actor=name, adapter=ADAPTER, correlation_id=request_id),
        )
        return distri.NO_CONTENT, [], b""


async def _read_body(receive: Receive) -> bytes:
    """The whole request body (`Request.body()` without a `Request`)."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ApiError(400, "client_disconnected", "the client went away")
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)
