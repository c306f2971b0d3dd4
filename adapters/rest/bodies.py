"""JSON request bodies, parsed at the edge by one rule for every route family.

The engine's parser (`engine.documents.loads`: orjson, integers kept exact), not FastAPI's stdlib
one: it refuses what the engine could not store (lone surrogates, NaN, invalid UTF-8, text nested
deeper than 1,024 levels) as bad JSON, and needs no Content-Type. Routes document their body with
`schema.json_body(Model)`; failures are `ApiError`s the family handlers shape.
"""

from __future__ import annotations

from typing import Any, TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError

from session_engine.adapters.rest.errors import ApiError, validation_message
from session_engine.engine import documents

M = TypeVar("M", bound=BaseModel)


def parse_json(raw: bytes) -> Any:
    try:
        return documents.loads(raw)
    except documents.NotJson as error:
        raise ApiError(400, "invalid_json", f"the body is not valid JSON: {error.reason}") from None


def parse_model(raw: bytes, model: type[M]) -> M:
    data = parse_json(raw)
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise ApiError(400, "invalid_request", validation_message(error.errors())) from None


async def read_json(request: Request) -> Any:
    return parse_json(await request.body())


async def read_model(request: Request, model: type[M]) -> M:
    return parse_model(await request.body(), model)
