"""The records domain's typed errors. Adapters map them by base class (`ValidationFailed`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import PydanticSerializationError

from session_engine.engine import documents
from session_engine.engine.errors import ValidationFailed

Path = tuple[str | int, ...]
M = TypeVar("M", bound=BaseModel)
RULE = "rule"
"""The `kind` of an issue found by a rule of the reference rather than by the schema."""


class Issue(NamedTuple):
    """One thing wrong with a request: where (`path`), what (`message`), and which check (`kind`:
    pydantic's error type such as `missing` or `string_type`, or `RULE`)."""

    path: Path
    message: str
    kind: str = RULE


class InvalidRecordRequest(ValidationFailed):
    """A request that breaks the seed's schema or the reference's rules. `path` names the (first)
    field at fault; `issues` lists every one found (a rule finds one)."""

    code = "validation_failed"

    def __init__(self, message: str, path: Sequence[str | int] = (), *, issues: Sequence[Issue] = ()) -> None:
        self.path: Path = tuple(path)
        self.field = ".".join(str(part) for part in self.path)
        self.issues: tuple[Issue, ...] = tuple(issues) or (Issue(self.path, message),)
        super().__init__(f"{self.field}: {message}" if self.field else message)


class InvalidSearchSyntax(InvalidRecordRequest):
    """The full-text query cannot be parsed (the reference: a validation error, never a server error)."""

    code = "invalid_search_query"


# Union branches add their type name to the location; the wire path is what callers need.
_BRANCH_TAGS = frozenset({"int", "float", "function-after[_no_nul(), str]"})


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
        issues: dict[Path, Issue] = {}
        for found in error.errors(include_url=False, include_input=False):
            path = tuple(part for part in found["loc"] if part not in _BRANCH_TAGS)
            issues.setdefault(path, Issue(path, found["msg"], found["type"]))  # one per field
        first = next(iter(issues.values()))
        raise InvalidRecordRequest(first.message, first.path, issues=tuple(issues.values())) from None


def _check_document(document: object) -> None:
    breach = documents.problem(document)
    if breach is not None:
        raise InvalidRecordRequest(breach.message, breach.path)
