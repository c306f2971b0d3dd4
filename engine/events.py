"""Domain events: pydantic payload models with a type name and a schema version, and upcasters.

Stored events are never rewritten. When a payload model changes shape, its `schema_version` is
bumped and an upcaster turning the previous version's data into the new one is registered; reads
apply the chain of upcasters, so every reader sees the current shape.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict

from session_engine.engine.errors import ValidationFailed

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]
E = TypeVar("E", bound="DomainEvent")


class DomainEvent(BaseModel):
    """Base of every event payload. Subclasses set `event_type` and, when they change, `schema_version`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_type: ClassVar[str]
    schema_version: ClassVar[int] = 1


@dataclass
class _Entry:
    model: type[DomainEvent]
    upcasters: dict[int, Upcaster] = field(default_factory=dict)


class EventRegistry:
    """Maps a stored event type to its current payload model and its upcasters."""

    def __init__(self, models: Iterable[type[DomainEvent]] = ()) -> None:
        self._entries: dict[str, _Entry] = {}
        self.versions: dict[str, int] = {}
        """event type -> current schema version (read on every event of a replay)."""
        for model in models:
            self.register(model)

    def register(self, model: type[E]) -> type[E]:
        """Register (or replace with a newer version) the model of an event type. Usable as a decorator."""
        previous = self._entries.get(model.event_type)
        upcasters = previous.upcasters if previous else {}
        self._entries[model.event_type] = _Entry(model, upcasters)
        self.versions[model.event_type] = model.schema_version
        return model

    def upcaster(self, event_type: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
        """Register the function turning `from_version` data into `from_version + 1` data."""

        def decorate(function: Upcaster) -> Upcaster:
            self._entries[event_type].upcasters[from_version] = function
            return function

        return decorate

    def extend(self, other: EventRegistry) -> None:
        for name, entry in other._entries.items():
            self._entries[name] = _Entry(entry.model, dict(entry.upcasters))
            self.versions[name] = entry.model.schema_version

    def upcast(
        self, event_type: str, schema_version: int, data: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        """Bring stored data up to the current schema version of its type."""
        entry = self._entries.get(event_type)
        if entry is None:
            return schema_version, data
        version = schema_version
        while version < entry.model.schema_version:
            step = entry.upcasters.get(version)
            if step is None:
                raise ValidationFailed(
                    f"no upcaster for event type {event_type!r} from schema version {version}"
                )
            data = step(dict(data))
            version += 1
        return version, data

    def payload(self, event_type: str, data: dict[str, Any]) -> DomainEvent:
        """The typed payload of current-version data."""
        entry = self._entries.get(event_type)
        if entry is None:
            raise ValidationFailed(f"unknown event type {event_type!r}")
        return entry.model.model_validate(data)
