"""JSON-RPC 2.0 framing: parse a message (single or batch), dispatch each call, build the answer.

Transport-free: both the websocket and the HTTP POST endpoints hand a frame/body to `answer` with
their own `dispatch`. Calls of a batch run in order; notifications (no `id`) are run and never
answered; a message that holds only notifications gets no answer at all (None).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from session_engine.adapters.requests import note
from session_engine.engine import documents

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
MAX_BATCH = 100
MAX_METHOD_LENGTH = 128

log = logging.getLogger("session_engine.jsonrpc")
Id = str | int | None
Dispatch = Callable[[str, dict[str, Any]], Awaitable[Any]]
_NO_ID = object()


class RpcError(Exception):
    """An error answered to the caller: a JSON-RPC code, a message and optional data."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data

    def to_json(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error


def error_message(request_id: Id, error: RpcError) -> dict[str, Any]:
    note(outcome=error.code)
    return {"jsonrpc": "2.0", "id": request_id, "error": error.to_json()}


def result_message(request_id: Id, result: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "result": result}


def notification(method: str, params: dict[str, Any]) -> bytes:
    return orjson.dumps({"jsonrpc": "2.0", "method": method, "params": params})


def _valid_id(value: Any) -> bool:
    """A string, null or an integer the answer can carry (the engine's 64-bit rule for JSON integers)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return documents.MIN_INTEGER <= value <= documents.MAX_INTEGER
    return value is None or isinstance(value, str)


async def _one(call: Any, dispatch: Dispatch) -> dict[str, Any] | None:
    """The answer to one call of a message, or None for a notification."""
    if not isinstance(call, dict):
        return error_message(None, RpcError(INVALID_REQUEST, "a request must be a JSON object"))
    raw_id = call.get("id", _NO_ID)
    request_id: Id = raw_id if raw_id is not _NO_ID and _valid_id(raw_id) else None  # type: ignore[assignment]
    method = call.get("method")
    params = call.get("params", {})
    problem = None
    if call.get("jsonrpc") != "2.0":
        problem = '"jsonrpc" must be "2.0"'
    elif raw_id is not _NO_ID and not _valid_id(raw_id):
        problem = '"id" must be a string, a 64-bit integer or null'
    elif not isinstance(method, str) or not method or len(method) > MAX_METHOD_LENGTH:
        problem = '"method" must be a non-empty string'
    elif not isinstance(params, dict | list):
        problem = '"params" must be an object or an array'
    if problem is not None:
        return error_message(request_id, RpcError(INVALID_REQUEST, problem))
    assert isinstance(method, str)
    try:
        if isinstance(params, list):
            raise RpcError(INVALID_PARAMS, "params must be an object (named parameters)")
        result = await dispatch(method, params)
    except RpcError as error:
        answer = error_message(request_id, error)
    except Exception:
        log.exception("json-rpc call failed", extra={"method": method})
        answer = error_message(request_id, RpcError(INTERNAL_ERROR, "internal error"))
    else:
        answer = result_message(request_id, result)
    return None if raw_id is _NO_ID else answer


async def answer(message: str | bytes, dispatch: Dispatch) -> bytes | None:
    """The serialized answer to one JSON-RPC message (None: nothing to send back)."""
    try:
        data = documents.loads(message)
    except documents.NotJson as error:
        problem = RpcError(PARSE_ERROR, f"parse error: not valid JSON: {error.reason}")
        return orjson.dumps(error_message(None, problem))
    if not isinstance(data, list):
        single = await _one(data, dispatch)
        return None if single is None else orjson.dumps(single)
    if not data:
        return orjson.dumps(error_message(None, RpcError(INVALID_REQUEST, "empty batch")))
    if len(data) > MAX_BATCH:
        problem = RpcError(INVALID_REQUEST, f"a batch holds at most {MAX_BATCH} calls")
        return orjson.dumps(error_message(None, problem))
    answers = [found for call in data if (found := await _one(call, dispatch)) is not None]
    return orjson.dumps(answers) if answers else None
