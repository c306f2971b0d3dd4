"""Random packet sequences against a real server, every answer compared with an in-memory model.

The model is the reference's value cache in a few lines: 64 entries, 16384 bytes of values, 701
before 702, an overwrite that does not fit leaves the old value. TTLs are long or default, so
nothing expires during a run (expiry has its own test). Bad frames close the connection with the
reference's code and end the session; a client-side close followed by a resume keeps it.
"""

from __future__ import annotations

from typing import Any, ClassVar

import orjson
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from tests.adapters.websocket.client import Client
from tests.adapters.websocket.conftest import ACME_KEY

MAX_ENTRIES, MAX_BYTES = 64, 16384

KEYS = st.one_of(
    st.sampled_from(["a", "b", "token", "ключ", ""]),
    st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=12),
)
VALUES = st.one_of(
    st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=40),
    st.builds(lambda char, count: char * count, st.sampled_from(["x", "é", "🔑"]), st.integers(0, 9000)),
)
TTLS = st.one_of(st.integers(-(2**40), 0), st.integers(3600, 10**6))
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


class Model:
    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    def set(self, key: str, value: str) -> int:
        size = len(value.encode())
        total = sum(len(v.encode()) for k, v in self.values.items() if k != key) + size
        if total > MAX_BYTES:
            return 701
        if key not in self.values and len(self.values) >= MAX_ENTRIES:
            return 702
        self.values[key] = value
        return 1


class CacheMachine(RuleBasedStateMachine):
    url: ClassVar[str]

    def __init__(self) -> None:
        super().__init__()
        self.model = Model()
        self.client: Client | None = None
        self.next_id = 1

    def packet_id(self) -> int:
        self.next_id += 1
        return self.next_id

    def connect(self) -> None:
        self.client = Client(self.url)
        answer = self.client.initialize(ACME_KEY, "model-client", packet_id=self.packet_id())
        assert answer["status"] == 1
        self.model = Model()

    @initialize()
    def start(self) -> None:
        self.connect()

    def call(self, kind: int, **fields: Any) -> dict[str, Any]:
        assert self.client is not None
        packet_id = self.packet_id()
        answer = self.client.call(kind, packet_id, **fields)
        assert answer["id"] == packet_id
        return answer

    @rule(key=KEYS, value=VALUES, ttl=TTLS)
    def set_value(self, key: str, value: str, ttl: int) -> None:
        assert self.call(12, key=key, value=value, ttl=ttl)["status"] == self.model.set(key, value)

    @rule(count=st.sampled_from([2, 10, 66]), size=st.integers(0, 300))
    def fill(self, count: int, size: int) -> None:
        for n in range(count):
            key, value = f"fill-{n}", "v" * size
            assert self.call(12, key=key, value=value, ttl=0)["status"] == self.model.set(key, value)

    @rule(key=KEYS)
    def get_value(self, key: str) -> None:
        answer = self.call(13, key=key)
        if key in self.model.values:
            assert answer == {"id": answer["id"], "status": 1, "value": self.model.values[key]}
        else:
            assert answer == {"id": answer["id"], "status": 700}

    @rule(data=st.data())
    def get_known(self, data: st.DataObject) -> None:
        if self.model.values:
            self.get_value(data.draw(st.sampled_from(sorted(self.model.values))))

    @rule(key=KEYS)
    def delete_value(self, key: str) -> None:
        expected = 1 if self.model.values.pop(key, None) is not None else 700
        assert self.call(14, key=key)["status"] == expected

    @rule()
    def initialize_again(self) -> None:
        assert self.call(0, websocket_api_key=ACME_KEY, client_id="model-client")["status"] == 4

    @rule()
    def resume(self) -> None:
        assert self.client is not None
        resume_id = self.client.resume_id
        self.client.ws.close()
        self.client = Client(self.url, resume_id=resume_id)

    @rule(frame=BAD_FRAMES)
    def bad_frame(self, frame: tuple[str | bytes, int]) -> None:
        assert self.client is not None
        payload, code = frame
        self.client.send(payload)
        assert self.client.closed_with()[0] == code
        resume_id = self.client.resume_id
        with Client(self.url, resume_id=resume_id) as refused:  # a server close ends the session
            assert refused.closed_with()[0] == 4401
        self.connect()

    @invariant()
    def model_within_limits(self) -> None:
        assert len(self.model.values) <= MAX_ENTRIES
        assert sum(len(v.encode()) for v in self.model.values.values()) <= MAX_BYTES

    def teardown(self) -> None:
        if self.client is not None:
            self.client.ws.close()


def test_random_packet_sequences_match_the_model(ws_url: str, request: pytest.FixtureRequest) -> None:
    """Fewer examples on PostgreSQL (a commit per set is slower there); the profile scales both."""
    CacheMachine.url = ws_url
    examples = settings.default.max_examples
    if request.node.callspec.params["ws_url"] == "postgres":
        examples = max(3, examples // 5)
    run_state_machine_as_test(CacheMachine, settings=settings(max_examples=examples, stateful_step_count=20))


@pytest.mark.parametrize("value", ["", "x" * MAX_BYTES])
def test_model_edges(ws_url: str, value: str) -> None:
    with Client(ws_url) as client:
        assert client.initialize(ACME_KEY)["status"] == 1
        client.send(orjson.dumps({"type": 12, "id": 2, "key": "k", "value": value, "ttl": 0}).decode())
        assert client.receive() == {"id": 2, "status": 1}
