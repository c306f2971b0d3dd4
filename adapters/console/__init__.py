"""The audit console: a read-only web page at `/console` over the REST history routes.

The page and its assets are static files of this package (no CDN, no build step): the browser
signs in with a tenant's API key and reads the REST routes with it, so the console sees exactly
what REST shows that tenant. The one route of its own is `live.py`, the follow of one session's
events (no existing subscription streams every event of any session of the tenant).
See specs/console.md.
"""

from __future__ import annotations

from session_engine.adapters.console.routes import console_routes

__all__ = ["console_routes"]
