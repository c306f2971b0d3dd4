"""The `/bus` ASGI endpoint: authenticate, announce subjects, serve requests, push subscribed events.

Requests run concurrently (responses are matched by `correlationId`), at most `MAX_IN_FLIGHT` per
connection, each counted until its answer is written: reading stops while that many are running or
waiting for a peer that does not read, which bounds the answers a connection holds.
Engine calls are shielded: a timeout answers the peer but never cancels a write half-way, and a
closing connection lets its in-flight requests finish first.
"""

from __future__ import annotations

import contextlib
import logging
import math
import re
from contextlib import AbstractContextManager
from functools import cache
from typing import Any

import anyio
from anyio.abc import TaskGroup

from session_engine.adapters.config import ServerConfig, Tenant
from session_engine.adapters.requests import RequestRecord, requests_of
from session_engine.adapters.rpc.bus import protocol as wire
from session_engine.adapters.rpc.bus.auth import authenticate, new_nonce
from session_engine.adapters.rpc.bus.events import bus_events
from session_engine.adapters.rpc.bus.protocol import (
    CLOSE_REASONS,
    SERVER_SUBJECTS,
    AuthResponse,
    Broadcast,
    Close,
    ErrorCode,
    Heartbeat,
    InvalidMessage,
    Message,
    Request,
    Subscribe,
    SyncComplete,
    Unsubscribe,
    parse_message,
)
from session_engine.adapters.rpc.bus.routes import route
from session_engine.adapters.websocket.transport import hooks_of
from session_engine.engine import Engine

log = logging.getLogger("session_engine.bus")
SURFACE = "bus"
MAX_IN_FLIGHT = 64
Scope = dict[str, Any]
Receive = Any
Send = Any


@cache
def _pattern(pattern: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in pattern.split("*")))


def subject_matches(pattern: str, subject: str) -> bool:
    """Makaio subject patterns: `*` matches any run of characters (`storage:session.*`, `*`)."""
    return _pattern(pattern).fullmatch(subject) is not None


class BusAdapter:
    """The bus side of one server. The engine comes from the app's state (opened in the lifespan)."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        engine: Engine | None = scope["app"].state.engine
        if engine is None:  # not started (or already stopped): refuse the upgrade
            await receive()
            await send({"type": "websocket.close", "code": 1013})
            return
        await BusConnection(self.config, engine, scope, receive, send).run()


class BusConnection:
    def __init__(
        self, config: ServerConfig, engine: Engine, scope: Scope, receive: Receive, send: Send
    ) -> None:
        self.config = config
        self.engine = engine
        self.scope = scope
        self._receive = receive
        self._send = send
        self.tenant: Tenant
        self.peer = "bus-peer"
        self.close_code: Close | None = None
        self.disconnected = False
        self.tasks: TaskGroup | None = None
        self.slots = anyio.Semaphore(MAX_IN_FLIGHT)
        self.patterns: set[str] = set()
        self.peer_ready = False
        self.pumping = False
        self.requests = requests_of(scope)

    # -- life cycle -------------------------------------------------------------------------------
    async def run(self) -> None:
        if (await self._receive())["type"] != "websocket.connect":
            return
        await self._send({"type": "websocket.accept"})
        hooks = hooks_of(self.scope)
        if hooks is not None:
            hooks.on_shutdown = lambda: self.request_close(Close.NORMAL)
        try:
            tenant = await self._authenticate()
            if tenant is not None:
                self.tenant = tenant
                client = self.scope.get("client")
                self.peer = f"bus:{client[0]}:{client[1]}" if client else "bus-peer"
                await self.send_text(wire.subscribe(SERVER_SUBJECTS))
                await self.send_text(wire.SYNC_COMPLETE)
                async with anyio.create_task_group() as tasks:
                    self.tasks = tasks
                    await self._read_loop()
                    tasks.cancel_scope.cancel()
        finally:
            if hooks is not None:
                hooks.on_shutdown = None
            if self.close_code is not None and not self.disconnected:
                code = self.close_code
                with anyio.CancelScope(shield=True), contextlib.suppress(OSError):
                    await self._send(
                        {"type": "websocket.close", "code": int(code), "reason": CLOSE_REASONS[code]}
                    )

    def request_close(self, code: Close) -> None:
        """Close with `code` once the requests in flight are answered (first request wins)."""
        if self.close_code is None:
            self.close_code = code
        if self.tasks is not None:
            self.tasks.cancel_scope.cancel()

    async def _authenticate(self) -> Tenant | None:
        """The tenant the peer's signature proves, or None after answering and marking the close."""
        nonce = new_nonce()
        await self.send_text(wire.auth_challenge(nonce))
        with anyio.move_on_after(self.config.limits.initialize_deadline_seconds):
            text = await self._next_text()
            if text is None:
                return None
            try:
                message = parse_message(text)
            except InvalidMessage:
                message = None
            if not isinstance(message, AuthResponse):
                await self.send_text(wire.auth_result(False, "expected auth-response"))
                self.close_code = Close.AUTH_FAILED
                return None
            tenant = authenticate(self.config, nonce, message.signature)
            if tenant is None:
                log.info("bus authentication failed")
                await self.send_text(wire.auth_result(False, "invalid signature"))
                self.close_code = Close.AUTH_FAILED
                return None
            await self.send_text(wire.auth_result(True))
            log.info("bus peer authenticated", extra={"tenant": tenant.name})
            return tenant
        if self.close_code is None:
            await self.send_text(wire.auth_result(False, "authentication timed out"))
            self.close_code = Close.AUTH_TIMEOUT
        return None

    async def _next_text(self) -> str | None:
        """The next text frame; None after a disconnect or a frame that closes the connection."""
        message = await self._receive()
        if message["type"] != "websocket.receive":
            self.disconnected = True
            return None
        text = message.get("text")
        if text is None:
            self.close_code = self.close_code or Close.UNSUPPORTED_DATA
            return None
        limit = self.config.limits.max_frame_bytes
        if len(text) > limit // 4 and len(text.encode()) > limit:
            self.close_code = self.close_code or Close.MESSAGE_TOO_BIG
            return None
        return str(text)

    # -- messages -----------------------------------------------------------------------------------
    async def _read_loop(self) -> None:
        while self.close_code is None:
            text = await self._next_text()
            if text is None:
                return
            with anyio.CancelScope(shield=True):
                try:
                    await self._on_message(parse_message(text))
                except InvalidMessage as invalid:
                    if invalid.answer is None:
                        self.close_code = Close.INVALID_MESSAGE
                        return
                    await self.send_text(invalid.answer)
                except Exception:
                    log.exception("bus message failed", extra={"peer": self.peer})
                    self.close_code = Close.INTERNAL_ERROR
                    return

    async def _on_message(self, message: Message) -> None:
        if isinstance(message, Request):
            await self._start_request(message)
        elif isinstance(message, Subscribe):
            self._subscribe(message.subjects)
            await self._acknowledge(message.ackId)
        elif isinstance(message, Unsubscribe):
            self.patterns.difference_update(message.subjects)
            await self._acknowledge(message.ackId)
        elif isinstance(message, SyncComplete):
            self.peer_ready = True
        elif isinstance(message, Heartbeat):
            await self.send_text(wire.heartbeat())
        elif isinstance(message, Broadcast):
            await self.send_text(wire.broadcast_response(message.correlationId))
        # auth-response (again), event, response, broadcast-response, subscription-ack: nothing to do

    async def _acknowledge(self, ack_id: str | None) -> None:
        """Confirm a subscription change once it applies: events it selects are pushed from now on."""
        if ack_id is not None:
            await self.send_text(wire.subscription_ack(ack_id))

    async def send_text(self, text: str) -> None:
        with contextlib.suppress(OSError):  # the peer went away: the disconnect message follows
            await self._send({"type": "websocket.send", "text": text})

    # -- requests -----------------------------------------------------------------------------------
    async def _start_request(self, request: Request) -> None:
        budget = self._budget(request)
        if budget is not None and budget <= 0:
            with self._recorded(request):
                await self.send_text(
                    wire.error_response(
                        request.correlationId,
                        "deadline passed before the request was served",
                        ErrorCode.DEADLINE_EXCEEDED,
                        subject=request.full_subject,
                    )
                )
            return
        await self.slots.acquire()
        assert self.tasks is not None
        self.tasks.start_soon(self._serve_request, request, math.inf if budget is None else budget)

    @staticmethod
    def _budget(request: Request) -> float | None:
        """Seconds left to answer: the tighter of `timeout` (ms) and `deadline` (epoch ms)."""
        budgets = []
        if request.timeout is not None:
            budgets.append(request.timeout / 1000)
        if request.deadline is not None:
            budgets.append((request.deadline - wire.now_ms()) / 1000)
        return min(budgets) if budgets else None

    def _recorded(self, request: Request) -> AbstractContextManager[RequestRecord]:
        """The request's record (`adapters.requests`): its session is the payload's `sessionId`."""
        payload = request.payload
        session = payload.get("sessionId") if isinstance(payload, dict) else None
        return self.requests.request(
            SURFACE,
            request.full_subject,
            tenant=self.tenant.name,
            session=session if isinstance(session, str) else None,
        )

    async def _serve_request(self, request: Request, budget: float) -> None:
        with self._recorded(request):
            await self._answer_request(request, budget)

    async def _answer_request(self, request: Request, budget: float) -> None:
        answers: list[str] = []
        finished = anyio.Event()
        assert self.tasks is not None
        self.tasks.start_soon(self._work, request, answers, finished)
        try:
            with anyio.move_on_after(budget):
                await finished.wait()
            if answers:
                await self.send_text(answers[0])
                return
            await self.send_text(
                wire.error_response(
                    request.correlationId,
                    "request timed out; a write may still complete",
                    ErrorCode.TIMEOUT,
                    subject=request.full_subject,
                )
            )
            await finished.wait()  # the slot counts the work too, answered or not
        finally:
            self.slots.release()

    async def _work(self, request: Request, answers: list[str], finished: anyio.Event) -> None:
        try:
            with anyio.CancelScope(shield=True):
                answers.append(await route(self.engine, self.tenant.namespace, request, actor=self.peer))
        finally:
            finished.set()

    # -- events ------------------------------------------------------------------------------------
    def _subscribe(self, subjects: dict[str, list[int]]) -> None:
        self.patterns.update(subjects)
        if self.patterns and not self.pumping:
            self.pumping = True
            assert self.tasks is not None
            self.tasks.start_soon(self._pump, self.engine.hub.head)

    async def _pump(self, after: int) -> None:
        """Push every matching event committed after `after` in the tenant's namespace, in order."""
        try:
            async for recorded in self.engine.subscribe(after, namespace=self.tenant.namespace):
                for subject, payload in bus_events(recorded):
                    if any(subject_matches(pattern, subject) for pattern in self.patterns):
                        await self.send_text(wire.event(subject, payload))
        except Exception:
            log.exception("bus event pump failed", extra={"peer": self.peer})
            self.request_close(Close.INTERNAL_ERROR)
