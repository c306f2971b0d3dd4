"""What the envelopes', threads', graphs' and search's calls answer: domain types, not wire documents.

Every answer names its owner as the engine does, by `scope` (`engine.objects.scopes`) and
session id; instants stay `datetime`. Adapters turn these into their protocol's documents
(`adapters/blobhub/documents.py`), so the engine never learns a wire's field names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from session_engine.engine.objects.graphs.operations import Element, ElementChange


@dataclass(frozen=True, slots=True)
class ObjectSummary:
    """An object just written: whose it is, its type and when it changed."""

    scope: str
    session_id: str
    alias: str
    type: str
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class AppendSummary(ObjectSummary):
    """A `messages` object just appended to: the summary, the first new ordinal and how many."""

    first_ordinal: int = 0
    count: int = 0


@dataclass(frozen=True, slots=True)
class StoredObject:
    """A whole object; a `messages` value holds its messages, thread items and graph elements never."""

    scope: str
    session_id: str
    alias: str
    updated_at: datetime
    value: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ListedObject:
    """One line of a session's object list."""

    alias: str
    type: str
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ObjectPage:
    """A page of a session's objects in alias order; `cursor` (the last alias) pages on, None at the end."""

    objects: list[ListedObject]
    cursor: str | None


@dataclass(frozen=True, slots=True)
class ThreadItem:
    """One item of a thread; `parent_id` and `metadata` are None when not set."""

    id: str
    scope: str
    session_id: str
    alias: str
    created_at: datetime
    user_id: str | None
    content: list[dict[str, Any]]
    parent_id: str | None = None
    metadata: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class ItemPage:
    """A page of a thread's items; `cursor` is None on the last page."""

    items: list[ThreadItem] = field(default_factory=list)
    cursor: str | None = None


@dataclass(frozen=True, slots=True)
class ElementPage:
    """A page of a graph's elements (by creation or update order); `cursor` is None on the last."""

    elements: list[Element]
    cursor: str | None = None


@dataclass(frozen=True, slots=True)
class Neighborhood:
    """A page of the edges touching some vertices (creation order), and the vertices they reach."""

    edges: list[Element]
    vertices: list[Element]
    cursor: str | None = None


@dataclass(frozen=True, slots=True)
class GraphMutation:
    """A mutation batch applied: one change per element it affected, in order of first touch
    (elements created and deleted in the batch left out)."""

    elements: list[ElementChange]


@dataclass(frozen=True, slots=True)
class GraphCount:
    """A counting query's answer."""

    count: int


@dataclass(frozen=True, slots=True)
class GraphResults:
    """A query's results, as its terminal step asks: elements, or values, properties or
    projections of their props (client data); `truncated` when there were more than a page."""

    results: list[Any]
    truncated: bool


@dataclass(frozen=True, slots=True)
class MessageHit:
    """A message (or text thread item) a search matched: where it is and what it says."""

    session_id: str
    source_alias: str
    ordinal: int
    role: str | None
    text: str
    position: int
