"""Hypothesis strategies for `storage:session` records and graph batches, shared by the kit and the tests.

Few ids and few timestamps, so ties in `lastActivityAt`, shared adapter session ids, lineage trees
and status moves all happen often.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from session_engine.adapters.conformance.models.records import STATUSES


def agent(agent_id: str, session_id: str, **fields: Any) -> dict[str, Any]:
    """A minimal valid agent of a record (wire names); `fields` add or replace some."""
    return {
        "agentId": agent_id,
        "adapterId": "claude",
        "adapterName": "Claude",
        "sessionId": session_id,
        "role": "lead",
        "status": "active",
        "createdAt": 1,
        "lastActivityAt": 2,
        **fields,
    }


SIDS = st.sampled_from(["s1", "s2", "s3", "s4", "s5"])
WORDS = ["alpha", "bravo", "charlie", "delta"]
TIMES = st.sampled_from([1, 2, 2.5, 3])
STATUS = st.sampled_from(STATUSES)
STATUS_FILTER = st.sampled_from([None, "all", *STATUSES])
TITLE = st.sampled_from(["Alpha notes", "BRAVO", "zeta Charlie"])
ACCOUNT = st.sampled_from([("c1", "acc-1", "c1"), ("c2", "acc-2", "c2"), ("c1", "acc-1", "c9")])


def identity(choice: tuple[str, str, str]) -> dict[str, Any]:
    client, account, observed = choice
    observation = {"clientId": observed, "source": "s", "kind": "k", "observedAt": 1, "payload": {}}
    return {"clientId": client, "clientAccountId": account, "lastClientIdentityObservation": observation}


OPTIONAL = {
    "parentSessionId": SIDS,
    "adapterSessionId": st.sampled_from(["ad-1", "ad-2"]),
    "executionTargetId": st.sampled_from(["t1", "t2"]),
    "title": TITLE,
    "branchKind": st.sampled_from(["fork", "subagent"]),
    "spawningToolCallId": st.just("call"),
    "forkPointMessageId": st.just("m1"),
    "approvalPolicyOverride": st.sampled_from([None, "reject"]),
    "isImported": st.booleans(),
}
UPDATABLE = {
    "status": STATUS,
    "lastActivityAt": TIMES,
    "createdAt": TIMES,
    "title": TITLE,
    "parentSessionId": SIDS,
    "executionTargetId": st.sampled_from([None, "t1", "t2"]),
    "spawningToolCallId": st.sampled_from([None, "call-2"]),
    "approvalPolicyOverride": st.sampled_from([None, "full-access"]),
    "clientId": st.sampled_from(["c1", "c2"]),
}


@st.composite
def records(draw: st.DrawFn, sid: str) -> dict[str, Any]:
    record: dict[str, Any] = {
        "sessionId": sid,
        "createdAt": draw(TIMES),
        "lastActivityAt": draw(TIMES),
        "agents": [agent(f"a{i}", sid) for i in range(draw(st.integers(0, 2)))],
        "status": draw(STATUS),
    }
    for name in draw(st.sets(st.sampled_from(sorted(OPTIONAL)), max_size=4)):
        record[name] = draw(OPTIONAL[name])
    if draw(st.booleans()):
        record.update(identity(draw(ACCOUNT)))
    return record


# -- BlobHub graph mutation batches ----------------------------------------------------------------

IDS = st.sampled_from([f"n{i}" for i in range(12)])
VERTEX_LABELS = st.sampled_from(["p", "q", "r"])
EDGE_LABELS = st.sampled_from(["k", "l"])
KEYS = st.sampled_from(["x", "y", "z"])
SCALARS = st.sampled_from([-2, 0, 1, 2, 0.5, 1.0, 2.5, "a", "b", "B", "é", True, False, None])
PROPS = st.dictionaries(KEYS, SCALARS | st.just([1, 2]), max_size=2)
IF_REV = st.none() | st.none() | st.integers(1, 3)


def operation(
    ids: st.SearchStrategy[str], vertices: st.SearchStrategy[str]
) -> st.SearchStrategy[dict[str, Any]]:
    """Operations whose ids mostly name existing elements (`ids`, `vertices`), sometimes any id."""
    add_vertex = st.fixed_dictionaries(
        {
            "op": st.just("add_vertex"),
            "element_id": IDS,
            "labels": st.lists(VERTEX_LABELS, min_size=1, max_size=2, unique=True),
            "props": PROPS,
        }
    )
    add_edge = st.fixed_dictionaries(
        {
            "op": st.just("add_edge"),
            "element_id": IDS,
            "label": EDGE_LABELS,
            "from_id": vertices,
            "to_id": vertices,
            "props": PROPS,
        }
    )
    set_props = st.fixed_dictionaries(
        {
            "op": st.sampled_from(["set_vertex_props", "set_edge_props"]),
            "element_id": ids,
            "props": PROPS,
            "if_rev": IF_REV,
        }
    )
    remove_props = st.fixed_dictionaries(
        {
            "op": st.sampled_from(["remove_vertex_props", "remove_edge_props"]),
            "element_id": ids,
            "keys": st.lists(KEYS, max_size=2),
            "if_rev": IF_REV,
        }
    )
    delete = st.fixed_dictionaries(
        {
            "op": st.sampled_from(["delete_vertex", "delete_edge"]),
            "element_id": ids,
            "if_rev": st.none() | st.none() | IF_REV,
        }
    )
    return st.one_of(add_vertex, add_edge, add_edge, set_props, remove_props, delete)


def traversal_step(kind: str) -> st.SearchStrategy[list[Any]]:
    """One step that applies to `kind` ("vertex" or "edge") elements."""
    common = [
        st.tuples(st.just("hasLabel"), VERTEX_LABELS if kind == "vertex" else EDGE_LABELS),
        st.tuples(st.just("has"), KEYS, st.sampled_from(["eq", "neq", "lt", "lte", "gt", "gte"]), SCALARS),
        st.tuples(st.just("limit"), st.integers(1, 4) | st.just(0)),
    ]
    if kind == "vertex":
        moves = st.sampled_from(["out", "in", "both", "outE", "inE", "bothE"])
        common.append(st.tuples(moves) | st.tuples(moves, EDGE_LABELS))
    else:
        common.append(st.tuples(st.sampled_from(["inV", "outV"])))
    return st.one_of(common).map(list)


TERMINALS: st.SearchStrategy[Any] = (
    st.none() | st.sampled_from([["count"], ["properties"]]) | st.tuples(st.just("values"), KEYS).map(list)
)
TERMINALS |= st.lists(KEYS, max_size=2).map(lambda keys: ["project", keys])


@st.composite
def queries(draw: st.DrawFn) -> dict[str, Any]:
    """A traversal of 0..3 steps that each fit what the previous one yields, and maybe a terminal."""
    start = draw(st.sampled_from([["V"], ["E"]]) | st.tuples(st.sampled_from(["V", "E"]), IDS).map(list))
    kind = "vertex" if start[0] == "V" else "edge"
    steps: list[list[Any]] = []
    for _ in range(draw(st.integers(0, 3))):
        chosen = draw(traversal_step(kind))
        steps.append(chosen)
        if chosen[0] in ("out", "in", "both", "inV", "outV"):
            kind = "vertex"
        elif chosen[0] in ("outE", "inE", "bothE"):
            kind = "edge"
    terminal = draw(TERMINALS)
    return {"start": start, "steps": steps if terminal is None else [*steps, terminal]}


# -- BlobHub envelopes and threads -----------------------------------------------------------------

ALIASES = st.sampled_from(["g", "t", "m"])
"""Aliases (the wire machine starts with a graph `g` and a thread `t`; any type may replace them)."""
OBJECT_TYPES = st.sampled_from(["thread", "graph", "messages", "message"])
TEXT = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=6)
BLOCKS = st.one_of(
    st.builds(lambda text: {"type": "text", "text": text}, TEXT),
    st.builds(lambda value: {"type": "json", "json": value}, st.integers(-5, 5) | TEXT),
    st.just({"type": "image", "id": "img-1"}),
)
MESSAGES = st.builds(
    lambda role, content: {"role": role, "content": content},
    st.sampled_from(["user", "assistant", "system"]),
    st.lists(BLOCKS, min_size=1, max_size=2),
)
ITEM_CONTENT = st.lists(BLOCKS, max_size=3)
"""A thread item's content (empty content is refused)."""
PARENTS = st.none() | st.just("p-1")
ITEM_METADATA = st.none() | st.fixed_dictionaries({"type": st.sampled_from(["text", "status"])})


def object_values(kind: str) -> st.SearchStrategy[dict[str, Any]]:
    """An upload's value of type `kind`."""
    if kind == "message":
        return st.builds(lambda message: {"type": "message", "message": message}, MESSAGES)
    if kind == "messages":
        return st.builds(
            lambda listed: {"type": "messages", "messages": listed}, st.lists(MESSAGES, max_size=2)
        )
    return st.builds(lambda name: {"type": kind, kind: {"attributes": {"name": name}}}, TEXT)
