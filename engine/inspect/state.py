"""A session as its domains see it at a point of its history: the typed answer of `state_as_of`.

Built from what each domain's own read functions return on the session's read models as of the
cut-off (`SessionAsOf`), or on the live ones at the session's head (`engine.inspect.head`): no
second copy of any domain's rules. Every part is a mapping keyed by what identifies an element of
it (value key, part name, record field, object alias, item id, element id), so two states compare
part by part (`engine.inspect.diff`).

The domains' read functions are imported here and nowhere else in this package: when a domain
moves its reads, this is the one place to follow it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.engine import Connection

from session_engine.engine.objects.answers import ThreadItem
from session_engine.engine.objects.envelopes import queries as envelope_reads
from session_engine.engine.objects.graphs import queries as graph_reads
from session_engine.engine.objects.graphs.operations import Element
from session_engine.engine.objects.state import iso
from session_engine.engine.objects.threads import queries as thread_reads
from session_engine.engine.records import queries as record_queries
from session_engine.engine.values import queries as value_queries
from session_engine.engine.values.parts import PART_PREFIX


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ValueState(_Frozen):
    """A stored value; `expired` is judged at the state's `as_of` instant."""

    value: Any
    expires_at: datetime | None
    expired: bool
    updated_at: datetime


class Envelope(_Frozen):
    """An object's envelope: its type, its value (a `messages` object's messages are apart) and time."""

    type: str
    updated_at: str
    value: dict[str, Any]


class ObjectState(_Frozen):
    envelope: Envelope
    messages: list[Any] = Field(default_factory=list, description="A messages object's conversation.")
    items: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="A thread's items by id, oldest first."
    )
    vertices: dict[str, dict[str, Any]] = Field(default_factory=dict, description="A graph's vertices by id.")
    edges: dict[str, dict[str, Any]] = Field(default_factory=dict, description="A graph's edges by id.")


class SessionState(_Frozen):
    namespace: str
    session: str = Field(description="The session's stream.")
    version: int = Field(description="The last event applied (0: none).")
    position: int = Field(description="The log position of the last event applied (0: none).")
    recorded_at: datetime | None = Field(description="When the last event applied was recorded.")
    as_of: datetime = Field(description="The instant expiry is judged at.")
    values: dict[str, ValueState] = Field(description="Every stored value by key, expired ones marked.")
    user_parts: dict[str, ValueState] = Field(description="User parts by name, in creation order.")
    record: dict[str, Any] | None = Field(description="The session record's fields (null: no record).")
    objects: dict[str, ObjectState] = Field(description="The session's objects by alias.")


T = TypeVar("T")


class StateSource(Protocol):
    """Read models holding one session at a point: the as-of ones of a fold (`SessionAsOf`), or the
    live ones at the session's head (`engine.inspect.head.LiveSession`)."""

    @property
    def namespace(self) -> str: ...
    @property
    def stream(self) -> str: ...
    @property
    def version(self) -> int: ...
    @property
    def position(self) -> int: ...
    @property
    def at(self) -> datetime | None: ...
    def read(self, function: Callable[[Connection], T]) -> T: ...


def read_state(state: StateSource, as_of: datetime) -> SessionState:
    """Read a session's state off read models holding it; expiry is judged at `as_of`."""
    ns, stream = state.namespace, state.stream
    # One read for every domain: each read of an as-of state begins and rolls back a transaction.
    (values, parts), record, objects = state.read(
        lambda c: (
            _values(c, ns, stream, as_of),
            record_queries.get_record(c, ns, stream),
            _objects(c, ns, stream),
        )
    )
    return SessionState(
        namespace=ns,
        session=stream,
        version=state.version,
        position=state.position,
        recorded_at=state.at,
        as_of=as_of,
        values=values,
        user_parts=parts,
        record=record,
        objects=objects,
    )


def _values(
    connection: Connection, namespace: str, stream: str, as_of: datetime
) -> tuple[dict[str, ValueState], dict[str, ValueState]]:
    values: dict[str, ValueState] = {}
    parts: dict[str, ValueState] = {}
    for entry in value_queries.get_entries(connection, namespace, stream):
        expired = entry.expires_at is not None and entry.expires_at <= as_of
        found = ValueState(
            value=entry.value, expires_at=entry.expires_at, expired=expired, updated_at=entry.updated_at
        )
        if entry.key.startswith(PART_PREFIX):
            parts[entry.key[len(PART_PREFIX) :]] = found
        else:
            values[entry.key] = found
    return dict(sorted(values.items())), parts


def _objects(connection: Connection, namespace: str, stream: str) -> dict[str, ObjectState]:
    objects: dict[str, ObjectState] = {}
    after: str | None = None
    while True:
        page = envelope_reads.list_objects(connection, namespace, stream, after=after)
        for listed in page.objects:
            objects[listed.alias] = _object(connection, namespace, stream, listed.alias, listed.type)
        after = page.cursor
        if after is None:
            return objects


def _item(item: ThreadItem) -> dict[str, Any]:
    """A thread item in the state: its fields, the instant in ISO 8601, unset optional parts left out."""
    found: dict[str, Any] = {
        "id": item.id,
        "scope": item.scope,
        "session_id": item.session_id,
        "alias": item.alias,
        "user_id": item.user_id,
        "content": item.content,
        "created_at": iso(item.created_at),
    }
    if item.parent_id is not None:
        found["parent_id"] = item.parent_id
    if item.metadata is not None:
        found["metadata"] = item.metadata
    return found


def _element(element: Element) -> dict[str, Any]:
    """A graph element in the state: a vertex's labels or an edge's label and ends, then the rest,
    instants in ISO 8601 (to the microsecond)."""
    found: dict[str, Any] = {"element_id": element.element_id, "type": element.type}
    if element.type == "vertex":
        found["labels"] = list(element.labels or [])
    else:
        found.update(label=element.label, from_id=element.from_id, to_id=element.to_id)
    created = iso(element.created_at)  # most elements are never changed: one instant, formatted once
    updated = created if element.updated_at == element.created_at else iso(element.updated_at)
    found.update(props=element.props, rev=element.rev, created_at=created, updated_at=updated)
    found["user_id"] = element.user_id
    return found


def _object(connection: Connection, namespace: str, stream: str, alias: str, kind: str) -> ObjectState:
    stored = envelope_reads.download(connection, namespace, stream, alias)
    value = dict(stored.value)
    messages = value.pop("messages", []) if kind == "messages" else []
    envelope = Envelope(type=kind, updated_at=iso(stored.updated_at), value=value)
    items: dict[str, dict[str, Any]] = {}
    vertices: dict[str, dict[str, Any]] = {}
    edges: dict[str, dict[str, Any]] = {}
    cursor: str | None = None
    if kind == "thread":
        while True:
            thread = thread_reads.list_items(
                connection, namespace, stream, alias, ascending=True, limit=1000, cursor=cursor
            )
            items.update((item.id, _item(item)) for item in thread.items)
            if (cursor := thread.cursor) is None:
                break
    elif kind == "graph":
        while True:
            page = graph_reads.list_elements(
                connection, namespace, stream, alias, ascending=True, limit=1000, cursor=cursor
            )
            for element in page.elements:
                (vertices if element.type == "vertex" else edges)[element.element_id] = _element(element)
            if (cursor := page.cursor) is None:
                break
    # Not validated again: every part is a fresh dict built above from the domains' typed answers,
    # and validating copied each item's and element's dict once more (a tenth of a state's read).
    return ObjectState.model_construct(
        envelope=envelope, messages=messages, items=items, vertices=vertices, edges=edges
    )
