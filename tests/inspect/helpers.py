"""What the time-travel tests share."""

from __future__ import annotations

from session_engine.engine.inspect.state import SessionState


def spoil(state: SessionState) -> None:
    """What a caller may do to its answer: the state is frozen, its mappings and lists are not."""
    state.values.clear()
    state.user_parts.clear()
    if state.record is not None:
        state.record.clear()
    for part in state.objects.values():
        part.envelope.value.clear()
        part.messages.clear()
        part.items.clear()
        part.vertices.clear()
        part.edges.clear()
    state.objects.clear()
