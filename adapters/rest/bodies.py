"""JSON request bodies, parsed at the edge by one rule for every route family.

orjson (not FastAPI's stdlib parser): it refuses what the engine could not store (lone
surrogates, NaN) as bad JSON, and needs no Content-Type. Routes document their body with
`schema.json_body(Model)`; failures are `ApiError`s the family handlers shape.
"""

from __future__ import annotations

from typing import Any, TypeVar

import orjson
from fastapi import Request
from pydantic import BaseModel, ValidationError

from adapters.rest.errors import ApiError, validation_message

M = TypeVar("M", bound=BaseModel)


async def read_json(request: Request) -> Any:
    try:
        return orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        raise ApiError(400, "invalid_json", "the body is not valid JSON") from None


async def read_model(request: Request, model: type[M]) -> M:
    data = await read_json(request)
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise ApiError(400, "invalid_request", validation_message(error.errors())) from None
