"""Optional OpenTelemetry spans (the `otel` extra: `pip install 'session-engine[otel]'`).

Off unless `[server] tracing = true` (`serve`) or a tracer is handed to `create_app`: then nothing
here is imported and the write path captures nothing (`Engine.capture_commands` unset).

On, each request gets a span (`adapters.requests`: surface and operation in its name; tenant,
session and outcome as attributes). Each command a request submits gets a child span from its
submission to its answer, and under it the batch commit that wrote it, timed on the writer
thread: one transaction appends the events, applies the inline projections to the read models
and moves their checkpoints, so that span is the projection's too (`session_engine.projections`
names them). The engine's spans are made when the batch reports back (its times are measured,
not guessed), so the write path pays for tracing only a capture per command.
"""

from __future__ import annotations

import time
from typing import Any, cast

from opentelemetry import context, trace
from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer

from session_engine.adapters.requests import RequestRecord
from session_engine.engine import Engine
from session_engine.engine.commands import Command
from session_engine.engine.writes import BatchReport

INSTRUMENTATION = "session_engine"
PREFIX = "session_engine."
Captured = tuple[context.Context, int, str, str]
"""At a command's submission: its submitter's context, the time (ns), its namespace and session."""


def _failed(outcome: str) -> bool:
    """A server-side failure (a client's mistake is not the server's error, as OTel's HTTP rules)."""
    return outcome == "internal_error" or outcome.startswith("5") or outcome in ("-32603", "INTERNAL_ERROR")


class Tracing:
    def __init__(self, tracer: Tracer | None = None) -> None:
        self.tracer = tracer or trace.get_tracer(INSTRUMENTATION)
        self.projections: list[str] = []

    def install(self, engine: Engine) -> None:
        """Trace `engine`'s commands and batches (on the event loop; until the engine closes)."""
        self.projections = sorted(projection.name for projection in engine.projections)
        engine.capture_commands(self.capture)
        engine.observe_batches(self.observe)

    # -- requests -----------------------------------------------------------------------------
    def request_started(self, record: RequestRecord) -> None:
        span = self.tracer.start_span(f"{record.surface} {record.operation}", kind=SpanKind.SERVER)
        record.span = (span, context.attach(trace.set_span_in_context(span)))

    def request_ended(self, record: RequestRecord) -> None:
        span, token = record.span
        context.detach(token)
        attributes = {PREFIX + "surface": record.surface, PREFIX + "outcome": record.outcome}
        if record.tenant is not None:
            attributes[PREFIX + "tenant"] = record.tenant
        if record.session is not None:
            attributes[PREFIX + "session_id"] = record.session
        span.set_attributes(attributes)
        if _failed(record.outcome):
            span.set_status(Status(StatusCode.ERROR, record.outcome))
        span.end()

    # -- commands and batches ------------------------------------------------------------------
    def capture(self, command: Command) -> Captured:
        """At a command's submission: the submitter's context (its request's span), the time, and
        the session it writes (namespace, stream)."""
        return context.get_current(), time.time_ns(), command.namespace, command.stream

    def observe(self, report: BatchReport) -> None:
        """After a batch: per command, its span and its batch's commit span beneath it."""
        if report.contexts is None or report.positions is None:
            return
        answered = time.time_ns()
        committed = report.started_ns + int(report.seconds * 1e9)
        for (name, outcome), captured, positions in zip(
            report.commands, report.contexts, report.positions, strict=True
        ):
            parent, submitted, namespace, session = cast(Captured, captured)
            attributes: dict[str, Any] = {
                PREFIX + "command": name,
                PREFIX + "outcome": outcome,
                PREFIX + "namespace": namespace,
                PREFIX + "session_id": session,
            }
            if positions is not None:
                attributes[PREFIX + "first_position"], attributes[PREFIX + "last_position"] = positions
            command = self.tracer.start_span(
                f"command {name}", context=parent, start_time=submitted, attributes=attributes
            )
            if _failed(outcome):
                command.set_status(Status(StatusCode.ERROR, outcome))
            batch = self.tracer.start_span(
                "commit batch",
                context=trace.set_span_in_context(command),
                start_time=report.started_ns,
                attributes={
                    **attributes,
                    PREFIX + "batch_size": len(report.commands),
                    PREFIX + "events": report.events,
                    PREFIX + "projections": self.projections,
                },
            )
            batch.end(end_time=committed)
            command.end(end_time=answered)
