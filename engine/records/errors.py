"""The records domain's typed errors. Adapters map them by base class (`ValidationFailed`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import PydanticSerializationError

from session_engine.engine import documents
from session_engine.engine.errors import ValidationFailed

Path = tuple[str | int, ...]
M = TypeVar("M", bound=BaseModel)


class InvalidRecordRequest(ValidationFailed):
    """A request that breaks the seed's schema or the reference's rules. `path` names the field."""

    code = "validation_failed"

    def __init__(self, message: str, path: Sequence[str | int] = ()) -> None:
        self.path: Path = tuple(path)
        self.field = ".".join(str(part) for part in self.path)
        super().__init__(f"{self.field}: {message}" if self.field else message)


class InvalidSearchSyntax(InvalidRecordRequest):
    """The full-text query cannot be parsed (the reference: a validation error, never a server error)."""

    code = "invalid_search_query"


def parse(model: type[M], raw: object) -> M:
    """Validate a wire dict (or pass a model through), turning pydantic's error into ours."""
    # The engine's document rule first (nesting, 64-bit integers, NUL...): the models take any
    # integer and free-form payloads of any depth, which the database or the encoder could not.
    if isinstance(raw, model):
        try:
            document: object = raw.model_dump(by_alias=True)
        except PydanticSerializationError as error:  # e.g. a payload nested beyond pydantic's limit
            raise InvalidRecordRequest(f"cannot be written as JSON: {error}") from None
        _check_document(document)
        return raw
    _check_document(raw)
    try:
        return model.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        # Union branches add their type name to the location; the wire path is what callers need.
        path = [
            part for part in first["loc"] if part not in ("int", "float", "function-after[_no_nul(), str]")
        ]
        raise InvalidRecordRequest(first["msg"], path) from None


def _check_document(document: object) -> None:
    breach = documents.problem(document)
    if breach is not None:
        raise InvalidRecordRequest(breach.message, breach.path)
