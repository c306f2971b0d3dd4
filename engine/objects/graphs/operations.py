"""Graph mutation operations and the one function that applies a batch of them.

The decision runs `Workspace.apply` to validate a batch (any error refuses it whole); the
projection runs the same code on the same state to write it. One source of truth for semantics.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from session_engine.engine.objects import limits
from session_engine.engine.objects.graphs.errors import (
    ElementExists,
    ElementNotFound,
    InvalidGraphOperation,
    RevMismatch,
    TooManyOperations,
)
from session_engine.engine.objects.models import check_document, json_size

Id = Annotated[str, Field(min_length=1, max_length=limits.MAX_ID, pattern=r"^[^\x00-\x1f]*$")]
Props = dict[str, Any]
ElementType = Literal["vertex", "edge"]


class _Op(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AddVertex(_Op):
    op: Literal["add_vertex"]
    labels: Annotated[list[Id], Field(min_length=1, max_length=limits.MAX_LABELS)]
    element_id: Id | None = None
    props: Props = {}


class AddEdge(_Op):
    op: Literal["add_edge"]
    label: Id
    from_id: Id
    to_id: Id
    element_id: Id | None = None
    props: Props = {}


class SetProps(_Op):
    op: Literal["set_vertex_props", "set_edge_props"]
    element_id: Id
    props: Props
    if_rev: int | None = None


class RemoveProps(_Op):
    op: Literal["remove_vertex_props", "remove_edge_props"]
    element_id: Id
    keys: list[str]
    if_rev: int | None = None


class DeleteElement(_Op):
    op: Literal["delete_vertex", "delete_edge"]
    element_id: Id
    if_rev: int | None = None


Operation = Annotated[AddVertex | AddEdge | SetProps | RemoveProps | DeleteElement, Field(discriminator="op")]
_operations: TypeAdapter[list[Operation]] = TypeAdapter(list[Operation])


def parse_operations(raw: Any) -> list[Operation]:
    """Validate a batch and give every add an element id (ids are chosen here, never in projections)."""
    if not isinstance(raw, list) or not raw:
        raise InvalidGraphOperation("operations must be a non-empty list")
    if len(raw) > limits.MAX_OPERATIONS:
        raise TooManyOperations(f"at most {limits.MAX_OPERATIONS} operations per batch")
    if json_size(raw, InvalidGraphOperation, "operations") > limits.MAX_MUTATION_BYTES:
        raise InvalidGraphOperation(f"a batch is limited to {limits.MAX_MUTATION_BYTES} bytes")
    check_document(raw, InvalidGraphOperation, "operations")
    try:
        operations = _operations.validate_python(raw)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise InvalidGraphOperation(f"operation {where}: {first['msg']}") from None
    named: list[Operation] = []
    for operation in operations:
        if isinstance(operation, AddVertex | AddEdge) and operation.element_id is None:
            operation = operation.model_copy(update={"element_id": uuid.uuid4().hex})
        if isinstance(operation, AddVertex) and len(set(operation.labels)) != len(operation.labels):
            raise InvalidGraphOperation("a vertex's labels must be distinct")
        named.append(operation)
    return named


def parse_stored_operations(raw: list[dict[str, Any]]) -> list[Operation]:
    """Operations as an event stored them (already validated, ids filled in)."""
    return _operations.validate_python(raw)


def dump_operations(operations: Iterable[Operation]) -> list[dict[str, Any]]:
    return [op.model_dump(mode="json", exclude_none=True) for op in operations]


@dataclass(slots=True)
class Element:
    """One vertex or edge, as stored in `graph_elements`. Slotted: a replay makes one per element
    change (`changed`), and reads their fields as it folds and writes them."""

    element_id: str
    type: ElementType
    labels: list[str] | None
    label: str | None
    from_id: str | None
    to_id: str | None
    props: Props
    rev: int
    created_at: datetime
    updated_at: datetime
    user_id: str | None
    created_seq: int
    updated_seq: int

    def changed(self, props: Props, at: datetime, user_id: str | None, seq: int) -> Element:
        """The next revision with new props, as a change at `at` by `user_id` leaves it (built
        directly: `dataclasses.replace` inspects the fields at every call)."""
        return Element(
            self.element_id,
            self.type,
            self.labels,
            self.label,
            self.from_id,
            self.to_id,
            props,
            self.rev + 1,
            self.created_at,
            at,
            user_id,
            self.created_seq,
            seq,
        )


@dataclass(frozen=True, slots=True)
class ElementChange:
    """What a mutation batch did to one element: the decision answers these (`GraphMutation`), its
    event records them (`GraphMutated.changes`), and the projection's replay of the event makes them
    again (the same `Workspace`). `rev` is None for a deleted element."""

    element_id: str
    type: ElementType
    change: Literal["created", "updated", "deleted"]
    rev: int | None


@dataclass
class Workspace:
    """A batch's view of one graph: loaded elements, changed in memory, in operation order."""

    load: Callable[[list[str]], dict[str, Element]]
    incident: Callable[[str], dict[str, Element]]
    elements: dict[str, Element | None] = field(default_factory=dict)
    touched: list[str] = field(default_factory=list)
    created: set[str] = field(default_factory=set)
    before: dict[str, ElementType] = field(default_factory=dict)
    """Id -> type of every element that existed before the batch and was looked at."""
    recorded: bool = False
    """True when the batch is a recorded one (`replay`): its props were checked when it was decided."""

    def _fetch(self, ids: Iterable[str]) -> None:
        missing = [i for i in dict.fromkeys(ids) if i not in self.elements]
        if missing:
            found = self.load(missing)
            for element_id in missing:
                self.elements[element_id] = found.get(element_id)
            self.before.update((i, e.type) for i, e in found.items())

    def _get(self, element_id: str, kind: str | None = None) -> Element:
        if element_id not in self.elements:  # `_run` fetched the batch's ids: rarely missing
            self._fetch([element_id])
        element = self.elements.get(element_id)
        if element is None:
            raise ElementNotFound(element_id)
        if kind is not None and element.type != kind:
            raise InvalidGraphOperation(f"element {element_id!r} is a {element.type}, not a {kind}")
        return element

    def _touch(self, element_id: str, element: Element | None) -> None:
        self.elements[element_id] = element
        if element_id not in self.touched:
            self.touched.append(element_id)

    def apply(
        self, operations: list[Operation], *, at: datetime, user_id: str | None, seq_base: int
    ) -> list[ElementChange]:
        """Apply the batch in order; raise a named error on the first bad operation."""
        self._run(operations, at, user_id, seq_base)
        return self._changes(self.before)

    def replay(
        self, operations: list[Operation], *, at: datetime, user_id: str | None, seq_base: int
    ) -> None:
        """Apply a recorded batch as `apply` did when it was decided (the projection's replay of an
        event), without checking props' sizes again or listing the changes, which the event holds."""
        self.recorded = True
        self._run(operations, at, user_id, seq_base)

    def _run(self, operations: list[Operation], at: datetime, user_id: str | None, seq_base: int) -> None:
        refs: list[str] = []
        for operation in operations:
            if isinstance(operation, AddEdge):
                refs += [operation.from_id, operation.to_id]
            assert operation.element_id is not None
            refs.append(operation.element_id)
        self._fetch(refs)
        for index, operation in enumerate(operations):
            self._apply_one(operation, at, user_id, seq_base + index)

    def _apply_one(self, op: Operation, at: datetime, user_id: str | None, seq: int) -> None:
        element_id = op.element_id
        assert element_id is not None
        if isinstance(op, _ADDS):
            if self.elements.get(element_id) is not None:
                raise ElementExists(element_id)
            if not self.recorded:
                self._check_props(element_id, op.props)
            if isinstance(op, AddEdge):
                self._get(op.from_id, "vertex")
                self._get(op.to_id, "vertex")
            self._touch(element_id, _new(op, element_id, at, user_id, seq))
            self.created.add(element_id)
            return
        kind = "vertex" if "vertex" in op.op else "edge"
        element = self._get(element_id, kind)
        if op.if_rev is not None and op.if_rev != element.rev:
            raise RevMismatch(element_id, op.if_rev, element.rev)
        if isinstance(op, DeleteElement):
            if kind == "vertex":
                self._fetch_incident(element_id)
                edges = [
                    edge
                    for edge in self.elements.values()
                    if edge is not None and edge.type == "edge" and element_id in (edge.from_id, edge.to_id)
                ]
                # Cascaded deletions are listed in creation order (earlier batches first).
                edges.sort(key=lambda edge: (edge.element_id in self.created, edge.created_seq))
                for edge in edges:
                    self._touch(edge.element_id, None)
            self._touch(element_id, None)
            return
        if isinstance(op, SetProps):
            props = {**element.props, **op.props}
        else:
            removed = set(op.keys)
            props = {k: v for k, v in element.props.items() if k not in removed}
        if not self.recorded:
            self._check_props(element_id, props)
        self._touch(element_id, element.changed(props, at, user_id, seq))

    def _fetch_incident(self, vertex_id: str) -> None:
        for edge_id, edge in self.incident(vertex_id).items():
            if edge_id not in self.elements:
                self.elements[edge_id] = edge
                self.before[edge_id] = edge.type

    @staticmethod
    def _check_props(element_id: str, props: Props) -> None:
        if json_size(props) > limits.MAX_PROPS_BYTES:
            raise InvalidGraphOperation(
                f"element {element_id!r}: props are limited to {limits.MAX_PROPS_BYTES} bytes"
            )

    def _changes(self, before: dict[str, ElementType]) -> list[ElementChange]:
        """One entry per affected element, in order of first touch; created-and-deleted ones left out."""
        changes: list[ElementChange] = []
        for element_id in self.touched:
            element = self.elements[element_id]
            if element is None:
                if element_id in before:
                    changes.append(ElementChange(element_id, before[element_id], "deleted", None))
                continue
            change: Literal["created", "updated"] = "created" if element_id in self.created else "updated"
            changes.append(ElementChange(element_id, element.type, change, element.rev))
        return changes


_ADDS = (AddVertex, AddEdge)
"""The operations that add an element (a tuple: `isinstance` of a `|` union builds it per call)."""


def _new(op: AddVertex | AddEdge, element_id: str, at: datetime, user_id: str | None, seq: int) -> Element:
    if isinstance(op, AddVertex):
        return Element(
            element_id,
            "vertex",
            list(op.labels),
            None,
            None,
            None,
            dict(op.props),
            1,
            at,
            at,
            user_id,
            seq,
            seq,
        )
    return Element(
        element_id, "edge", None, op.label, op.from_id, op.to_id, dict(op.props), 1, at, at, user_id, seq, seq
    )
