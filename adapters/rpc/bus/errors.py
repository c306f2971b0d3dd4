"""Domain errors as the bus error answers Makaio's peers know (`specs/rpc.md`).

`error_answer` is the one mapping: a refused payload (`ValidationFailed`) is `VALIDATION_ERROR`,
another engine error its own code in capitals (anything else is the route's `INTERNAL_ERROR`).

Makaio's bus answers a payload that fails a subject's zod schema with its `ValidationError`: the
message "Validation failed for subject "<namespace.subject>":" and one `path: message` line per
issue. Here the same message, the code `VALIDATION_ERROR`, and in `data` the issues as zod issues
(`{code, path, message}`) beside the first field's `path` / `field` / `reason`.
"""

from __future__ import annotations

from typing import Any

from session_engine.adapters.rpc.bus.protocol import ErrorCode, error_response
from session_engine.engine import EngineError, ValidationFailed
from session_engine.engine.records.errors import Issue

ZOD_CODES = {
    "missing": "invalid_type",
    "literal_error": "invalid_value",
    "enum": "invalid_value",
    "too_short": "too_small",
    "string_too_short": "too_small",
    "greater_than": "too_small",
    "greater_than_equal": "too_small",
    "too_long": "too_big",
    "string_too_long": "too_big",
    "less_than": "too_big",
    "less_than_equal": "too_big",
}
"""Pydantic's error types as the zod (v4) issue codes a Makaio peer knows; any other `*_type` is
`invalid_type`, everything else (the reference's rules among them) `custom`."""


def zod_code(kind: str) -> str:
    return ZOD_CODES.get(kind) or ("invalid_type" if kind.endswith("_type") else "custom")


def validation_error(error: ValidationFailed, subject: str) -> tuple[str, dict[str, Any]]:
    """The message and `data` of a refused payload, shaped as Makaio's `ValidationError`:
    "Validation failed for subject ..." with one `path: message` line per issue, and the issues
    (zod's `{code, path, message}`) in `data`, beside the first field's `path`/`field`/`reason`."""
    path = list(getattr(error, "path", ()))
    issues: tuple[Issue, ...] = getattr(error, "issues", None) or (Issue(tuple(path), str(error)),)
    lines = "\n".join(f"{'.'.join(str(part) for part in issue.path)}: {issue.message}" for issue in issues)
    data = {
        "path": path,
        "field": ".".join(str(part) for part in path),
        "reason": error.code,
        "issues": [
            {"code": zod_code(issue.kind), "path": list(issue.path), "message": issue.message}
            for issue in issues
        ],
    }
    return f'Validation failed for subject "{subject}":\n{lines}', data


def error_answer(error: EngineError, correlation: str, subject: str) -> str:
    """The response frame of a request the engine refused with `error`."""
    if isinstance(error, ValidationFailed):
        message, data = validation_error(error, subject)
        return error_response(correlation, message, ErrorCode.VALIDATION_ERROR, subject=subject, data=data)
    return error_response(correlation, str(error), error.code.upper(), subject=subject)
