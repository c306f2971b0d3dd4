"""The two hottest Distri routes, answered before any routing.

`getSessionValue` (GET `.../sessions/{id}/values/{key}`) and `setSessionValue` (POST
`.../sessions/{id}/values`) are most of a Distri client's traffic. Through the server's Starlette
router and the FastAPI sub-application each request pays for two exception-middleware stacks,
matching every route one by one, solving the (empty) dependency graph and building a `Request`:
more CPU than the request itself. This pure ASGI middleware, installed on the server's app
(`adapters.app`), matches exactly those two (method, path) pairs itself and calls the routes' own
bodies (`distri.set_session_value`, `distri.get_session_value`) with the caller the routes resolve
(`auth.caller_in`): the same path patterns and convertors (compiled by Starlette, on the raw
path), the same body handling (`body.BodyAndPath`: size limit, gzip), and the same error answers
(`errors`, an unexpected exception included: logged, answered 500 in the Distri shape, then
re-raised as FastAPI's server-error middleware does). It sends a body's answer itself (the JSON
document 200, or 204 with nothing), the messages a Starlette `Response` would send, without
building one per request. Every other request (other methods, HEAD
included, other paths, a `root_path`) goes on untouched. The routes stay declared in `distri.py`:
OpenAPI is unchanged, and they serve the REST app on its own.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.convertors import Convertor
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from session_engine.adapters.config import ServerConfig
from session_engine.adapters.rest import distri
from session_engine.adapters.rest.auth import Caller, caller_in
from session_engine.adapters.rest.body import BodyAndPath, routing_path
from session_engine.adapters.rest.errors import (
    ApiError,
    api_error_response,
    crash_response,
    engine_error_response,
)
from session_engine.engine import Engine
from session_engine.engine.errors import EngineError

MOUNTS = ("/v1", "/api/v1")
"""Where `adapters.rest.app` mounts the Distri router."""
PREFIXES = tuple(f"{mount}/sessions/" for mount in MOUNTS)
GET_VALUE = "/sessions/{session_id:seg}/values/{key:rest}"
SET_VALUE = "/sessions/{session_id:seg}/values"
Patterns = list[tuple[re.Pattern[str], dict[str, Convertor[Any]]]]
Route = Callable[[Caller], Awaitable[bytes | None]]
"""A Distri route body for the request's caller: the JSON document it answers (200), or None (204)."""
JSON = distri.JSON.encode()


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
        self._body = BodyAndPath(self.app, max_body_bytes=config.limits.max_body_bytes)

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
                            await self._get_value(
                                {**scope, "path": path, "path_params": params}, receive, send
                            )
                            return
                    else:
                        params = _match(_SET_PATTERNS, path)
                        if params is not None:
                            scope = {**scope, "path": path, "path_params": params}
                            await self._set_value(scope, receive, send)
                            return
        await self.app(scope, receive, send)

    async def _get_value(self, scope: Scope, receive: Receive, send: Send) -> None:
        params = scope["path_params"]
        await self._answer(
            lambda who: distri.get_session_value(who, params["session_id"], params["key"]),
            scope,
            receive,
            send,
        )

    async def _set_value(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The body read as `BodyAndPath` reads it for the route (size limit, gzip; refusals
        answered there), then the caller, then the body parsed, as the route does."""
        read = await self._body.read(scope, receive, send)
        if read is None:
            return
        body, scope = read
        session_id = scope["path_params"]["session_id"]
        await self._answer(lambda who: distri.set_session_value(who, session_id, body), scope, receive, send)

    async def _answer(self, route: Route, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the route body for the request's caller and send its answer as the route does: a
        JSON document 200, nothing 204. Errors are answered as `errors.install` answers them for
        the routes (an unexpected one logged, answered 500, then re-raised)."""
        try:
            document = await route(caller_in(scope, self.config, self.engine()))
        except ApiError as error:
            await api_error_response(scope["path"], error)(scope, receive, send)
            return
        except EngineError as error:
            await engine_error_response(scope["method"], scope["path"], error)(scope, receive, send)
            return
        except Exception as error:
            await crash_response(scope["method"], scope["path"], error)(scope, receive, send)
            raise
        if document is None:
            start: Message = {"type": "http.response.start", "status": distri.NO_CONTENT, "headers": []}
            document = b""
        else:
            headers = [(b"content-length", str(len(document)).encode()), (b"content-type", JSON)]
            start = {"type": "http.response.start", "status": 200, "headers": headers}
        await send(start)
        await send({"type": "http.response.body", "body": document})
