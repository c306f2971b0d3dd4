"""The records domain's typed errors. Adapters map them by base class (`ValidationFailed`); a path
names a field by the record's (or the request's) own field names."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from session_engine.engine.errors import ValidationFailed

Path = tuple[str | int, ...]
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
        self.message = message
        super().__init__(f"{self.field}: {message}" if self.field else message)

    def under(self, *prefix: str | int) -> InvalidRecordRequest:
        """The same refusal with every path inside `prefix` (the record inside a request)."""
        issues = [Issue((*prefix, *issue.path), issue.message, issue.kind) for issue in self.issues]
        return type(self)(self.message, (*prefix, *self.path), issues=issues)


class InvalidSearchSyntax(InvalidRecordRequest):
    """The full-text query cannot be parsed (the reference: a validation error, never a server error)."""

    code = "invalid_search_query"
