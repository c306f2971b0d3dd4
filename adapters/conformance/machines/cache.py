"""The websocket value cache (BlazeAuth packets 0, 12, 13, 14) driven against the values model."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import initialize, invariant, rule

from session_engine.adapters.conformance.machines.base import ADVANCES, TIMED, WireMachine
from session_engine.adapters.conformance.models import values
from session_engine.adapters.conformance.wire import CacheClient, check

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
