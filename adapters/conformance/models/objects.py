"""BlobHub session objects in memory: the envelopes of one session (by alias), a `messages` object's
messages, a thread's items and a graph's elements (`graph.Model`), with the documented semantics
(specs/objects.md).

A refused call raises `graph.Refused` naming the engine's error class (the wire's error name follows
from it, `machines.blobhub.REFUSALS`); the model is then unchanged. Ids and instants the server chooses (a
thread item's id and `created_at`) are the caller's to pass in: the engine's machine passes its
clock's, the wire machine the server's answer, so the model checks what follows from them (order,
the time filters) without guessing them.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from session_engine.adapters.conformance.models.graph import Model as Graph
from session_engine.adapters.conformance.models.graph import Refused

KEEPS_CHILDREN = frozenset({"thread", "graph"})
"""Types whose re-upload over the same type replaces only the envelope (items and elements stay)."""


@dataclass(frozen=True)
class Item:
    """A thread item; `created_at` and `id` are the server's."""

    id: str
    created_at: datetime
    content: list[Any]
    parent_id: str | None
    metadata: Any
    user_id: str | None


@dataclass
class Envelope:
    type: str
    value: dict[str, Any]
    """As uploaded; for `messages`, the messages live in `messages` (appends add to them)."""
    messages: list[Any] = field(default_factory=list)
    items: list[Item] = field(default_factory=list)
    graph: Graph = field(default_factory=Graph)

    def document(self) -> dict[str, Any]:
        """The value a download answers: a `messages` object reassembled with its appends."""
        if self.type == "messages":
            return {**self.value, "messages": list(self.messages)}
        return self.value


@dataclass
class Session:
    """One session's objects in one revision."""

    objects: dict[str, Envelope] = field(default_factory=dict)

    def upload(self, alias: str, value: dict[str, Any]) -> None:
        """Replace semantics: a thread over a thread (a graph over a graph) keeps its children."""
        kind = value["type"]
        old = self.objects.get(alias)
        new = Envelope(kind, copy.deepcopy(value), messages=copy.deepcopy(value.get("messages", [])))
        if old is not None and old.type == kind and kind in KEEPS_CHILDREN:
            new.items, new.graph = old.items, old.graph
        self.objects[alias] = new

    def delete(self, alias: str) -> None:
        """A delete takes the object's items, messages and elements with it."""
        if alias not in self.objects:
            raise Refused("ObjectNotFound", None)
        del self.objects[alias]

    def download(self, alias: str) -> dict[str, Any]:
        if alias not in self.objects:
            raise Refused("ObjectNotFound", None)
        return self.objects[alias].document()

    def listing(self) -> list[tuple[str, str]]:
        """(alias, type) in code-point order of the alias."""
        return [(alias, self.objects[alias].type) for alias in sorted(self.objects)]

    def append(self, alias: str, messages: list[Any]) -> tuple[int, int]:
        """(first ordinal, count) of messages appended to a `messages` object."""
        envelope = self.objects.get(alias)
        if envelope is None or envelope.type != "messages":
            raise Refused("InvalidMessagesEnvelope", None)
        first = len(envelope.messages)
        envelope.messages += copy.deepcopy(messages)
        return first, len(messages)

    # -- threads -------------------------------------------------------------------------------
    def thread(self, alias: str) -> list[Item]:
        envelope = self.objects.get(alias)
        if envelope is None or envelope.type != "thread":
            raise Refused("InvalidThreadEnvelope", None)
        return envelope.items

    def check_post(self, alias: str, content: list[Any]) -> None:
        """Raise the refusal a post would meet (the content is checked before the envelope)."""
        if not content:
            raise Refused("InvalidThreadItem", None)
        self.thread(alias)

    def post(self, alias: str, item: Item) -> None:
        self.check_post(alias, item.content)
        self.thread(alias).append(item)

    def items(
        self, alias: str, ascending: bool, since: datetime | None = None, before: datetime | None = None
    ) -> list[Item]:
        """Posting order (newest first unless `ascending`); `since` and `before` are strict."""
        chosen = [
            i
            for i in self.thread(alias)
            if (since is None or i.created_at > since) and (before is None or i.created_at < before)
        ]
        return chosen if ascending else chosen[::-1]

    def item(self, alias: str, item_id: str) -> Item:
        for item in self.thread(alias):
            if item.id == item_id:
                return item
        raise Refused("ObjectNotFound", None)

    # -- graphs --------------------------------------------------------------------------------
    def graph(self, alias: str) -> Graph:
        envelope = self.objects.get(alias)
        if envelope is None or envelope.type != "graph":
            raise Refused("InvalidGraphEnvelope", None)
        return envelope.graph

    def aliases(self, kind: str) -> list[str]:
        return sorted(alias for alias, envelope in self.objects.items() if envelope.type == kind)
