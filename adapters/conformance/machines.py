"""Hypothesis state machines that drive a target over the wire and compare every answer with a model.

Each machine class is bound to a target by `bind` (a subclass with `target`, `options` and an
optional `clock`). Every example starts from fresh sessions: the value protocols use session ids with
a per-example token, so a server that serves other traffic (or earlier examples) does not disturb
the comparison; the bus machine owns its namespace (it deletes its five session ids first).

A `clock` (an object with `now()` and `advance(seconds)`, e.g. the engine's ManualClock driving the
server) lets the machines move time, which checks TTLs and expiry; without one, every TTL and expiry
the machines choose is far enough from now that nothing expires during a run.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Protocol
from urllib.parse import quote

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from session_engine.adapters.conformance import strategies as records
from session_engine.adapters.conformance.models import graph as graph_model
from session_engine.adapters.conformance.models import records as records_model
from session_engine.adapters.conformance.models import values
from session_engine.adapters.conformance.options import Options
from session_engine.adapters.conformance.wire import (
    BusClient,
    CacheClient,
    Disagreement,
    HttpClient,
    Target,
    Transcript,
    check,
)


class SteppedClock(Protocol):
    def now(self) -> datetime: ...
    def advance(self, seconds: float = 0.0) -> datetime: ...


class WireMachine(RuleBasedStateMachine):
    target: ClassVar[Target]
    options: ClassVar[Options] = Options()
    clock: ClassVar[SteppedClock | None] = None
    last_log: ClassVar[Transcript | None] = None
    """The transcript of the example that ran last: after a failure, the shrunk one."""

    def __init__(self) -> None:
        super().__init__()
        self.log = Transcript()
        type(self).last_log = self.log
        self.token = uuid.uuid4().hex[:8]

    def now(self) -> datetime:
        return self.clock.now() if self.clock is not None else datetime.now(UTC)

    @classmethod
    def bind(
        cls, target: Target, options: Options | None = None, clock: SteppedClock | None = None
    ) -> type[WireMachine]:
        attributes = {"target": target, "options": options or Options(), "clock": clock, "last_log": None}
        return type(cls.__name__, (cls,), attributes)


TIMED = precondition(lambda self: self.clock is not None)
ADVANCES = st.sampled_from([1, 3600, 86400, 3 * 86400])

# -- the websocket value cache -------------------------------------------------------------------

INITIALIZE, SET, GET, DELETE = 0, 12, 13, 14
OK, ALREADY_INITIALIZED, NOT_FOUND = 1, 4, 700
STORE_STATUS = {None: OK, "StoreOutOfMemory": 701, "StoreOutOfEntries": 702}
RESUME_NOT_FOUND = 4401

KEYS = st.one_of(
    st.sampled_from(["a", "b", "token", "ключ", ""]),
    st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=12),
)
WS_VALUES = st.one_of(
    st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=40),
    st.builds(lambda char, count: char * count, st.sampled_from(["x", "é", "🔑"]), st.integers(0, 9000)),
)
LONG_TTLS = st.one_of(st.just(0), st.integers(-(2**40), -1), st.integers(3600, 10**6))
"""TTLs <= 0 (the default applies) and TTLs long enough to outlive a run without a clock."""
SHORT_TTLS = st.sampled_from([1, 60, 3600])
BAD_FRAMES = st.sampled_from(
    [
        (b"\x00binary", 4304),
        ("not json", 4300),
        ('{"type":13}', 4300),
        ('{"type":42,"id":1}', 4301),
        ('{"type":12,"id":1,"key":"k","value":5,"ttl":0}', 4302),
        ('{"type":13,"id":1,"key":null}', 4302),
    ]
)
WS_SESSION = "connection"


class CacheMachine(WireMachine):
    """Packets 0/12/13/14 on /ws: statuses, the entry and byte limits, TTLs, resumption, bad frames."""

    def __init__(self) -> None:
        super().__init__()
        self.client: CacheClient | None = None

    @initialize()
    def connect(self) -> None:
        if self.client is not None:
            self.client.close()
        self.client = CacheClient(self.target, self.log)
        key = {"websocket_api_key": self.target.api_key} if self.target.api_key else {}
        check(
            "initialize's status",
            OK,
            self.client.call(INITIALIZE, client_id="conformance", **key).get("status"),
        )
        self.model = values.Model(self.now(), self.options)
        self.model.open(WS_SESSION)

    def call(self, kind: int, **fields: Any) -> dict[str, Any]:
        assert self.client is not None
        self.model.now = self.now()
        return self.client.call(kind, **fields)

    def set(self, key: str, value: str, ttl: int) -> None:
        answer = self.call(SET, key=key, value=value, ttl=ttl)
        expected = STORE_STATUS[self.model.set(WS_SESSION, key, value, ttl)]
        check(f"set {key!r}: status", expected, answer.get("status"))

    @rule(key=KEYS, value=WS_VALUES, ttl=LONG_TTLS)
    def set_value(self, key: str, value: str, ttl: int) -> None:
        self.set(key, value, ttl)

    @TIMED
    @rule(key=KEYS, value=WS_VALUES, ttl=SHORT_TTLS)
    def set_short_lived(self, key: str, value: str, ttl: int) -> None:
        self.set(key, value, ttl)

    @rule(count=st.sampled_from([2, 10, 999]), size=st.integers(0, 300))
    def fill(self, count: int, size: int) -> None:
        """Many keys: the entry count crosses the limit (999 stands for the limit plus two)."""
        count = self.options.ws_max_entries + 2 if count == 999 else count
        for n in range(count):
            self.set(f"fill-{n}", "v" * size, 0)

    @TIMED
    @rule(seconds=ADVANCES)
    def advance_time(self, seconds: float) -> None:
        """Time moves; then every key ever set is read: the ones that expired must be gone."""
        assert self.clock is not None
        self.clock.advance(seconds)
        for key in sorted(self.model.sessions[WS_SESSION].entries):
            self.get_value(key)

    @rule(key=KEYS)
    def get_value(self, key: str) -> None:
        answer = self.call(GET, key=key)
        live = self.model.live(WS_SESSION)
        if key in live:
            check(f"get {key!r}", {"status": OK, "value": live[key].value}, _without_id(answer))
        else:
            check(f"get {key!r}", {"status": NOT_FOUND}, _without_id(answer))

    @rule(data=st.data())
    def get_known(self, data: st.DataObject) -> None:
        known = sorted(self.model.live(WS_SESSION))
        if known:
            self.get_value(data.draw(st.sampled_from(known)))

    @rule(key=KEYS)
    def delete_value(self, key: str) -> None:
        answer = self.call(DELETE, key=key)
        check(
            f"delete {key!r}: status",
            OK if self.model.delete(WS_SESSION, key) else NOT_FOUND,
            answer.get("status"),
        )

    @rule()
    def initialize_again(self) -> None:
        key = {"websocket_api_key": self.target.api_key} if self.target.api_key else {}
        answer = self.call(INITIALIZE, client_id="conformance", **key)
        check("a second initialize: status", ALREADY_INITIALIZED, answer.get("status"))

    @rule()
    def resume(self) -> None:
        """A client-side close, then a connection with the Resume-Id: the session (and values) stay."""
        assert self.client is not None
        resume_id = self.client.resume_id
        self.client.close()
        self.client = CacheClient(self.target, self.log, resume_id=resume_id)

    @rule(frame=BAD_FRAMES)
    def bad_frame(self, frame: tuple[str | bytes, int]) -> None:
        """A bad frame closes with its code and ends the session: resuming it is refused."""
        assert self.client is not None
        payload, code = frame
        self.client.send(payload)
        check(f"the close code after {payload!r}", code, self.client.closed_with())
        refused = CacheClient(self.target, self.log, resume_id=self.client.resume_id)
        check("resuming a session the server closed: close code", RESUME_NOT_FOUND, refused.closed_with())
        self.client = None
        self.connect()

    @invariant()
    def model_within_limits(self) -> None:
        live = self.model.live(WS_SESSION)
        assert len(live) <= self.options.ws_max_entries
        assert sum(e.size for e in live.values()) <= self.options.ws_max_bytes

    def teardown(self) -> None:
        if self.client is not None:
            self.client.close()


def _without_id(answer: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in answer.items() if k != "id"}


# -- the Distri store ------------------------------------------------------------------------------

PART = "__user_part_"
DISTRI_KEYS = st.sampled_from(["a", "b", "c", "dir/key", "ключ"])
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)
PART_NAMES = st.sampled_from(["x", "y", "z"])


class DistriMachine(WireMachine):
    """The Distri routes under /v1: values, expiry, user parts, clearing and the session listing."""

    prefix = "/v1"

    @initialize()
    def start(self) -> None:
        self.http = HttpClient(self.target, self.log)
        self.model = values.Model(self.now(), self.options)
        self.sids = [f"{self.token}-{name}" for name in self.options.namespace_ids]

    def send(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        self.model.now = self.now()
        return self.http.request(method, self.prefix + path, body)

    def pick(self, data: st.DataObject) -> str:
        return data.draw(st.sampled_from(self.sids), label="session")

    def write(self, sid: str, key: str, value: Any, expiry: datetime | None) -> None:
        body: dict[str, Any] = {"key": key, "value": value}
        if expiry is not None:
            body["expiry"] = expiry.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        status, answer = self.send("POST", f"/sessions/{quote(sid, safe='')}/values", body)
        refusal = self.model.set(sid, key, value, expires_at=expiry)
        if refusal is None:
            check(f"set {key!r} in {sid}: status", (204, None), (status, answer))
        else:
            check(f"set {key!r} in {sid} ({refusal}): a 4xx status", True, 400 <= status < 500)

    def expiry(self, data: st.DataObject) -> datetime | None:
        choice = data.draw(st.sampled_from(["none", "later", "soon"] if self.clock else ["none", "later"]))
        if choice == "none":
            return None
        seconds = 86400 if choice == "later" else data.draw(st.sampled_from([1, 60, 3600]))
        return (self.now() + timedelta(seconds=seconds)).replace(microsecond=0)

    @rule(data=st.data(), key=DISTRI_KEYS, value=JSON_VALUES)
    def set_value(self, data: st.DataObject, key: str, value: Any) -> None:
        self.write(self.pick(data), key, value, self.expiry(data))

    @rule(data=st.data(), name=PART_NAMES, text=st.text(max_size=20))
    def set_part(self, data: st.DataObject, name: str, text: str) -> None:
        self.write(self.pick(data), PART + name, {"part_type": "text", "data": text}, self.expiry(data))

    @rule(data=st.data(), key=DISTRI_KEYS | PART_NAMES.map(lambda name: PART + name))
    def get_value(self, data: st.DataObject, key: str) -> None:
        sid = self.pick(data)
        got = self.send("GET", f"/sessions/{quote(sid, safe='')}/values/{quote(key)}")
        live = self.model.live(sid)
        check(f"get {key!r} in {sid}", (200, {"value": live[key].value if key in live else None}), got)

    @rule(data=st.data())
    def get_values(self, data: st.DataObject) -> None:
        sid = self.pick(data)
        got = self.send("GET", f"/sessions/{quote(sid, safe='')}/values")
        check(f"the values of {sid}", (200, {"values": self.model.values(sid)}), got)

    @rule(data=st.data(), key=DISTRI_KEYS | PART_NAMES.map(lambda name: PART + name))
    def delete_value(self, data: st.DataObject, key: str) -> None:
        sid = self.pick(data)
        got = self.send("DELETE", f"/sessions/{quote(sid, safe='')}/values/{quote(key)}")
        self.model.delete(sid, key)
        check(f"delete {key!r} in {sid}", (204, None), got)

    @rule(data=st.data())
    def clear_session(self, data: st.DataObject) -> None:
        sid = self.pick(data)
        got = self.send("DELETE", f"/sessions/{quote(sid, safe='')}")
        self.model.clear(sid)
        check(f"clear {sid}", (204, None), got)

    @rule(data=st.data())
    def get_parts(self, data: st.DataObject) -> None:
        sid = self.pick(data)
        got = self.send("GET", f"/sessions/{quote(sid, safe='')}/user-parts")
        check(f"the user parts of {sid}", (200, {"parts": self.parts(sid)}), got)

    @rule(data=st.data())
    def clear_parts(self, data: st.DataObject) -> None:
        sid = self.pick(data)
        got = self.send("DELETE", f"/sessions/{quote(sid, safe='')}/user-parts")
        check(f"clear the user parts of {sid}", (200, {"cleared": self.model.clear(sid, PART)}), got)

    @TIMED
    @rule(seconds=ADVANCES)
    def advance_time(self, seconds: float) -> None:
        """Time moves; then every session's values are read: the expired ones must be gone."""
        assert self.clock is not None
        self.clock.advance(seconds)
        for sid in self.sids:
            got = self.send("GET", f"/sessions/{quote(sid, safe='')}/values")
            check(f"the values of {sid}", (200, {"values": self.model.values(sid)}), got)

    @rule()
    def list_sessions(self) -> None:
        """The listing, newest first, narrowed to this example's sessions (the server may hold others)."""
        status, listed = self.send("GET", f"/sessions?limit={self.options.list_page_max}")
        check("the session listing: status", 200, status)
        mine = [s for s in listed if s.get("session_id") in self.sids] if isinstance(listed, list) else listed
        expected = [(sid, count, keys) for sid, count, keys, _ in self.model.listing()]
        actual = [(s["session_id"], s["key_count"], s["keys"]) for s in mine]
        check("the session listing (this run's sessions, in order)", expected, actual)

    @rule(data=st.data())
    def list_one_session(self, data: st.DataObject) -> None:
        sid = self.pick(data)
        status, listed = self.send("GET", f"/sessions?thread_id={quote(sid, safe='')}")
        expected = [
            {"session_id": s, "thread_id": s, "key_count": count, "keys": keys}
            for s, count, keys, _ in self.model.listing()
            if s == sid
        ]
        actual = (
            [{k: v for k, v in s.items() if k != "updated_at"} for s in listed] if status == 200 else listed
        )
        check(f"the listing of {sid}", (200, expected), (status, actual))

    def parts(self, sid: str) -> list[Any]:
        live = self.model.live(sid)
        parts = sorted((e.created, e.value) for k, e in live.items() if k.startswith(PART))
        return [value for _, value in parts if isinstance(value, dict)]

    def teardown(self) -> None:
        if hasattr(self, "http"):
            self.http.close()


# -- Makaio storage:session over the bus -------------------------------------------------------------

ADAPTER_IDS = st.sampled_from(["ad-1", "ad-2"])
BAD_REQUESTS = st.sampled_from(
    [
        ("nope", {}, "NO_HANDLER"),
        ("get", {"sessionId": 7}, "VALIDATION_ERROR"),
        ("set", {"sessionId": "s1"}, "VALIDATION_ERROR"),
        ("update", {"sessionId": "s1", "status": "gone"}, "VALIDATION_ERROR"),
        ("list", {"limit": 0}, "VALIDATION_ERROR"),
    ]
)
ACCOUNT_CHANGED = "session.clientAccount.changed"
BUS_SIDS = ["s1", "s2", "s3", "s4", "s5"]


class BusMachine(WireMachine):
    """The nine subjects of `storage:session`: lineage, counts, refusals and the account-change event.

    The namespace the bus secret serves must hold nothing but the kit's five session ids (deleted
    before each example): counts and listings cover the whole namespace.
    """

    @initialize()
    def start(self) -> None:
        self.bus = BusClient(self.target, self.log)
        self.listener = BusClient(self.target, self.log, {ACCOUNT_CHANGED: []})
        self.listener.request("getStatusCounts", {})  # the subscription is in place once this is answered
        for sid in BUS_SIDS:
            self.call("delete", {"sessionId": sid})
        self.model = records_model.Model()
        self.changes: list[tuple[str, str]] = []

    def call(self, subject: str, payload: Any) -> Any:
        response = self.bus.request(subject, payload)
        check(f"{subject}: an answer without error", None, response.get("error"))
        return response.get("result")

    def write(self, subject: str, payload: dict[str, Any], expected: Callable[[], dict[str, Any]]) -> None:
        before = {sid: record.get("clientAccountId") for sid, record in self.model.records.items()}
        try:
            want: dict[str, Any] | None = expected()
        except records_model.Refused:
            want = None
        response = self.bus.request(subject, payload)
        if want is None:
            check(f"{subject}: refused", "VALIDATION_ERROR", (response.get("error") or {}).get("code"))
            return
        check(f"{subject}: result", want, response.get("result"))
        sid = payload["sessionId"]
        after = self.model.records.get(sid, {}).get("clientAccountId")
        if want.get("clientAccountChanged") and after is not None and after != before.get(sid):
            self.changes.append((sid, after))

    @rule(data=st.data(), sid=records.SIDS, if_absent=st.sampled_from([None, False, True]))
    def set(self, data: st.DataObject, sid: str, if_absent: bool | None) -> None:
        record = data.draw(records.records(sid))
        payload = {
            "sessionId": sid,
            "session": record,
            **({} if if_absent is None else {"ifAbsent": if_absent}),
        }
        self.write("set", payload, lambda: self.model.set(record, bool(if_absent)))

    @rule(data=st.data(), sid=records.SIDS)
    def update(self, data: st.DataObject, sid: str) -> None:
        names = data.draw(st.sets(st.sampled_from(sorted(records.UPDATABLE)), max_size=3))
        changes = {name: data.draw(records.UPDATABLE[name]) for name in sorted(names)}
        if data.draw(st.booleans()):
            changes.update(records.identity(data.draw(records.ACCOUNT)))
        self.write("update", {"sessionId": sid, **changes}, lambda: self.model.update(sid, changes))

    @rule(sid=records.SIDS)
    def delete(self, sid: str) -> None:
        self.write("delete", {"sessionId": sid}, lambda: self.model.delete(sid))

    @rule(sid=records.SIDS)
    def get(self, sid: str) -> None:
        check(f"get {sid}", {"session": self.model.records.get(sid)}, self.call("get", {"sessionId": sid}))

    @rule(asid=ADAPTER_IDS)
    def get_by_adapter_session_id(self, asid: str) -> None:
        got = self.call("getByAdapterSessionId", {"adapterSessionId": asid})
        check(f"getByAdapterSessionId {asid}", {"session": self.model.by_adapter(asid)}, got)

    @rule(sid=records.SIDS)
    def get_children(self, sid: str) -> None:
        got = self.call("getChildren", {"sessionId": sid})
        check(f"getChildren {sid}", {"children": self.model.children(sid)}, got)

    @rule(
        status=records.STATUS_FILTER, limit=st.integers(1, 4), offset=st.integers(0, 4), preview=st.booleans()
    )
    def list(self, status: str | None, limit: int, offset: int, preview: bool) -> None:
        payload: dict[str, Any] = {"limit": limit, "offset": offset, "includePreview": preview}
        if status is not None:
            payload["status"] = status
        check("list", self.model.list(status, None, limit, offset, preview), self.call("list", payload))

    @rule(
        word=st.sampled_from(["alpha", "bravo", "charlie"]),
        status=records.STATUS_FILTER,
        limit=st.integers(1, 3),
    )
    def search(self, word: str, status: str | None, limit: int) -> None:
        payload: dict[str, Any] = {"query": word, "limit": limit, **({"status": status} if status else {})}
        check(f"search {word!r}", self.model.search(word, status, limit), self.call("search", payload))

    @rule(bad=BAD_REQUESTS)
    def refused(self, bad: tuple[str, dict[str, Any], str]) -> None:
        subject, payload, code = bad
        check(
            f"{subject} {payload}: error code",
            code,
            (self.bus.request(subject, payload).get("error") or {}).get("code"),
        )

    @invariant()
    def counts(self) -> None:
        if hasattr(self, "model"):
            check("getStatusCounts", self.model.counts(), self.call("getStatusCounts", {}))

    @invariant()
    def account_changes_announced(self) -> None:
        """Every account change reaches the subscribed peer, in the order the changes were made."""
        if not hasattr(self, "model") or not self.changes:
            return
        self.listener.request("getStatusCounts", {})  # events sent before this answer are now in
        got: list[tuple[Any, Any]] = []
        for _ in self.changes:
            try:
                event = self.listener.event(self.options.event_wait)
            except Disagreement:
                raise Disagreement(
                    f"{ACCOUNT_CHANGED} events (sessionId, clientAccountId)", self.changes, got
                ) from None
            check("the event's name", ACCOUNT_CHANGED, f"{event.get('namespace')}.{event.get('subject')}")
            payload = event.get("payload") or {}
            got.append((payload.get("sessionId"), payload.get("clientAccountId")))
        check(f"{ACCOUNT_CHANGED} events (sessionId, clientAccountId)", self.changes, got)
        self.changes = []

    def teardown(self) -> None:
        for client in (getattr(self, "bus", None), getattr(self, "listener", None)):
            if client is not None:
                client.close()


# -- BlobHub graph objects over HTTP -----------------------------------------------------------------

REFUSALS = {
    "ElementNotFound": (404, "not_found"),
    "ElementExists": (409, "element_exists"),
    "RevMismatch": (409, "rev_mismatch"),
    "InvalidGraphOperation": (400, "invalid_graph_operation"),
}
SHOWN = ("element_id", "type", "labels", "label", "from_id", "to_id", "props", "rev")
"""The element fields compared (timestamps and user ids are the server's own)."""


class BlobHubMachine(WireMachine):
    """Graph mutation batches through `POST /revisions/{revision}/data`: atomic, revisions, refusals."""

    @initialize()
    def start(self) -> None:
        self.http = HttpClient(self.target, self.log)
        self.model = graph_model.Model()
        self.session = f"{self.token}-graph"
        value = {"type": "graph", "graph": {"attributes": {"name": "g"}}}
        check("upload a graph: status", 200, self.command("upload_session_object", value=value)[0])

    def command(self, command: str, **fields: Any) -> tuple[int, Any]:
        body = {"engine": "workflow_blobhub", "command": command, "session_id": self.session, "alias": "g"}
        path = f"/revisions/{quote(self.options.revision, safe='')}/data"
        return self.http.request("POST", path, {**body, **fields})

    def mutate(self, ops: list[dict[str, Any]]) -> None:
        refusal: graph_model.Refused | None = None
        changes: list[dict[str, Any]] = []
        try:
            changes = self.model.apply(ops, self.now(), None)
        except graph_model.Refused as refused:
            refusal = refused
        status, answer = self.command("apply_session_graph_mutations", operations=ops)
        if refusal is not None:
            error = answer.get("error") if isinstance(answer, dict) else answer
            check(f"a batch refused with {refusal.name}", REFUSALS[refusal.name], (status, error))
        else:
            check("the batch's changes", (200, {"elements": changes}), (status, answer))

    @rule(data=st.data(), size=st.integers(1, 4))
    def apply_batch(self, data: st.DataObject, size: int) -> None:
        existing = [e["element_id"] for e in self.model.ordered()]
        vertices = [e["element_id"] for e in self.model.ordered() if e["type"] == "vertex"]
        ids = st.sampled_from(existing) | records.IDS if existing else records.IDS
        vertex_ids = st.sampled_from(vertices) | records.IDS if vertices else records.IDS
        ops = [data.draw(records.operation(ids, vertex_ids)) for _ in range(size)]
        self.mutate([{k: v for k, v in op.items() if v is not None or k != "if_rev"} for op in ops])

    @invariant()
    def elements_match(self) -> None:
        if not hasattr(self, "model"):
            return
        ids = [e["element_id"] for e in self.model.ordered()] + ["absent"]
        status, answer = self.command("get_session_graph_elements", element_ids=ids)
        expected = [{k: e[k] for k in SHOWN if k in e} for e in self.model.ordered()]
        got = answer.get("elements") if status == 200 and isinstance(answer, dict) else answer
        shown = [{k: e[k] for k in SHOWN if k in e} for e in got] if isinstance(got, list) else got
        check("the graph's elements", (200, expected), (status, shown))

    def teardown(self) -> None:
        if hasattr(self, "http"):
            self.http.close()


MACHINES: dict[str, type[WireMachine]] = {
    "websocket": CacheMachine,
    "distri": DistriMachine,
    "bus": BusMachine,
    "blobhub": BlobHubMachine,
}

__all__ = [
    "MACHINES",
    "BlobHubMachine",
    "BusMachine",
    "CacheMachine",
    "Disagreement",
    "DistriMachine",
    "WireMachine",
]
