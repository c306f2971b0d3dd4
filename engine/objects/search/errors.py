"""The search read model's typed errors; each has a stable `code`."""

from __future__ import annotations

from session_engine.engine.errors import ValidationFailed


class InvalidSearchQuery(ValidationFailed):
    code = "invalid_search_query"
