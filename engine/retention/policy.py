"""What a namespace keeps (`RetentionPolicy`) and what one run removed (`RetentionReport`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from session_engine.engine.errors import ValidationFailed
from session_engine.engine.ids import check_id


@dataclass(frozen=True)
class RetentionPolicy:
    """One namespace's retention. Every rule is off unless set.

    - `max_idle_days`: a session whose last event is older than this goes, events and read-model
      rows; its stream keeps one `session_expired` event and the session stays deleted.
    - `max_closed_days`: the same for deleted sessions (their last event older than this); usually
      shorter than `max_idle_days`.
    - `keep_last`: at most this many events kept per session; the state before them is kept as a
      snapshot, so current state and time travel from there on stay exact.
    - `purge_expired`: expired values' rows leave the read model (`values_expired` recorded).
    """

    namespace: str
    max_idle_days: float | None = None
    max_closed_days: float | None = None
    keep_last: int | None = None
    purge_expired: bool = False

    def __post_init__(self) -> None:
        check_id("namespace", self.namespace)
        for name in ("max_idle_days", "max_closed_days"):
            days = getattr(self, name)
            if days is not None and (
                isinstance(days, bool) or not isinstance(days, int | float) or days <= 0
            ):
                raise ValidationFailed(f"{name} must be a positive number of days")
        keep = self.keep_last
        if keep is not None and (isinstance(keep, bool) or not isinstance(keep, int) or keep < 1):
            raise ValidationFailed("keep_last must be a whole number of at least 1")


@dataclass
class RetentionReport:
    """What one run removed in one namespace (or, with `dry_run`, would remove)."""

    namespace: str
    dry_run: bool = False
    dropped: list[str] = field(default_factory=list)
    """Sessions whose events and rows went (idle or closed too long)."""
    truncated: dict[str, int] = field(default_factory=dict)
    """Session -> the last version removed from it (`keep_last`)."""
    events_removed: int = 0
    values_purged: int = 0
    ranges: list[tuple[int, int]] = field(default_factory=list)
    """The log positions removed, as maximal runs (first, last)."""
    recorded_at: int | None = None
    """The position of the `retention_run` event that records the run (None: nothing removed)."""

    def as_json(self) -> dict[str, Any]:
        return {
            "namespace": self.namespace,
            "dry_run": self.dry_run,
            "dropped": self.dropped,
            "truncated": self.truncated,
            "events_removed": self.events_removed,
            "values_purged": self.values_purged,
            "ranges": [list(r) for r in self.ranges],
            "recorded_at": self.recorded_at,
        }
