"""Session-object packets for the tests: the packet numbers, sample values, a client with auto ids."""

from __future__ import annotations

import itertools
from typing import Any

from tests.adapters.samples import MESSAGE
from tests.adapters.websocket.client import Client
from tests.adapters.websocket.conftest import ACME_KEY

UPLOAD, DOWNLOAD, LIST, DELETE, APPEND = 110, 111, 112, 113, 114
POST_ITEM, LIST_ITEMS, GET_ITEM = 120, 121, 122
MUTATE, ELEMENT, ELEMENTS, LIST_ELEMENTS, NEIGHBORS, QUERY = 130, 131, 132, 133, 134, 135
OBJECT_PACKETS: tuple[int, ...] = (UPLOAD, DOWNLOAD, LIST, DELETE, APPEND, POST_ITEM, LIST_ITEMS, GET_ITEM)
OBJECT_PACKETS += (MUTATE, ELEMENT, ELEMENTS, LIST_ELEMENTS, NEIGHBORS, QUERY)

MESSAGE_VALUE = {"type": "message", "message": MESSAGE}
MESSAGES_VALUE = {"type": "messages", "messages": [MESSAGE]}
THREAD_VALUE = {"type": "thread", "thread": {"attributes": {"name": "T"}, "metadata": {"k": 1}}}
GRAPH_VALUE = {"type": "graph", "graph": {"attributes": {"name": "G"}}}
PEOPLE = [
    {"op": "add_vertex", "element_id": "ann", "labels": ["person"], "props": {"age": 31, "name": "Ann"}},
    {"op": "add_vertex", "element_id": "bob", "labels": ["person"], "props": {"age": 25, "name": "Bob"}},
    {"op": "add_edge", "element_id": "e1", "label": "knows", "from_id": "ann", "to_id": "bob"},
]


def text(value: str) -> list[dict[str, str]]:
    return [{"type": "text", "text": value}]


class Objects(Client):
    """A client whose calls number themselves; `ok` asserts status 1, `refused` a named status."""

    def __init__(self, url: str, *, key: str = ACME_KEY, client_id: str = "objects-client") -> None:
        super().__init__(url)
        self.ids = itertools.count(2)
        self.client_id = client_id
        answer = self.initialize(key, client_id)
        assert answer["status"] == 1, answer

    def __enter__(self) -> Objects:
        return self

    def next_id(self) -> int:
        return next(self.ids)

    def packet(self, kind: int, **fields: Any) -> dict[str, Any]:
        packet_id = self.next_id()
        answer = self.call(kind, packet_id, **fields)
        assert answer["id"] == packet_id, answer
        return answer

    def ok(self, kind: int, **fields: Any) -> dict[str, Any]:
        answer = self.packet(kind, **fields)
        assert answer["status"] == 1, answer
        return answer

    def refused(self, kind: int, status: int, error: str, **fields: Any) -> str:
        answer = self.packet(kind, **fields)
        assert (answer["status"], answer.get("error")) == (status, error), answer
        assert set(answer) == {"id", "status", "error", "message"}, answer
        message: str = answer["message"]
        return message
