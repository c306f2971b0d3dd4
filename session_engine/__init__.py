"""session-engine: an event-sourced session object engine.

The one import name the distribution installs. In the repository its parts are the top-level
folders `engine/` (the library), `adapters/` (the server, its protocols and the command line) and
`migrations/` (Alembic), linked here; in the wheel they are inside this package. The library's
public API is re-exported: `from session_engine import Engine`.
"""

from session_engine.engine import *  # noqa: F403 - the library's public API, as `engine.__all__` lists it
from session_engine.engine import __all__ as __all__
