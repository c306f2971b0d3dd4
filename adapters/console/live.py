"""`/console/live`: the events of one session as they are written, for the console's open session,
or the namespace's sessions as they change, for its sessions list.

The existing subscriptions do not fit: websocket packet 100 follows the connection's own session
only, and JSON-RPC `subscription/add` pushes BlobHub object events only. This one follows
`engine.subscribe` for one stream of the signed-in tenant's namespace, every event type.

Protocol (text frames of JSON): the client's first frame, within `HELLO_SECONDS`, is
`{"api_key": str, "session_id": str, "after": int}` (`after`: the log position of the last event the
page holds; the key travels in the frame, never in the URL). The server answers `{"following": true}`
and then `{"event": <event as the REST history routes write it>, "summary": <its history line>}`
per event, in log order, with no
gap and no repeat. With `"session_id": null` the whole namespace is followed and each event is sent
as the session it changed, `{"session": <a session as GET /api/sessions lists it>}`: the sessions
list moves it to the top without asking again. A bad first frame closes 4400, an unknown key 4401,
each with a reason. Nothing the client sends after the first frame is read. Server shutdown closes
1000.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from session_engine.adapters.config import ServerConfig
from session_engine.adapters.credentials import CredentialRefused, tenant_for
from session_engine.adapters.rest.history import event_json, session_json
from session_engine.adapters.websocket.transport import hooks_of
from session_engine.engine import Engine, RecordedEvent
from session_engine.engine.errors import ValidationFailed
from session_engine.engine.inspect.history import SessionActivity, summarize

HELLO_SECONDS = 10.0
BAD_REQUEST = 4400
UNAUTHORIZED = 4401


class Hello(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    api_key: str = Field(max_length=200)
    session_id: str | None = Field(min_length=1, max_length=200)
    after: int = Field(ge=0)


class LiveFollow:
    def __init__(self, config: ServerConfig) -> None:
        self.config = config

    async def serve(self, websocket: WebSocket) -> None:
        engine: Engine | None = websocket.app.state.engine
        if engine is None:
            await websocket.close(code=1013)  # before accept: the upgrade is refused
            return
        await websocket.accept()
        try:
            await self._follow(websocket, engine)
        except WebSocketDisconnect:
            pass
        finally:
            if websocket.client_state == WebSocketState.CONNECTED:
                with contextlib.suppress(OSError, RuntimeError):
                    await websocket.close(code=1000)

    async def _follow(self, websocket: WebSocket, engine: Engine) -> None:
        message = None
        with anyio.move_on_after(HELLO_SECONDS):
            message = await websocket.receive()
        if message is None or message["type"] == "websocket.disconnect":
            if message is None:
                await websocket.close(code=BAD_REQUEST, reason="no hello frame")
            return
        text = message.get("text")
        if text is None:  # a binary frame
            await websocket.close(
                code=BAD_REQUEST, reason="first frame: {api_key, session_id (or null), after}"
            )
            return
        try:
            hello = Hello.model_validate(orjson.loads(text))
        except (orjson.JSONDecodeError, ValidationError):
            await websocket.close(
                code=BAD_REQUEST, reason="first frame: {api_key, session_id (or null), after}"
            )
            return
        try:
            tenant = tenant_for(self.config, None, hello.api_key)
        except CredentialRefused as refused:
            await websocket.close(code=UNAUTHORIZED, reason=refused.message)
            return
        try:
            events = engine.subscribe(hello.after, namespace=tenant.namespace, stream=hello.session_id)
        except ValidationFailed as error:
            reason = str(error).encode()[:120].decode(errors="ignore")  # a close reason: <= 123 bytes
            await websocket.close(code=BAD_REQUEST, reason=reason)
            return
        await websocket.send_text('{"following":true}')
        hooks = hooks_of(websocket.scope)
        async with anyio.create_task_group() as tasks:
            if hooks is not None:  # server shutdown: stop following, close 1000
                hooks.on_shutdown = tasks.cancel_scope.cancel
            frame = _event_frame if hello.session_id is not None else _session_frame
            tasks.start_soon(self._push, websocket, events, frame)
            with contextlib.suppress(WebSocketDisconnect):
                while (await websocket.receive())["type"] != "websocket.disconnect":
                    pass  # nothing after the hello is read: only the close matters
            tasks.cancel_scope.cancel()
        if hooks is not None:
            hooks.on_shutdown = None

    async def _push(
        self,
        websocket: WebSocket,
        events: AsyncIterator[RecordedEvent],
        frame: Callable[[RecordedEvent], dict[str, Any]],
    ) -> None:
        async for recorded in events:
            try:
                await websocket.send_text(orjson.dumps(frame(recorded)).decode())
            except (WebSocketDisconnect, OSError, RuntimeError):
                return  # the client left while an event was on its way: the receive loop ends too


def _event_frame(recorded: RecordedEvent) -> dict[str, Any]:
    return {"event": event_json(recorded), "summary": summarize(recorded)}


def _session_frame(recorded: RecordedEvent) -> dict[str, Any]:
    """The session an event changed, as it now stands (its last event is this one)."""
    return {"session": session_json(SessionActivity.of(recorded))}
