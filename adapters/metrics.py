"""`GET /metrics`: the server's counters in Prometheus' text format (`prometheus-client`).

One registry per app (a process may serve several apps: the tests do). Write-path figures come
from the engine's batch reports (`Engine.observe_batches`), the rest is read when scraped. The
table of metrics is in `specs/operations.md`.

Under `serve --workers N` the supervisor gives every worker one `PROMETHEUS_MULTIPROC_DIR`:
prometheus-client then keeps each process's values in files there, and a scrape, whichever worker
answers it, sums every worker's (`MultiProcessCollector`). A figure read from the process itself
(the log's head, the write queue, subscriptions and their lag) cannot be read from another process
at the scrape, so each worker writes it there every `SAMPLE_SECONDS` (`sample_forever`); each
gauge's `multiprocess_mode` says how the workers' values combine (specs/operations.md, "Metrics").
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import anyio
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeHistogramMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
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
SAMPLE_SECONDS = 1.0
"""How often a worker writes its own figures for the others' scrapes (multiprocess mode only)."""
MULTIPROCESS_DIRECTORY = "PROMETHEUS_MULTIPROC_DIR"
LAG_SAMPLED = "session_engine_subscription_lag_sampled"
"""The subscription lag's buckets as workers write them; a scrape shows them as the gauge histogram."""


def multiprocess() -> bool:
    """Whether this process shares its metrics with its siblings (prometheus-client reads the same
    variable when it is imported: set it before, as the supervisor does for its workers)."""
    return bool(os.environ.get(MULTIPROCESS_DIRECTORY))


class Metrics:
    """One app's metrics; `engine` gives the open engine (None before start-up and after shutdown)."""

    def __init__(self, engine: Callable[[], Engine | None]) -> None:
        self.multiprocess = multiprocess()
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
        # Several workers: the highest head any of them knows (heads only grow).
        self.head = Gauge(
            "session_engine_log_head",
            "The log's head position as this process knows it.",
            registry=registry,
            multiprocess_mode="max",
        )
        # Several workers: the live workers' queues and subscriptions added up.
        self.pending = Gauge(
            "session_engine_pending_writes",
            "Commands submitted, not yet answered: the write queue's depth, the committing batch included.",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.followers = Gauge(
            "session_engine_subscriptions",
            "Subscriptions following the log, on every surface.",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self._engine = engine
        if self.multiprocess:
            self.lag_sampled = Gauge(
                LAG_SAMPLED,
                "Subscriptions with at most `le` events not handed yet (`le` sum: their total lag).",
                ["le"],
                registry=registry,
                multiprocess_mode="livesum",
            )
            self.lag_max = Gauge(
                "session_engine_subscription_lag_max_events",
                "The largest lag of any subscription following the log, in events.",
                registry=registry,
                multiprocess_mode="livemax",
            )
        else:
            self.head.set_function(lambda: float(self._head(engine)))
            self.pending.set_function(lambda: float(self._read(engine, lambda e: e.pending_writes)))
            self.followers.set_function(lambda: float(self._read(engine, lambda e: e.hub.followers)))
            registry.register(SubscriptionLag(engine))
        # Read from the database by the scraping worker just before it answers: its value is the newest.
        self.projection_lag = Gauge(
            "session_engine_projection_lag_events",
            "Per projection: the log's head less the projection's checkpoint (read at the scrape).",
            ["projection"],
            registry=registry,
            multiprocess_mode="mostrecent",
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
        self._commanded: dict[tuple[str, str], Counter] = {}
        self.connections = Gauge(
            "session_engine_open_connections",
            "Open connections by surface: http (before any upgrade), websocket (/ws), jsonrpc (/rpc), bus.",
            ["surface"],
            registry=registry,
            multiprocess_mode="livesum",
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
        """An `Engine.observe_batches` observer (on the event loop, once per batch, before the
        batch's callers are answered: each labelled child is looked up once, as in `answered`)."""
        commanded = self._commanded
        for labels in report.commands:
            counter = commanded.get(labels)
            if counter is None:
                counter = commanded[labels] = self.commands.labels(*labels)
            counter.inc()
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

    def sample(self) -> None:
        """Write this process's own figures where the other workers' scrapes read them."""
        engine = self._engine()
        self.head.set(self._head(self._engine))
        self.pending.set(self._read(self._engine, lambda e: e.pending_writes))
        self.followers.set(self._read(self._engine, lambda e: e.hub.followers))
        lags = [] if engine is None else engine.hub.lags()
        for bound, count in lag_buckets(lags):
            self.lag_sampled.labels(bound).set(count)
        self.lag_sampled.labels("sum").set(float(sum(lags)))
        self.lag_max.set(float(max(lags, default=0)))

    async def sample_forever(self) -> None:
        """Multiprocess mode: keep this worker's figures fresh for whichever worker is scraped."""
        while True:
            self.sample()
            await anyio.sleep(SAMPLE_SECONDS)

    async def endpoint(self, request: Request) -> Response:
        await self._projection_lag()
        if not self.multiprocess:
            return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)
        self.sample()  # this worker's figures as of now; the others' as of their last sample
        registry = CollectorRegistry()
        registry.register(EveryWorker())
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


def lag_buckets(lags: list[int]) -> list[tuple[str, float]]:
    """The gauge histogram's cumulative buckets of subscription lags (`+Inf` last)."""
    buckets = [(str(bound), float(sum(1 for lag in lags if lag <= bound))) for bound in LAG_EVENTS]
    buckets.append(("+Inf", float(len(lags))))
    return buckets


class EveryWorker(Collector):
    """Every worker's metrics summed (`MultiProcessCollector`), the sampled subscription lag shown
    as the gauge histogram a single process answers."""

    def collect(self) -> Iterator[Metric]:
        for metric in MultiProcessCollector(None).collect():  # type: ignore[no-untyped-call]
            if metric.name != LAG_SAMPLED:
                yield metric
                continue
            values = {s.labels["le"]: s.value for s in metric.samples if s.name == LAG_SAMPLED}
            total = values.pop("sum", 0.0)
            yield GaugeHistogramMetricFamily(
                "session_engine_subscription_lag_events",
                "Subscriptions following the log by how many committed events they have not been handed.",
                buckets=[(str(b), values.get(str(b), 0.0)) for b in (*LAG_EVENTS, "+Inf")],
                gsum_value=total,
            )


class SubscriptionLag(Collector):
    """Per subscription following the log, as it is at the scrape: how many events were committed
    that it has not been handed yet (a gauge histogram: a snapshot, not a history), and the largest."""

    def __init__(self, engine: Callable[[], Engine | None]) -> None:
        self._engine = engine

    def collect(self) -> Iterator[Metric]:
        open_engine = self._engine()
        lags = [] if open_engine is None else open_engine.hub.lags()
        yield GaugeHistogramMetricFamily(
            "session_engine_subscription_lag_events",
            "Subscriptions following the log by how many committed events they have not been handed.",
            buckets=lag_buckets(lags),
            gsum_value=float(sum(lags)),
        )
        yield GaugeMetricFamily(
            "session_engine_subscription_lag_max_events",
            "The largest lag of any subscription following the log, in events.",
            value=float(max(lags, default=0)),
        )
