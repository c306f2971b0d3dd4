"""`/rpc`: JSON-RPC 2.0 over a websocket (one message per text frame) and over HTTP POST.

Methods are the BlobHub commands (served by the shared dispatcher `adapters.blobhub`) and, on the
websocket only, `subscription/add` / `subscription/remove`. The tenant comes from the credential:
`Authorization: Bearer <key>`, `X-Api-Key: <key>` or `?api_key=` (the rule of `adapters.credentials`,
shared with REST), the anonymous tenant without one. Params may name any `revision_id` of that
tenant (revisions are scoped inside it, see `adapters.blobhub`); without one, the tenant's own
revision (its namespace).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping
from typing import Any

import anyio
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from session_engine.adapters import credentials
from session_engine.adapters.blobhub.commands import COMMANDS, run_command
from session_engine.adapters.blobhub.errors import CommandError
from session_engine.adapters.config import ServerConfig, Tenant
from session_engine.adapters.credentials import API_KEY_HEADER, API_KEY_PARAMETER, CredentialRefused
from session_engine.adapters.http_body import announced_too_large
from session_engine.adapters.requests import note, requests_of
from session_engine.adapters.rpc.jsonrpc import INVALID_PARAMS, METHOD_NOT_FOUND, RpcError, answer
from session_engine.adapters.rpc.subscriptions import Subscriptions
from session_engine.adapters.websocket.transport import hooks_of
from session_engine.engine import Engine

log = logging.getLogger("session_engine.jsonrpc")
SUBSCRIPTION_METHODS = frozenset({"subscription/add", "subscription/remove"})
MAX_USER_ID = 128
BAD_REQUEST = 400
ADAPTER = "jsonrpc"
SURFACE = "jsonrpc"


def tenant_for(config: ServerConfig, headers: Mapping[str, str], query: Mapping[str, str]) -> Tenant:
    """The tenant a request's credential names (`CredentialRefused` for a bad or unknown one)."""
    api_key = headers.get(API_KEY_HEADER)
    if api_key is None:
        api_key = query.get(API_KEY_PARAMETER)
    return credentials.tenant_for(config, headers.get("authorization"), api_key)


class Methods:
    """Dispatch for one caller: BlobHub commands, plus subscriptions when there is a websocket."""

    def __init__(
        self, engine: Engine, tenant: Tenant, user_id: str | None, subscriptions: Subscriptions | None
    ) -> None:
        self.engine = engine
        self.tenant = tenant
        self.user_id = user_id
        self.subscriptions = subscriptions

    async def __call__(self, method: str, params: dict[str, Any]) -> Any:
        note(tenant=self.tenant.name, session=params.get("session_id"), operation=method)
        if method in SUBSCRIPTION_METHODS:
            if self.subscriptions is None:
                raise RpcError(METHOD_NOT_FOUND, f"{method} needs the websocket transport")
            if method == "subscription/add":
                return self.subscriptions.add(params)
            return self.subscriptions.remove(params)
        if method not in COMMANDS:
            raise RpcError(METHOD_NOT_FOUND, f"method not found: {method}")
        revision = params.get("revision_id")
        body = {key: value for key, value in params.items() if key not in ("revision_id", "command")}
        body["command"] = method
        try:
            if revision is not None and not isinstance(revision, str):
                raise CommandError("invalid_request", BAD_REQUEST, "revision_id must be a string")
            return await run_command(
                self.engine,
                self.tenant.namespace,
                body,
                revision_id=revision,
                user_id=self.user_id,
                adapter=ADAPTER,
            )
        except CommandError as error:
            if error.status >= 500:  # an engine failure: the client gets `internal_error`, the log the cause
                log.error("engine error on %s", method, exc_info=error.__cause__ or error)
            code = INVALID_PARAMS if error.status == BAD_REQUEST else error.status
            raise RpcError(code, error.message, {"error": error.error, "status": error.status}) from None


def _user_id(headers: Mapping[str, str], tenant: Tenant) -> str:
    """`X-User-Id` when given, else the tenant's name (what the REST adapter records)."""
    user = headers.get("x-user-id")
    return user[:MAX_USER_ID] if user else tenant.name


def _engine(app_state: Any) -> Engine | None:
    engine: Engine | None = app_state.engine
    return engine


class JsonRpcHttp:
    """POST /rpc: one message (single or batch) per body; 204 when it held only notifications."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config

    async def serve(self, request: Request) -> Response:
        engine = _engine(request.app.state)
        if engine is None:
            return JSONResponse({"error": "engine not open"}, status_code=503)
        try:
            tenant = tenant_for(self.config, request.headers, request.query_params)
        except CredentialRefused as refused:
            error = {"code": 401, "message": refused.message}
            return JSONResponse(
                {"jsonrpc": "2.0", "id": None, "error": error},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        limit = self.config.limits.max_body_bytes
        if announced_too_large(request.scope["headers"], limit):
            return _too_large()
        body = b""
        try:
            async for chunk in request.stream():
                body += chunk
                if len(body) > limit:
                    return _too_large()
        except ClientDisconnect:  # the client hung up mid-body: nobody to answer, nothing to log
            return Response(status_code=400)
        methods = Methods(engine, tenant, _user_id(request.headers, tenant), None)
        with anyio.CancelScope(shield=True):  # a client that hangs up does not cancel a write half-way
            reply = await answer(body, methods)
        if reply is None:
            return Response(status_code=204)
        return Response(reply, media_type="application/json")


def _too_large() -> Response:
    error = {"code": 413, "message": "request body too large"}
    return JSONResponse({"jsonrpc": "2.0", "id": None, "error": error}, status_code=413)


class _Reading:
    """Waits for the next frame until `stop` (server shutdown); a request being answered is not
    interrupted: the wait is cancelled, the answer is not."""

    def __init__(self) -> None:
        self._stopped = False
        self._waiting: anyio.CancelScope | None = None

    def stop(self) -> None:
        self._stopped = True
        if self._waiting is not None:
            self._waiting.cancel()

    async def receive(self, websocket: WebSocket) -> Mapping[str, Any] | None:
        """The next ASGI message, or None once stopped (a frame already received is still answered)."""
        message = None
        with anyio.CancelScope() as self._waiting:
            if not self._stopped:
                message = await websocket.receive()
        self._waiting = None
        return message


class JsonRpcWebsocket:
    """The websocket side of `/rpc`: answers in frame order; notifications pushed in between."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config

    async def serve(self, websocket: WebSocket) -> None:
        engine = _engine(websocket.app.state)
        try:
            tenant = tenant_for(self.config, websocket.headers, websocket.query_params)
        except CredentialRefused:
            tenant = None
        if engine is None or tenant is None:
            await websocket.close(code=1013 if engine is None else 4401)  # before accept: HTTP 403
            return
        await websocket.accept()
        limit = self.config.limits.max_frame_bytes
        requests = requests_of(websocket.scope)
        # Server shutdown: stop reading, finish the request in flight, then close with 1000
        # (uvicorn alone would close with 1012 at once).
        reading = _Reading()
        hooks = hooks_of(websocket.scope)
        if hooks is not None:
            hooks.on_shutdown = reading.stop
        try:
            async with anyio.create_task_group() as tasks:

                async def send(data: bytes) -> None:
                    # The peer went away (Starlette raises WebSocketDisconnect for uvicorn's
                    # ClientDisconnected): the disconnect message ends the loop.
                    with contextlib.suppress(OSError, RuntimeError, WebSocketDisconnect):
                        await websocket.send_text(data.decode())

                subscriptions = Subscriptions(
                    engine, tenant.namespace, tasks, send, self.config.limits.max_subscriptions
                )
                methods = Methods(engine, tenant, _user_id(websocket.headers, tenant), subscriptions)
                while True:
                    message = await reading.receive(websocket)
                    if message is None or message["type"] == "websocket.disconnect":
                        break
                    text = message.get("text")
                    if text is None:
                        await websocket.close(code=1003, reason="binary frames are not supported")
                        break
                    if len(text) > limit // 4 and len(text.encode()) > limit:
                        await websocket.close(code=1009, reason="frame too large")
                        break
                    with (
                        anyio.CancelScope(shield=True),
                        requests.request(SURFACE, "frame", tenant=tenant.name),
                    ):
                        reply = await answer(text, methods)
                        if reply is not None:
                            await send(reply)
                        subscriptions.release()
                tasks.cancel_scope.cancel()
        except WebSocketDisconnect:
            pass
        finally:
            if hooks is not None:
                hooks.on_shutdown = None
            if websocket.client_state == WebSocketState.CONNECTED:
                with contextlib.suppress(OSError, RuntimeError):
                    await websocket.close(code=1000)
