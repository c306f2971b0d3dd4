"""The values domain's commands. Each checks its inputs when it is built, in the caller's task, so
bad input is refused before it joins the write queue and nothing is written. Each is built once
per call of the values service (`quick_init`: without `object.__setattr__` per field).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from session_engine.engine.commands import Command
from session_engine.engine.errors import ValidationFailed
from session_engine.engine.ids import check_id
from session_engine.engine.quick_init import quick_init
from session_engine.engine.values import validation
from session_engine.engine.values.policy import Policies

MAX_REASON = 1000
"""Characters of the reason a connection-bound session ended for."""


class ValueIds:
    """Mixed into every values command: its namespace and session id are identifiers."""

    namespace: str
    stream: str

    def __post_init__(self) -> None:
        check_id("namespace", self.namespace)
        check_id("session id", self.stream)


@quick_init
@dataclass(frozen=True, kw_only=True)
class SetValue(ValueIds, Command):
    """Write a value under the session's policy (`policies`: the service's, when it was built)."""

    key: str
    value: Any
    ttl_seconds: float | None = None
    expires_at: datetime | None = None
    policies: Policies = field(default_factory=Policies)
    size: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        super().__post_init__()
        validation.check_key(self.key)
        validation.check_expiry_inputs(self.ttl_seconds, self.expires_at)
        # Measured here, off the writer thread: serialising a large value is the costly part.
        object.__setattr__(self, "size", validation.measure(self.value))


@quick_init
@dataclass(frozen=True, kw_only=True)
class DeleteValue(ValueIds, Command):
    key: str

    def __post_init__(self) -> None:
        super().__post_init__()
        validation.check_key(self.key)


@quick_init
@dataclass(frozen=True, kw_only=True)
class ClearValues(ValueIds, Command):
    """Remove every value of the session, expired leftovers included."""


@quick_init
@dataclass(frozen=True, kw_only=True)
class ClearParts(ValueIds, Command):
    """Remove every user part of the session, in one event."""


@quick_init
@dataclass(frozen=True, kw_only=True)
class PurgeExpired(ValueIds, Command):
    """Remove the rows of the session's expired values (invisible already)."""


@quick_init
@dataclass(frozen=True, kw_only=True)
class OpenConnectionSession(ValueIds, Command):
    client_id: str

    def __post_init__(self) -> None:
        super().__post_init__()
        check_id("client id", self.client_id)


@quick_init
@dataclass(frozen=True, kw_only=True)
class Disconnect(ValueIds, Command):
    """The connection dropped; the values stay for a resume."""


@quick_init
@dataclass(frozen=True, kw_only=True)
class Resume(ValueIds, Command):
    pass


@quick_init
@dataclass(frozen=True, kw_only=True)
class EndConnectionSession(ValueIds, Command):
    reason: str

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.reason, str) or len(self.reason) > MAX_REASON or "\x00" in self.reason:
            raise ValidationFailed(f"the reason must be a string of at most {MAX_REASON} characters")
