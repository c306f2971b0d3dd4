"""Requests to `storage:session.*` -> `engine.records` calls -> one response frame.

Pure translation: the subject picks the service method from `engine.records.SUBJECTS`; the service
validates the payload with the subject's request model (raising `ValidationFailed` with the field
path) and its response model dumps to the wire form. Every failure becomes a bus error
(`specs/rpc.md`), never a crash.
"""

from __future__ import annotations

import functools
import inspect
import logging
from typing import Any

from session_engine.adapters.rpc.bus_protocol import (
    RECORDS_NAMESPACE,
    ErrorCode,
    Request,
    error_response,
    result_response,
)
from session_engine.engine import Engine, EngineError, Metadata, ValidationFailed
from session_engine.engine.records import SUBJECTS, RecordsService

ADAPTER = "bus"
log = logging.getLogger("session_engine.bus")


@functools.cache
def takes_metadata(method_name: str) -> bool:
    """Writes take `metadata` (actor, adapter, correlation id); reads do not."""
    return "metadata" in inspect.signature(getattr(RecordsService, method_name)).parameters


def validation_data(error: ValidationFailed) -> dict[str, Any]:
    """The field path of a refused payload (`[]` when the whole payload is at fault)."""
    path = list(getattr(error, "path", ()))
    return {"path": path, "field": ".".join(str(part) for part in path), "reason": error.code}


async def route(engine: Engine, namespace: str, request: Request, *, actor: str) -> str:
    """Serve one request in the tenant's `namespace`; returns the response frame."""
    subject = request.full_subject
    correlation = request.correlationId
    entry = SUBJECTS.get(request.subject) if request.namespace == RECORDS_NAMESPACE else None
    if entry is None:
        return error_response(correlation, f"no handler for {subject}", ErrorCode.NO_HANDLER, subject=subject)
    _model, method_name = entry
    options: dict[str, Any] = {}
    if takes_metadata(method_name):
        options["metadata"] = Metadata(actor=actor, adapter=ADAPTER, correlation_id=correlation)
    payload = {} if request.payload is None else request.payload
    try:
        response = await getattr(engine.records, method_name)(namespace, payload, **options)
    except ValidationFailed as error:
        return error_response(
            correlation, str(error), ErrorCode.VALIDATION_ERROR, subject=subject, data=validation_data(error)
        )
    except EngineError as error:
        return error_response(correlation, str(error), error.code.upper(), subject=subject)
    except Exception:
        log.exception("bus request failed", extra={"subject": subject, "correlation_id": correlation})
        return error_response(correlation, "internal error", ErrorCode.INTERNAL_ERROR, subject=subject)
    return result_response(correlation, response.model_dump(mode="json", by_alias=True))
