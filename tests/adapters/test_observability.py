"""What an operator watches: answers by code per surface, lag, one log line per request with no
secret in it, and traces from the request to the commit. Real servers, real traffic."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from websockets.sync.client import connect

from session_engine.adapters.requests import OK
from tests.adapters.rpc.client import BusClient
from tests.adapters.rpc.conftest import BUS_SECRET, make_config
from tests.adapters.server import running_server
from tests.adapters.test_operations import TIMEOUT, scraped, served
from tests.adapters.websocket.conftest import ACME_KEY

HEADERS = {"X-Api-Key": ACME_KEY}


def rpc(method: str, **params: object) -> dict[str, object]:
    return {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}


def message(text: str) -> dict[str, object]:
    return {"type": "message", "message": {"role": "user", "content": [{"type": "text", "text": text}]}}


def answers(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float]) -> dict[tuple[str, str], float]:
    """`session_engine_answers_total` by (surface, code)."""
    return {
        (dict(labels)["surface"], dict(labels)["code"]): value
        for (name, labels), value in samples.items()
        if name == "session_engine_answers_total"
    }


def ws_packet(peer: object, packet: dict[str, object]) -> dict[str, object]:
    peer.send(orjson.dumps(packet).decode())  # type: ignore[attr-defined]
    answer: dict[str, object] = orjson.loads(peer.recv(timeout=TIMEOUT))  # type: ignore[attr-defined]
    return answer


def test_answers_are_counted_by_surface_and_the_code_the_client_got(tmp_path: Path) -> None:
    with running_server(f"sqlite:///{tmp_path / 'answers.db'}", make_config()) as base:
        with httpx.Client(base_url=base, headers=HEADERS, timeout=TIMEOUT) as http:
            upload = rpc("upload_session_object", session_id="s", alias="a", value=message("hi"))
            assert "result" in http.post("/rpc", json=upload).json()
            assert http.post("/rpc", json=rpc("no/such")).json()["error"]["code"] == -32601
            assert http.post("/rpc", content=b"{").json()["error"]["code"] == -32700
            assert http.post("/rpc", json=rpc("no/such"), headers={"X-Api-Key": "nope"}).status_code == 401
            assert http.get("/api/sessions/s/objects/missing").status_code == 404
            assert http.get("/healthz").status_code == 200
        with connect(base.replace("http", "ws") + "/ws", open_timeout=TIMEOUT) as peer:
            init = {"type": 0, "id": 1, "client_id": "desktop-main", "websocket_api_key": ACME_KEY}
            assert ws_packet(peer, init)["status"] == 1
            assert ws_packet(peer, {"type": 13, "id": 2, "key": "missing"})["status"] == 700
            assert ws_packet(peer, {"type": 12, "id": 3, "key": "k", "value": "v", "ttl": 0})["status"] == 1
        with BusClient(base.replace("http", "ws") + "/bus", secret=BUS_SECRET) as bus:
            assert "error" not in bus.request("list", {"limit": 5})
            assert bus.request("no-such-subject", {})["error"]["code"] == "NO_HANDLER"
        seen = answers(scraped(base))
    assert seen[("jsonrpc", OK)] == 1
    assert seen[("jsonrpc", "-32601")] == 1
    assert seen[("jsonrpc", "-32700")] == 1
    assert seen[("jsonrpc", "401")] == 1
    assert seen[("rest", "404")] == 1
    assert seen[("probe", "200")] == 1
    assert seen[("websocket", OK)] == 2 and seen[("websocket", "700")] == 1
    assert seen[("bus", OK)] == 1 and seen[("bus", "NO_HANDLER")] == 1


def test_projection_and_subscription_lag_are_read_at_the_scrape(tmp_path: Path) -> None:
    """A caught-up server: every projection at the head, one subscription handed all there is
    (how a lag grows: tests/test_subscriptions.py)."""
    with (
        running_server(f"sqlite:///{tmp_path / 'lag.db'}", make_config()) as base,
        connect(base.replace("http", "ws") + "/rpc", additional_headers=HEADERS) as peer,
    ):
        add = {"jsonrpc": "2.0", "id": 1, "method": "subscription/add", "params": {"scope_id": "acme"}}
        peer.send(orjson.dumps(add).decode())
        assert orjson.loads(peer.recv(timeout=TIMEOUT))["result"] == {}
        upload = rpc("upload_session_object", session_id="lag", alias="a", value=message("hi"))
        assert "result" in httpx.post(base + "/rpc", json=upload, headers=HEADERS).json()
        assert orjson.loads(peer.recv(timeout=TIMEOUT))["method"] == "subscription/event"
        samples = scraped(base)
    lags = {
        dict(labels)["projection"]: value
        for (name, labels), value in samples.items()
        if name == "session_engine_projection_lag_events"
    }
    assert lags and set(lags.values()) == {0}, lags
    assert samples[("session_engine_subscription_lag_events_gcount", ())] == 1
    assert samples[("session_engine_subscription_lag_max_events", ())] == 0
    assert samples[("session_engine_log_head", ())] >= 1


# -- logs ----------------------------------------------------------------------------------------
SECRET_KEY = "Sekr3tKey-0123456789A"
SECRET_BUS = "bus-secret-never-logged-0123"

CONFIG = f"""
[[tenants]]
name = "acme"
namespace = "acme"
app_name = "Acme"
app_version = "1"
api_keys = ["{SECRET_KEY}"]

[bus]
secret = "{SECRET_BUS}"
tenant = "acme"
"""


def test_one_json_line_per_request_and_no_secret_in_the_log(tmp_path: Path) -> None:
    with served(tmp_path, CONFIG) as server:
        with httpx.Client(base_url=server.base, timeout=TIMEOUT) as http:
            upload = rpc("upload_session_object", session_id="logged", alias="a", value=message("hi"))
            assert (
                "result"
                in http.post("/rpc", json=upload, headers={"Authorization": f"Bearer {SECRET_KEY}"}).json()
            )
            assert (
                http.post(f"/rpc?api_key={SECRET_KEY}", json=rpc("no/such")).json()["error"]["code"] == -32601
            )
            assert (
                http.get("/api/sessions/logged/objects/nope", headers={"X-Api-Key": SECRET_KEY}).status_code
                == 404
            )
            assert (
                http.get(
                    "/v1/sessions/x/values/k", headers={"Authorization": "Bearer wrong-key-0123456789"}
                ).status_code
                == 401
            )
        ws = f"ws://127.0.0.1:{server.port}"
        with connect(ws + "/ws", open_timeout=TIMEOUT) as peer:
            init = {"type": 0, "id": 1, "client_id": "desktop-main", "websocket_api_key": SECRET_KEY}
            assert ws_packet(peer, init)["status"] == 1
        with BusClient(ws + "/bus", secret=SECRET_BUS) as bus:
            assert "error" not in bus.request("list", {"limit": 5})
        lines = server.stop()
    text = "\n".join(lines)
    for secret in (SECRET_KEY, SECRET_BUS, "wrong-key-0123456789", "Bearer"):
        assert secret not in text, [line for line in lines if secret in line]
    requests = [orjson.loads(line) for line in lines if '"message":"request"' in line]
    by_surface = {(entry["surface"], entry["outcome"]) for entry in requests}
    assert ("jsonrpc", OK) in by_surface and ("jsonrpc", "-32601") in by_surface
    assert ("rest", "404") in by_surface and ("rest", "401") in by_surface
    assert ("websocket", OK) in by_surface and ("bus", OK) in by_surface
    upload_line = next(e for e in requests if e["surface"] == "jsonrpc" and e["outcome"] == OK)
    assert upload_line["tenant"] == "acme" and upload_line["session"] == "logged"
    assert upload_line["operation"] == "upload_session_object" and upload_line["duration_ms"] > 0
    rest_line = next(e for e in requests if e["outcome"] == "404")
    assert rest_line["session"] == "logged" and rest_line["tenant"] == "acme"
    # one line per HTTP request: uvicorn's own access line is not written beside ours
    assert not any('"logger":"uvicorn.access"' in line for line in lines)
    serving = next(orjson.loads(line) for line in lines if '"message":"serving"' in line)
    assert set(serving["urls"]) >= {
        "websocket",
        "bus",
        "jsonrpc",
        "rest",
        "openapi",
        "docs",
        "asyncapi",
        "console",
        "healthz",
        "readyz",
        "metrics",
    }


# -- traces --------------------------------------------------------------------------------------
@pytest.fixture
def spans() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider, exporter
    provider.shutdown()


def test_a_write_is_traced_from_the_request_through_its_command_to_the_commit(
    tmp_path: Path, spans: tuple[TracerProvider, InMemorySpanExporter]
) -> None:
    provider, exporter = spans
    tracer = provider.get_tracer("test")
    with running_server(f"sqlite:///{tmp_path / 'traced.db'}", make_config(), tracer=tracer) as base:
        upload = rpc("upload_session_object", session_id="traced", alias="a", value=message("hi"))
        assert "result" in httpx.post(base + "/rpc", json=upload, headers=HEADERS).json()
        head = httpx.get(base + "/readyz").json()["head"]
        for _ in range(100):  # the engine's spans end as the batch reports back: at once
            if any(span.name == "commit batch" for span in exporter.get_finished_spans()):
                break
            time.sleep(0.01)
    finished: list[ReadableSpan] = list(exporter.get_finished_spans())
    request = next(s for s in finished if s.name.startswith("jsonrpc "))
    attributes = dict(request.attributes or {})
    assert attributes["session_engine.session_id"] == "traced"
    assert attributes["session_engine.tenant"] == "acme" and attributes["session_engine.outcome"] == OK
    commands = [
        s
        for s in finished
        if s.name.startswith("command ")
        and s.parent is not None
        and s.parent.span_id == request.context.span_id
    ]
    assert commands, [s.name for s in finished]
    command = commands[0]
    batch = next(
        s
        for s in finished
        if s.name == "commit batch" and s.parent is not None and s.parent.span_id == command.context.span_id
    )
    batch_attributes = dict(batch.attributes or {})
    assert batch_attributes["session_engine.last_position"] == head
    assert batch_attributes["session_engine.session_id"].endswith("traced")
    assert batch_attributes["session_engine.projections"]
    assert request.start_time <= command.start_time <= batch.start_time <= batch.end_time <= command.end_time
    assert command.end_time <= request.end_time
    assert len({s.context.trace_id for s in (request, command, batch)}) == 1
