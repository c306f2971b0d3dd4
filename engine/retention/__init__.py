"""Retention: policies that bound what the log and the read models keep, applied as recorded acts
(specs/lifecycle.md, "Retention")."""

from session_engine.engine.retention.policy import RetentionPolicy, RetentionReport

__all__ = ["RetentionPolicy", "RetentionReport"]
