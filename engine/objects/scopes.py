"""Scopes: named spaces of objects inside a namespace, so one session id can hold disjoint objects.

A session's objects in a scope are their own log stream, `<scope>` + U+001F + `<session id>`, so
everything keyed by (namespace, stream) - the read models, history, `state_as_of`, subscriptions
to a stream - stays inside (namespace, scope, session) with no column of its own. The namespace's
own objects (no scope, or the scope named like the namespace) keep the session's own stream:
objects written before scopes existed live there, and their documents have always named the
namespace as their owner. U+001F cannot appear in a scope or a session id (control characters are
refused), so no scoped stream is ever the plain stream of another session's objects.
"""

from __future__ import annotations

from session_engine.engine.objects.errors import InvalidSessionObject
from session_engine.engine.objects.limits import MAX_ID
from session_engine.engine.objects.models import check_identifier

SEPARATOR = "\x1f"
"""Between the scope and the session id in a scoped stream (ASCII unit separator)."""
MAX_STREAM = MAX_ID
"""A scoped stream is one log stream id: scope, separator and session id fit in 200 characters."""


def stream_for(namespace: str, scope: str | None, session_id: str) -> str:
    """The log stream holding a session's objects in `scope` (checked: ids must be valid first)."""
    if scope is None or scope == namespace:
        return session_id
    check_identifier("scope", scope)
    stream = f"{scope}{SEPARATOR}{session_id}"
    if len(stream) > MAX_STREAM:
        raise InvalidSessionObject(
            f"a scoped session id is too long: the scope and the session id together take at most"
            f" {MAX_STREAM - 1} characters"
        )
    return stream


def owner_of(namespace: str, stream: str) -> tuple[str, str]:
    """(scope, session id) of an objects stream, the inverse of `stream_for`; the namespace's own
    objects name the namespace as their scope."""
    scope, separator, session_id = stream.partition(SEPARATOR)
    return (scope, session_id) if separator else (namespace, stream)
