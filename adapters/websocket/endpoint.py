"""The `/ws` ASGI endpoint: accept or resume, read packets, push events, close with the right code.

Closing is always done by the connection's own task, after its task group has stopped, so nothing
is ever sent after the close frame. A packet in flight is never cancelled: a deadline, rate-limit or
shutdown close that comes while one is handled waits for it to finish (in-flight writes complete),
and only a wait for the next packet is cancelled at once (`request_close`).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
from collections.abc import AsyncIterator
from typing import Any

import anyio
import orjson
from anyio.abc import TaskGroup

from session_engine.adapters.config import ServerConfig
from session_engine.adapters.requests import Requests, note, requests_of
from session_engine.adapters.websocket.protocol import (
    CLOSE_REASONS,
    SERVER_EVENT_ID,
    Close,
    PacketType,
    ProtocolClose,
    parse_envelope,
)
from session_engine.adapters.websocket.resumption import Resumption, SocketSession
from session_engine.adapters.websocket.session import ADAPTER, PACKETS, event_json, new_session
from session_engine.adapters.websocket.transport import hooks_of
from session_engine.engine import Engine, Metadata, RecordedEvent, SessionDeleted, ValidationFailed
from session_engine.engine.parking import REAP_BATCH, ParkedSession

log = logging.getLogger("session_engine.websocket")
SURFACE = "websocket"
REAP_SECONDS = 1.0
"""How often a process looks for parked sessions whose window has passed (sooner for short windows)."""
Scope = dict[str, Any]
Receive = Any
Send = Any


class WebsocketAdapter:
    """One server's websocket side: its resumption and its live connections."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.resumption = Resumption(config)
        self.live: set[Connection] = set()
        self.engine: Engine | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.engine is None:  # not started (or already stopped): refuse the upgrade
            await receive()
            await send({"type": "websocket.close", "code": 1013})
            return
        await Connection(self, self.engine, scope, receive, send).run()

    async def end(self, state: SocketSession, reason: str) -> None:
        """End an initialized session's engine side: its values are gone. Never raises."""
        if state.tenant is not None:
            await self._end(state.tenant.namespace, state.session_id, state.client_id, reason)

    async def end_parked(self, parked: ParkedSession, reason: str) -> None:
        """End a parked session taken out of the table (expired, or its process stopping)."""
        await self._end(parked.namespace, parked.session_id, parked.client_id, reason)

    async def _end(self, namespace: str, session_id: str, client_id: str | None, reason: str) -> None:
        if self.engine is None:
            return
        with anyio.CancelScope(shield=True):
            try:
                await self.engine.values.end_connection_session(
                    namespace, session_id, reason=reason, metadata=Metadata(actor=client_id, adapter=ADAPTER)
                )
            except Exception:
                log.exception("could not end session %s", session_id)

    async def reap_forever(self) -> None:
        """End parked sessions whose resumption window has passed, whichever process parked them
        (each is taken by one process: `engine.parking.reap`)."""
        window = self.resumption.window
        interval = min(REAP_SECONDS, max(0.05, window / 4)) if window > 0 else REAP_SECONDS
        while True:
            await anyio.sleep(interval)
            while self.engine is not None:
                try:
                    expired = await self.engine.parking.reap(REAP_BATCH)
                except Exception:  # the database is away: the next round tries again
                    log.warning("could not reap parked sessions", exc_info=True)
                    break
                for parked in expired:
                    log.info("resumption window expired", extra={"session_id": parked.session_id})
                    await self.end_parked(parked, "resumption window expired")
                if len(expired) < REAP_BATCH:  # a full batch: more may be waiting
                    break

    async def stop(self) -> None:
        """Server shutdown: end the sessions this process parked (another process's stay resumable)."""
        await self.resumption.parked()  # the sessions clients left just now are this process's too
        if self.engine is None:
            return
        try:
            parked = await self.engine.parking.take_parked_by(self.resumption.process)
        except Exception:
            log.exception("could not take back this process's parked sessions")
            return
        for session in parked:
            await self.end_parked(session, "server shutdown")


class Connection:
    def __init__(
        self, adapter: WebsocketAdapter, engine: Engine, scope: Scope, receive: Receive, send: Send
    ) -> None:
        self.adapter = adapter
        self.engine = engine
        self.config = adapter.config
        self.scope = scope
        self._receive = receive
        self._send = send
        self.close_code: Close | None = None
        self.disconnected = False
        self.tasks: TaskGroup | None = None
        self.handling = False
        """A packet is being handled: a close requested now waits for its answer (`request_close`)."""
        self.subscriptions: dict[int, anyio.CancelScope] = {}
        self._subscription_ids = itertools.count(1)
        self.state: SocketSession

    # -- life cycle -------------------------------------------------------------------------------
    async def run(self) -> None:
        if (await self._receive())["type"] != "websocket.connect":
            return
        resume_id = self.adapter.resumption.new_id()
        state = await self._session_for(self._header(b"resume-id"))
        if state is None:
            return
        self.state = state
        await self._send({"type": "websocket.accept", "headers": [(b"resume-id", resume_id.encode())]})
        hooks = hooks_of(self.scope)
        if hooks is not None:
            hooks.on_ping = self._on_ping
            hooks.on_shutdown = lambda: self.request_close(Close.NORMAL)
        self.adapter.live.add(self)
        try:
            await self._serve()
        finally:
            self.adapter.live.discard(self)
            if hooks is not None:
                hooks.on_ping = hooks.on_shutdown = None
            with anyio.CancelScope(shield=True):
                await self._finish(resume_id)

    async def _session_for(self, resume_id: str | None) -> SocketSession | None:
        """A fresh session, the parked one `resume_id` names, or None after closing 4401/4400."""
        if resume_id is None:
            return new_session(self.config)
        resumption = self.adapter.resumption
        try:
            parked = await resumption.claim(self.engine, resume_id)
        except Exception:
            log.exception("could not claim a parked session")
            await self._refuse(Close.RESUME_FAILED)
            return None
        if parked is None:
            await self._refuse(Close.RESUME_NOT_FOUND)
            return None
        state = resumption.session_of(parked)
        if state is None:  # its tenant is not in this process's configuration
            log.warning("resume of another tenant's session", extra={"session_id": parked.session_id})
            await self._refuse(Close.RESUME_FAILED)
            await self.adapter.end_parked(parked, "resume failed")
            return None
        try:
            await self.engine.values.resume(
                parked.namespace,
                state.session_id,
                metadata=Metadata(actor=state.client_id, adapter=ADAPTER),
            )
        except SessionDeleted:  # deleted meanwhile (its record, by any adapter): not brought back
            log.info("resume of a deleted session refused", extra={"session_id": state.session_id})
            await self._refuse(Close.RESUME_FAILED)
            await self.adapter.end(state, "session deleted")
            return None
        except Exception:
            log.exception("could not resume session %s", state.session_id)
            await self._refuse(Close.RESUME_FAILED)
            await self.adapter.end(state, "resume failed")
            return None
        log.info("websocket resumed", extra={"session_id": state.session_id})
        return state

    async def _refuse(self, code: Close, reason: str | None = None) -> None:
        await self._send({"type": "websocket.accept"})
        reason = CLOSE_REASONS[code] if reason is None else reason
        await self._send({"type": "websocket.close", "code": int(code), "reason": reason})

    async def _serve(self) -> None:
        async with anyio.create_task_group() as tasks:
            self.tasks = tasks
            if not self.state.initialized:
                tasks.start_soon(self._deadline)
            await self._read_loop()
            tasks.cancel_scope.cancel()

    async def _finish(self, resume_id: str) -> None:
        state, code = self.state, self.close_code
        if code is None:  # the client went away: keep the session for a while
            if state.initialized and self.adapter.resumption.window > 0:
                try:
                    metadata = Metadata(actor=state.client_id, adapter=ADAPTER)
                    await self.adapter.resumption.park(self.engine, resume_id, state, metadata)
                except Exception:
                    log.exception("could not park session %s", state.session_id)
                    await self.adapter.end(state, "disconnect failed")
            else:
                await self.adapter.end(state, "client disconnected")
            return
        if not self.disconnected:
            with contextlib.suppress(OSError):
                await self._send(
                    {"type": "websocket.close", "code": int(code), "reason": CLOSE_REASONS[code]}
                )
        log.info("websocket closed", extra={"session_id": state.session_id, "close_code": int(code)})
        await self.adapter.end(state, "server shutdown" if code == Close.NORMAL else f"closed {int(code)}")

    def request_close(self, code: Close) -> None:
        """Close with `code` as soon as the packet in flight is done (first request wins).

        The connection's task group is cancelled at once when no packet is in flight (the read
        loop waits for the next one, its subscriptions push); else the read loop sees the code
        after the packet's answer and stops, cancelling the task group then. Not shielding each
        packet in a cancel scope of its own: that scope cost more than the rest of the read loop."""
        if self.close_code is None:
            self.close_code = code
        if self.tasks is not None and not self.handling:
            self.tasks.cancel_scope.cancel()

    def _on_ping(self) -> None:
        if not self.state.rate.hit():
            self.request_close(Close.RATE_LIMIT)

    async def _deadline(self) -> None:
        await anyio.sleep(self.config.limits.initialize_deadline_seconds)
        if not self.state.initialized:
            self.request_close(Close.INITIALIZE_DEADLINE)

    def _header(self, name: bytes) -> str | None:
        for key, value in self.scope.get("headers", []):
            if key.lower() == name:
                return bytes(value).decode("latin-1")
        return None

    # -- packets ------------------------------------------------------------------------------------
    async def _read_loop(self) -> None:
        requests = requests_of(self.scope)
        while self.close_code is None:
            message = await self._receive()
            if message["type"] != "websocket.receive":
                self.disconnected = True
                return
            self.handling = True
            try:
                await self._handle(requests, message)
            finally:
                self.handling = False

    async def _handle(self, requests: Requests, message: dict[str, Any]) -> None:
        """Answer one packet, or refuse it by closing (never cancelled: `request_close`)."""
        state = self.state
        tenant = None if state.tenant is None else state.tenant.name
        with requests.request(SURFACE, "packet", tenant=tenant, session=state.session_id):
            try:
                await self._on_message(message)
            except ProtocolClose as close:
                if close.answer is not None:
                    await self.send_text(close.answer)
                self._refused(close.code)
            except ValidationFailed:  # the engine's own bounds (key size, NUL, TTL range)
                self._refused(Close.INVALID_BODY)
            except Exception:
                log.exception("websocket packet failed", extra={"session_id": state.session_id})
                self._refused(Close.INTERNAL_ERROR)

    def _refused(self, code: Close) -> None:
        """The packet is answered by closing with `code` (after any status its answer carried)."""
        note(outcome=int(code))
        self.request_close(code)

    async def _on_message(self, message: dict[str, Any]) -> None:
        if not self.state.rate.hit():
            raise ProtocolClose(Close.RATE_LIMIT)
        text = message.get("text")
        if text is None:
            raise ProtocolClose(Close.UNSUPPORTED_DATA)
        limit = self.config.limits.max_frame_bytes
        if len(text) > limit // 4 and len(text.encode()) > limit:
            raise ProtocolClose(Close.MESSAGE_TOO_BIG)
        kind, packet_id, packet = parse_envelope(text)
        note(operation=_packet_name(kind))
        answer_packet = PACKETS.get(kind)
        if answer_packet is None:
            raise ProtocolClose(Close.UNKNOWN_TYPE)
        if kind != PacketType.INITIALIZE and not self.state.initialized:
            raise ProtocolClose(Close.NOT_INITIALIZED)
        answer = await answer_packet(self, packet_id, packet)
        if answer is not None:
            await self.send_text(answer)

    async def send_text(self, text: str) -> None:
        with contextlib.suppress(OSError):  # uvicorn's ClientDisconnected: the disconnect message follows
            await self._send({"type": "websocket.send", "text": text})

    # -- event subscriptions ------------------------------------------------------------------------
    def new_subscription(self) -> tuple[int, anyio.CancelScope]:
        """A subscription's number and the scope that `unsubscribe_events` cancels."""
        number = next(self._subscription_ids)
        scope = self.subscriptions[number] = anyio.CancelScope()
        return number, scope

    def push(
        self,
        number: int,
        scope: anyio.CancelScope,
        past: AsyncIterator[RecordedEvent],
        live: AsyncIterator[RecordedEvent],
    ) -> None:
        """Send a subscription's events, the stored ones then the live ones, until it is cancelled."""
        assert self.tasks is not None
        self.tasks.start_soon(self._push, number, scope, past, live)

    async def _push(
        self,
        number: int,
        scope: anyio.CancelScope,
        past: AsyncIterator[RecordedEvent],
        live: AsyncIterator[RecordedEvent],
    ) -> None:
        with scope:
            try:
                async for event in past:
                    await self._push_event(number, event)
                async for event in live:
                    await self._push_event(number, event)
            except Exception:
                log.exception("subscription failed", extra={"session_id": self.state.session_id})
                self.request_close(Close.INTERNAL_ERROR)

    async def _push_event(self, number: int, event: Any) -> None:
        packet = {
            "id": SERVER_EVENT_ID,
            "type": int(PacketType.SESSION_EVENT),
            "subscription": number,
            "event": event_json(event),
        }
        await self.send_text(orjson.dumps(packet).decode())


_PACKET_NAMES = {int(kind): kind.name.lower() for kind in PacketType}


def _packet_name(kind: int) -> str:
    """A packet type's name for the request log (`set_value`), its number when it is unknown."""
    name = _PACKET_NAMES.get(kind)
    return str(kind) if name is None else name
