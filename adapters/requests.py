"""One record per request on every surface: its answer counted in the metrics, one JSON log line
(surface, tenant, session, outcome, duration) and, when tracing is on, a span.

A request is what a client asks and is answered once: an HTTP request (REST, `POST /rpc`, probes),
a `/ws` packet, a JSON-RPC websocket frame, a bus request. The surface opens the record
(`Requests.request`); code further in that learns who asks, which session or which code the
answer carries says so with `note(...)`, which finds the open record through a context variable:
nothing is passed down, and outside a request it does nothing.

Outcomes are the code the client got: the HTTP status on HTTP (`"200"`, `"404"`), else `"ok"` or
the protocol's own code (a `/ws` status such as `"700"`, a close code such as `"4401"`, a JSON-RPC
error code such as `"-32601"`, a bus code such as `"VALIDATION_ERROR"`). The log line never holds
a credential: it is built from these fields only, never from headers or bodies.
"""

from __future__ import annotations

import logging
import re
import time
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from session_engine.adapters.metrics import Metrics

if TYPE_CHECKING:
    from session_engine.adapters.tracing import Tracing

OK = "ok"
log = logging.getLogger("session_engine.requests")
HTTP_SURFACES = {"/rpc": "jsonrpc", "/healthz": "probe", "/readyz": "probe", "/metrics": "probe"}
"""An HTTP request's surface by its path; any other path is REST's."""
_SESSION_IN_PATH = re.compile(r"/sessions/([^/]+)")
"""Where a REST path names its session (`specs/rest.md`: every session route is under it)."""


@dataclass(slots=True)
class RequestRecord:
    surface: str
    operation: str
    tenant: str | None = None
    session: str | None = None
    outcome: str = OK
    span: Any = None
    """The request's span while tracing (`adapters.tracing`), else None."""


_current: ContextVar[RequestRecord | None] = ContextVar("session_engine_request", default=None)


def note(
    *,
    tenant: str | None = None,
    session: object = None,
    outcome: object = None,
    operation: str | None = None,
) -> None:
    """Tell the open request (if any) who asks, which session, what it asks, or the code its answer
    carries. The first code noted wins: a batch's or a packet's first error is what its record shows."""
    record = _current.get()
    if record is None:
        return
    if operation is not None:
        record.operation = operation
    if tenant is not None:
        record.tenant = tenant
    if isinstance(session, str) and record.session is None:
        record.session = session
    if outcome is not None and record.outcome == OK:
        record.outcome = str(outcome)


class Requests:
    """One app's request records: where they are counted, logged and traced."""

    def __init__(self, metrics: Metrics | None, tracing: Tracing | None = None) -> None:
        self.metrics = metrics
        self.tracing = tracing

    def request(
        self, surface: str, operation: str, *, tenant: str | None = None, session: str | None = None
    ) -> Recording:
        """Record one request for the length of a `with` block (an exception: `internal_error`)."""
        return Recording(self, RequestRecord(surface, operation, tenant, session))

    def finished(self, record: RequestRecord, seconds: float) -> None:
        if self.tracing is not None:
            self.tracing.request_ended(record)
        if self.metrics is not None:
            self.metrics.answered(record.surface, record.outcome, seconds)
        if log.isEnabledFor(logging.INFO):
            log.info(
                "request",
                extra={
                    "surface": record.surface,
                    "operation": record.operation,
                    "tenant": record.tenant,
                    "session": record.session,
                    "outcome": record.outcome,
                    "duration_ms": round(seconds * 1000, 3),
                },
            )


class Recording:
    """The `with` block of one request (a class, not a generator: it runs for every request)."""

    __slots__ = ("_requests", "_started", "_token", "record")

    def __init__(self, requests: Requests, record: RequestRecord) -> None:
        self._requests = requests
        self.record = record

    def __enter__(self) -> RequestRecord:
        record = self.record
        self._token = _current.set(record)
        tracing = self._requests.tracing
        if tracing is not None:
            tracing.request_started(record)
        self._started = time.perf_counter()
        return record

    def __exit__(self, kind: type[BaseException] | None, error: object, trace: object) -> None:
        seconds = time.perf_counter() - self._started
        record = self.record
        if kind is not None and record.outcome == OK:
            record.outcome = "internal_error"
        _current.reset(self._token)
        self._requests.finished(record, seconds)


_UNRECORDED = Requests(None)
"""Where an adapter served outside `adapters.app` (no metrics) records its requests: logs only."""


def requests_of(scope: Scope) -> Requests:
    """The app's `Requests` (`app.state.requests`, set by `adapters.app.create_app`)."""
    found = getattr(getattr(scope.get("app"), "state", None), "requests", None)
    return found if isinstance(found, Requests) else _UNRECORDED


class RecordHttpRequests:
    """Pure ASGI middleware: one record per HTTP request, its outcome the response's status.

    Websocket connections pass through: their surfaces record each packet or frame themselves."""

    def __init__(self, app: ASGIApp, requests: Requests) -> None:
        self.app = app
        self.requests = requests

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        surface = HTTP_SURFACES.get(path, "rest")
        with self.requests.request(surface, f"{scope['method']} {path}") as record:
            status = 0

            async def sending(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                await send(message)

            try:
                await self.app(scope, receive, sending)
            finally:
                if surface == "rest" and record.session is None:
                    found = _SESSION_IN_PATH.search(path)
                    if found is not None:
                        record.session = unquote(found.group(1))
                if surface != "jsonrpc":
                    record.outcome = str(status) if status else record.outcome
                elif status not in (0, 200, 204):  # else its own codes, noted by its calls
                    record.outcome = str(status)
