"""The console's routes: the page, its assets and the live follow (mounted by `adapters.app`)."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from session_engine.adapters.config import ServerConfig
from session_engine.adapters.console.live import LiveFollow

STATIC = Path(__file__).parent / "static"
SECURITY_HEADERS = {
    # Everything the page needs is served here: a CDN request is refused by the browser too.
    # Images: user parts' bytes arrive as data: URLs; an image part's remote URL is shown, never fetched.
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; connect-src 'self'; style-src 'self'; "
        "script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}


async def page(request: Request) -> Response:
    """The console's one page; the sign-in and every view are drawn by `static/console.js`."""
    return FileResponse(STATIC / "index.html", headers=SECURITY_HEADERS)


def console_routes(config: ServerConfig) -> list[BaseRoute]:
    return [
        Route("/console", page, methods=["GET"]),
        Mount("/console/static", StaticFiles(directory=STATIC), name="console-static"),
        WebSocketRoute("/console/live", LiveFollow(config).serve),
    ]
