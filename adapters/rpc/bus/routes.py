"""Requests to `storage:session.*` -> the subject's function -> one response frame.

Pure translation: the subject picks its function from `subjects.SUBJECTS`; the function validates
the payload and answers the subject's response model, which dumps to the wire form. Every failure
becomes a bus error (`errors.error_answer`, `specs/rpc.md`), never a crash.
"""

from __future__ import annotations

import functools
import inspect
import logging
from typing import Any

from session_engine.adapters.rpc.bus.errors import error_answer
from session_engine.adapters.rpc.bus.protocol import (
    RECORDS_NAMESPACE,
    ErrorCode,
    Request,
    error_response,
    result_response,
)
from session_engine.adapters.rpc.bus.subjects import SUBJECTS, RecordSubjects, Subject
from session_engine.engine import Engine, EngineError, Metadata
from session_engine.engine.records.queries import MAX_PAGE

ADAPTER = "bus"
log = logging.getLogger("session_engine.bus")
DEFAULTS: dict[str, dict[str, Any]] = {"list": {"limit": MAX_PAGE}}
"""What a bus payload means when it leaves a field out, where the bus differs from the engine: Makaio
lists every session when `limit` is absent; here that is the largest page (`specs/rpc.md`)."""


@functools.cache
def takes_metadata(subject: Subject) -> bool:
    """Writes take `metadata` (actor, adapter, correlation id); reads do not."""
    return "metadata" in inspect.signature(subject).parameters


async def route(engine: Engine, namespace: str, request: Request, *, actor: str) -> str:
    """Serve one request in the tenant's `namespace`; returns the response frame."""
    subject = request.full_subject
    correlation = request.correlationId
    answer = SUBJECTS.get(request.subject) if request.namespace == RECORDS_NAMESPACE else None
    if answer is None:
        return error_response(correlation, f"no handler for {subject}", ErrorCode.NO_HANDLER, subject=subject)
    options: dict[str, Any] = {}
    if takes_metadata(answer):
        options["metadata"] = Metadata(actor=actor, adapter=ADAPTER, correlation_id=correlation)
    payload = {} if request.payload is None else request.payload
    if isinstance(payload, dict):
        payload = {**DEFAULTS.get(request.subject, {}), **payload}
    try:
        response = await answer(RecordSubjects(engine), namespace, payload, **options)
    except EngineError as error:
        return error_answer(error, correlation, subject)
    except Exception:
        log.exception("bus request failed", extra={"subject": subject, "correlation_id": correlation})
        return error_response(correlation, "internal error", ErrorCode.INTERNAL_ERROR, subject=subject)
    return result_response(correlation, response.model_dump(mode="json", by_alias=True))
