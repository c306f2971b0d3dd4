"""The graphs' command: one batch of mutations, applied all or none."""

from __future__ import annotations

from dataclasses import dataclass

from session_engine.engine.commands import Command
from session_engine.engine.objects.graphs.operations import Operation


@dataclass(frozen=True, kw_only=True)
class ApplyGraphMutations(Command):
    """Build `operations` with `operations.parse_operations` (it validates and names new elements)."""

    alias: str
    operations: list[Operation]
    user_id: str | None = None
