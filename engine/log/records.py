"""Plain records that travel in and out of the event log."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from session_engine.engine.errors import ValidationFailed
from session_engine.engine.quick_init import quick_builder, quick_init

ANY: None = None
"""Expected version: append whatever the stream's current version is."""
NO_STREAM = 0
"""Expected version: the stream must not exist yet."""

ExpectedVersion = int | None


@quick_init
@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event about to be appended."""

    type: str
    data: dict[str, Any]
    schema_version: int = 1
    metadata: dict[str, Any] = field(default_factory=dict)


EVENT_FIELDS = (
    "position",
    "namespace",
    "stream",
    "version",
    "type",
    "schema_version",
    "data",
    "metadata",
    "recorded_at",
)
"""A recorded event's fields, in the order its JSON form lists them."""


@quick_init
@dataclass(frozen=True, slots=True)
class RecordedEvent:
    """An event as stored in the log; `data` is already upcast to the current schema version."""

    position: int
    namespace: str
    stream: str
    version: int
    type: str
    schema_version: int
    data: dict[str, Any]
    metadata: dict[str, Any]
    recorded_at: datetime

    def to_json(self, fields: Iterable[str] = EVENT_FIELDS) -> dict[str, Any]:
        """The event as a JSON object: every field, or those a wire shows (`fields`, in that order).

        The one place an event becomes JSON: the command line, export, REST history and the
        websocket's subscriptions all go through here (`recorded_at` as ISO 8601 with its offset).
        """
        return {
            name: self.recorded_at.isoformat() if name == "recorded_at" else getattr(self, name)
            for name in fields
        }


@quick_init
@dataclass(frozen=True, slots=True)
class AppendResult:
    """Where an append landed. `repeated` is true when an idempotency key matched an earlier append."""

    namespace: str
    stream: str
    first_version: int
    last_version: int
    first_position: int
    last_position: int
    repeated: bool = False

    @property
    def count(self) -> int:
        return self.last_version - self.first_version + 1 if self.last_position else 0


@quick_init
@dataclass(frozen=True, slots=True)
class Metadata:
    """Who and what caused a write. Stored with every event of the write (an adapter builds one
    per request: `quick_init`)."""

    actor: str | None = None
    adapter: str | None = None
    correlation_id: str | None = None
    causation_id: str | None = None

    @classmethod
    def of(cls, value: Metadata | Mapping[str, Any] | None) -> Metadata:
        """A write's metadata from what a caller gave: a `Metadata`, None, or a mapping of its
        fields (`{"actor": "x"}`). Anything else, an unknown key or a value that is not a string,
        is refused here (`ValidationFailed`), before the write is queued. Free-form keys belong in
        an event's own `NewEvent.metadata`."""
        if value is None:
            return NO_METADATA
        if isinstance(value, Metadata):
            return value
        if not isinstance(value, Mapping):
            raise ValidationFailed(
                f"metadata must be a Metadata or a mapping of {', '.join(_METADATA_KEYS)}, not"
                f" {type(value).__name__}"
            )
        unknown = [str(key) for key in value if key not in _METADATA_KEYS]
        if unknown:
            raise ValidationFailed(
                f"unknown metadata keys: {', '.join(sorted(unknown))} (known: {', '.join(_METADATA_KEYS)};"
                " free-form keys go in an event's own NewEvent.metadata)"
            )
        for key, item in value.items():
            if item is not None and not isinstance(item, str):
                raise ValidationFailed(f"metadata {key} must be a string, not {type(item).__name__}")
        return cls(**value) if value else NO_METADATA

    def to_json(self) -> dict[str, Any]:
        # Spelled out: it runs for every command, and most carry no metadata at all.
        found: dict[str, Any] = {}
        if self.actor is not None:
            found["actor"] = self.actor
        if self.adapter is not None:
            found["adapter"] = self.adapter
        if self.correlation_id is not None:
            found["correlation_id"] = self.correlation_id
        if self.causation_id is not None:
            found["causation_id"] = self.causation_id
        return found


_METADATA_KEYS = ("actor", "adapter", "correlation_id", "causation_id")

NO_METADATA = Metadata()
"""The metadata of a write that names no actor, adapter or ids (shared: it is immutable)."""


build_recorded = quick_builder(RecordedEvent)
"""`RecordedEvent(...)` with every field positional, for the reads that build one per row."""
