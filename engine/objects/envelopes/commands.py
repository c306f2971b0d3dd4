"""The envelopes' commands. The service builds them from parsed values (`engine.objects.models`),
outside the writer thread, so a handler receives models and only checks the session's state."""

from __future__ import annotations

from dataclasses import dataclass

from session_engine.engine.commands import Command
from session_engine.engine.objects.models import GraphValue, Message, MessagesValue, MessageValue, ThreadValue


@dataclass(frozen=True, kw_only=True)
class UploadObject(Command):
    """Create or replace the envelope under `alias`."""

    alias: str
    value: MessageValue | MessagesValue | ThreadValue | GraphValue


@dataclass(frozen=True, kw_only=True)
class DeleteObject(Command):
    """Delete the envelope and, with it, its messages, thread items or graph elements."""

    alias: str


@dataclass(frozen=True, kw_only=True)
class AppendMessages(Command):
    """Append to a `messages` object without uploading it again."""

    alias: str
    messages: list[Message]
