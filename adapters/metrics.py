"""`GET /metrics`: the server's counters in Prometheus' text format (`prometheus-client`).

One registry per app (a process may serve several apps: the tests do). Write-path figures come
from the engine's batch reports (`Engine.observe_batches`), the rest is read when scraped. The
table of metrics is in `specs/operations.md`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeHistogramMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response

from session_engine.engine import Engine
from session_engine.engine.writes import BatchReport

SURFACES = {"/ws": "websocket", "/rpc": "jsonrpc", "/bus": "bus"}
"""A websocket's surface by its path (any other path: `other`)."""
BATCH_SIZES = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)
COMMIT_SECONDS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
REQUEST_SECONDS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)
LAG_EVENTS = (0, 1, 10, 100, 1000, 10_000, 100_000)


class Metrics:
    """One app's metrics; `engine` gives the open engine (None before start-up and after shutdown)."""

    def __init__(self, engine: Callable[[], Engine | None]) -> None:
        self.registry = registry = CollectorRegistry()
        self.commands = Counter(
            "session_engine_commands",
            "Commands run, by command and outcome.",
            ["command", "outcome"],
            registry=registry,
        )
        self.events = Counter(
            "session_engine_events_appended", "Events appended to the log.", registry=registry
        )
        self.batch_size = Histogram(
            "session_engine_batch_size", "Commands per write batch.", buckets=BATCH_SIZES, registry=registry
        )
        self.commit_seconds = Histogram(
            "session_engine_commit_seconds",
            "Time from a batch's start to its commit, on the writer thread.",
            buckets=COMMIT_SECONDS,
            registry=registry,
        )
        head = Gauge(
            "session_engine_log_head", "The log's head position as this process knows it.", registry=registry
        )
        head.set_function(lambda: float(self._head(engine)))
        pending = Gauge(
            "session_engine_pending_writes",
            "Commands submitted, not yet answered: the write queue's depth, the committing batch included.",
            registry=registry,
        )
        pending.set_function(lambda: float(self._read(engine, lambda e: e.pending_writes)))
        followers = Gauge(
            "session_engine_subscriptions",
            "Subscriptions following the log, on every surface.",
            registry=registry,
        )
        followers.set_function(lambda: float(self._read(engine, lambda e: e.hub.followers)))
        self._engine = engine
        registry.register(SubscriptionLag(engine))
        self.projection_lag = Gauge(
            "session_engine_projection_lag_events",
            "Per projection: the log's head less the projection's checkpoint (read at the scrape).",
            ["projection"],
            registry=registry,
        )
        self.answers = Counter(
            "session_engine_answers",
            "Requests answered, by surface and the code the client got (outcome in specs/operations.md).",
            ["surface", "code"],
            registry=registry,
        )
        self.request_seconds = Histogram(
            "session_engine_request_seconds",
            "Time from a request's arrival to its answer, by surface.",
            ["surface"],
            buckets=REQUEST_SECONDS,
            registry=registry,
        )
        self._answered: dict[tuple[str, str], Counter] = {}
        self._timed: dict[str, Histogram] = {}
        self.connections = Gauge(
            "session_engine_open_connections",
            "Open connections by surface: http (before any upgrade), websocket (/ws), jsonrpc (/rpc), bus.",
            ["surface"],
            registry=registry,
        )
        self.closes = Counter(
            "session_engine_websocket_closes",
            "Websocket connections ended, by surface and the close code the server sent (1006: none).",
            ["surface", "code"],
            registry=registry,
        )

    def opened(self, surface: str) -> None:
        self.connections.labels(surface).inc()

    def closed(self, surface: str) -> None:
        self.connections.labels(surface).dec()

    def websocket_closed(self, surface: str, code: int) -> None:
        self.closed(surface)
        self.closes.labels(surface, str(code)).inc()

    @staticmethod
    def _head(engine: Callable[[], Engine | None]) -> int:
        open_engine = engine()
        return 0 if open_engine is None else open_engine.hub.head

    @staticmethod
    def _read(engine: Callable[[], Engine | None], figure: Callable[[Engine], int]) -> int:
        open_engine = engine()
        return 0 if open_engine is None else figure(open_engine)

    def observe(self, report: BatchReport) -> None:
        """An `Engine.observe_batches` observer (on the event loop, once per batch)."""
        for command, outcome in report.commands:
            self.commands.labels(command, outcome).inc()
        self.events.inc(report.events)
        self.batch_size.observe(len(report.commands))
        self.commit_seconds.observe(report.seconds)

    def answered(self, surface: str, code: str, seconds: float) -> None:
        """A request was answered (`adapters.requests`). Each labelled child is looked up once:
        `labels()` on every request cost more than the rest of the record."""
        counter = self._answered.get((surface, code))
        if counter is None:
            counter = self._answered[(surface, code)] = self.answers.labels(surface, code)
        timer = self._timed.get(surface)
        if timer is None:
            timer = self._timed[surface] = self.request_seconds.labels(surface)
        counter.inc()
        timer.observe(seconds)

    async def _projection_lag(self) -> None:
        """Read the projections' checkpoints (a database read, so here and not in a collector)."""
        engine = self._engine()
        if engine is None:
            return
        for name, lag in (await engine.projection_lag()).items():
            self.projection_lag.labels(name).set(lag)

    async def endpoint(self, request: Request) -> Response:
        await self._projection_lag()
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


class SubscriptionLag(Collector):
    """Per subscription following the log, as it is at the scrape: how many events were committed
    that it has not been handed yet (a gauge histogram: a snapshot, not a history), and the largest."""

    def __init__(self, engine: Callable[[], Engine | None]) -> None:
        self._engine = engine

    def collect(self) -> Iterator[Metric]:
        open_engine = self._engine()
        lags = [] if open_engine is None else open_engine.hub.lags()
        buckets = [(str(bound), float(sum(1 for lag in lags if lag <= bound))) for bound in LAG_EVENTS]
        buckets.append(("+Inf", float(len(lags))))
        yield GaugeHistogramMetricFamily(
            "session_engine_subscription_lag_events",
            "Subscriptions following the log by how many committed events they have not been handed.",
            buckets=buckets,
            gsum_value=float(sum(lags)),
        )
        yield GaugeMetricFamily(
            "session_engine_subscription_lag_max_events",
            "The largest lag of any subscription following the log, in events.",
            value=float(max(lags, default=0)),
        )
