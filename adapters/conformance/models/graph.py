"""An in-memory property graph (a BlobHub graph object) with the documented semantics.

A refused batch raises `Refused` naming the error (the engine's class name; the wire's error code
follows from it) and the element it is about; the model is then unchanged (batches are atomic).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class Refused(Exception):
    """The server must refuse the batch with error `name` about `element_id` (None: the error names
    no element, as InvalidGraphOperation, whose message says what was wrong)."""

    def __init__(self, name: str, element_id: str | None) -> None:
        super().__init__(f"{name}: {element_id}")
        self.name = name
        self.element_id = element_id


@dataclass
class Model:
    elements: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Insertion order is creation order (a re-added id goes to the end)."""
    clock: int = 0

    def apply(self, ops: list[dict[str, Any]], at: datetime, user: str | None) -> list[dict[str, Any]]:
        """Apply a batch atomically; raise `Refused` on the first bad operation."""
        work = copy.deepcopy(self.elements)
        before = {i: e["type"] for i, e in work.items()}
        touched: list[str] = []
        created: set[str] = set()
        stamp = at.isoformat(timespec="microseconds")

        def touch(element_id: str) -> None:
            if element_id not in touched:
                touched.append(element_id)

        def get(element_id: str, kind: str) -> dict[str, Any]:
            if element_id not in work:
                raise Refused("ElementNotFound", element_id)
            if work[element_id]["type"] != kind:
                raise Refused("InvalidGraphOperation", None)
            return work[element_id]

        clock = self.clock
        for op in ops:
            clock += 1
            name, element_id = op["op"], op["element_id"]
            if name in ("add_vertex", "add_edge"):
                if element_id in work:
                    raise Refused("ElementExists", element_id)
                element: dict[str, Any] = {"element_id": element_id}
                if name == "add_vertex":
                    element.update(type="vertex", labels=list(op["labels"]))
                else:
                    get(op["from_id"], "vertex")
                    get(op["to_id"], "vertex")
                    element.update(type="edge", label=op["label"], from_id=op["from_id"], to_id=op["to_id"])
                element.update(props=dict(op.get("props", {})), rev=1, created_at=stamp, updated_at=stamp)
                element.update(user_id=user, _updated=clock)
                work[element_id] = element
                created.add(element_id)
                touch(element_id)
                continue
            kind = "vertex" if "vertex" in name else "edge"
            element = get(element_id, kind)
            if op.get("if_rev") is not None and op["if_rev"] != element["rev"]:
                raise Refused("RevMismatch", element_id)
            if name.startswith("delete"):
                if kind == "vertex":
                    for edge_id, edge in list(work.items()):
                        if edge["type"] == "edge" and element_id in (edge["from_id"], edge["to_id"]):
                            del work[edge_id]
                            touch(edge_id)
                del work[element_id]
                touch(element_id)
                continue
            if name.startswith("set"):
                element["props"] = {**element["props"], **op["props"]}
            else:
                element["props"] = {k: v for k, v in element["props"].items() if k not in op["keys"]}
            element.update(rev=element["rev"] + 1, updated_at=stamp, user_id=user, _updated=clock)
            touch(element_id)
        changes = []
        for element_id in touched:
            if element_id not in work:
                if element_id in before:
                    changes.append(
                        {
                            "element_id": element_id,
                            "type": before[element_id],
                            "change": "deleted",
                            "rev": None,
                        }
                    )
                continue
            change = "created" if element_id in created else "updated"
            changes.append(
                {
                    "element_id": element_id,
                    "type": work[element_id]["type"],
                    "change": change,
                    "rev": work[element_id]["rev"],
                }
            )
        self.elements = work
        self.clock = clock
        return changes

    @staticmethod
    def public(element: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in element.items() if not k.startswith("_")}

    def ordered(self) -> list[dict[str, Any]]:
        return list(self.elements.values())

    def has_label(self, element: dict[str, Any], label: str) -> bool:
        return (
            label in (element.get("labels") or [])
            if element["type"] == "vertex"
            else element["label"] == label
        )

    # -- neighbors -----------------------------------------------------------------------------
    def neighbors(
        self, sources: list[str], direction: str, label: str | None, neighbor_label: str | None
    ) -> tuple[list[str], list[str]]:
        """(edge ids in creation order, reached vertex ids deduplicated in order of appearance)."""
        source_set = set(sources)
        edges: list[str] = []
        reached: list[str] = []
        for edge in self.ordered():
            if edge["type"] != "edge" or (label is not None and edge["label"] != label):
                continue
            hits = []
            if direction != "in" and edge["from_id"] in source_set:
                hits.append(edge["to_id"])
            if direction != "out" and edge["to_id"] in source_set:
                hits.append(edge["from_id"])
            if neighbor_label is not None:
                hits = [v for v in hits if neighbor_label in self.elements[v]["labels"]]
            if hits:
                edges.append(edge["element_id"])
                reached += hits
        return edges, list(dict.fromkeys(reached))

    # -- traversals ----------------------------------------------------------------------------
    def query(self, query: dict[str, Any]) -> dict[str, Any]:
        start = query["start"]
        kind = "vertex" if start[0] == "V" else "edge"
        current = [
            e
            for e in self.ordered()
            if e["type"] == kind and (len(start) == 1 or e["element_id"] == start[1])
        ]
        terminal = None
        for step in query.get("steps", []):
            name, args = step[0], step[1:]
            ids = {e["element_id"] for e in current}
            if name in ("values", "properties", "project", "count"):
                terminal = step
            elif name in ("out", "in", "both", "outE", "inE", "bothE"):
                base = name.rstrip("E")
                found: set[str] = set()
                for edge in self.ordered():
                    if edge["type"] != "edge" or (args and edge["label"] != args[0]):
                        continue
                    if base != "in" and edge["from_id"] in ids:
                        found.add(edge["element_id"] if name.endswith("E") else edge["to_id"])
                    if base != "out" and edge["to_id"] in ids:
                        found.add(edge["element_id"] if name.endswith("E") else edge["from_id"])
                current = [e for e in self.ordered() if e["element_id"] in found]
            elif name in ("inV", "outV"):
                end = "to_id" if name == "inV" else "from_id"
                found = {e[end] for e in current}
                current = [e for e in self.ordered() if e["element_id"] in found]
            elif name == "hasLabel":
                current = [e for e in current if self.has_label(e, args[0])]
            elif name == "has":
                current = [e for e in current if has(e["props"], *args)]
            elif name == "limit":
                current = current[: args[0]]
        if terminal is None:
            return {"results": [self.public(e) for e in current], "truncated": False}
        if terminal[0] == "count":
            return {"count": len(current)}
        if terminal[0] == "values":
            return {
                "results": [e["props"][terminal[1]] for e in current if terminal[1] in e["props"]],
                "truncated": False,
            }
        if terminal[0] == "properties":
            return {
                "results": [{"element_id": e["element_id"], "props": e["props"]} for e in current],
                "truncated": False,
            }
        return {"results": [{k: e["props"].get(k) for k in terminal[1]} for e in current], "truncated": False}


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return "string" if isinstance(value, str) else "other"


def has(props: dict[str, Any], key: str, op: str, value: Any) -> bool:
    if key not in props:
        return False
    found = props[key]
    same = _kind(found) == _kind(value)
    equal = same and found == value
    if op == "eq":
        return equal
    if op == "neq":
        return not equal
    if not same or _kind(value) not in ("number", "string"):
        return False
    compared: dict[str, bool] = {
        "lt": found < value,
        "lte": found <= value,
        "gt": found > value,
        "gte": found >= value,
    }
    return compared[op]
