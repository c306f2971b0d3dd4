"""Alembic environment and versions of the session-engine schema."""
