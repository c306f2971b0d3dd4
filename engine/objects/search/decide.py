"""The search read model decides nothing (it has no commands); the empty table says so."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from session_engine.engine.commands import Command, Decision

if TYPE_CHECKING:
    from session_engine.engine.unit_of_work import UnitOfWork

HANDLERS: dict[type[Command], Callable[[Any, UnitOfWork], Decision[Any]]] = {}
"""No command: search only reads what the other subdomains record."""
