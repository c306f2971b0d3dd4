"""The graphs' typed errors (mutations, reads, traversals); each has a stable `code`."""

from __future__ import annotations

from session_engine.engine.errors import EngineError, LimitExceeded, NotFound, ValidationFailed
from session_engine.engine.objects.errors import UnreadableArgument


class ElementNotFound(NotFound):
    """A graph element named by an operation or a read does not exist."""

    code = "not_found"

    def __init__(self, element_id: str) -> None:
        self.element_id = element_id
        super().__init__(f"graph element {element_id!r} not found")


class InvalidGraphEnvelope(ValidationFailed):
    """A graph command on an alias that is missing or not a graph."""

    code = "invalid_graph_envelope"


class InvalidGraphOperation(ValidationFailed):
    code = "invalid_graph_operation"


class TooManyOperations(LimitExceeded):
    code = "too_many_operations"


class ElementExists(EngineError):
    """An add operation named an element id that is already taken in this graph."""

    code = "element_exists"

    def __init__(self, element_id: str) -> None:
        self.element_id = element_id
        super().__init__(f"graph element {element_id!r} already exists")


class RevMismatch(EngineError):
    """An `if_rev` check failed: the whole batch is refused."""

    code = "rev_mismatch"

    def __init__(self, element_id: str, expected: int, actual: int | None) -> None:
        self.element_id = element_id
        self.expected = expected
        self.actual = actual
        super().__init__(f"element {element_id!r}: if_rev {expected} but current rev is {actual}")


class InvalidGraphQuery(ValidationFailed):
    code = "invalid_graph_query"


class UnreadableElementId(ElementNotFound, UnreadableArgument):
    """An element id the database cannot compare: no element has it."""


class UnreadableGraphIds(InvalidGraphQuery, UnreadableArgument):
    """Element ids or labels the database cannot compare."""
