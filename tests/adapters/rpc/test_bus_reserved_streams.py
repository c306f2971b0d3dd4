"""The records bus refuses a write or delete of one of the engine's own streams (`$retention`)
with its validation error, and records nothing (specs/lifecycle.md, "System streams")."""

from __future__ import annotations

from tests.adapters.rpc.client import BusClient
from tests.records.helpers import record


def test_the_bus_refuses_set_and_delete_of_a_system_stream(bus_url: str) -> None:
    with BusClient(bus_url) as client:
        counts = client.call("getStatusCounts", {})
        for subject, payload in (
            ("set", {"sessionId": "$retention", "session": record("$retention")}),
            ("delete", {"sessionId": "$retention"}),
        ):
            answer = client.request(subject, payload)
            assert answer["error"]["code"] == "VALIDATION_ERROR", answer
            assert "reserved" in str(answer["error"]), answer
        assert client.call("getStatusCounts", {}) == counts
        assert client.call("get", {"sessionId": "$retention"}) == {"session": None}
